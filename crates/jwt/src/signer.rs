//! Signing access tokens with the key ring's active key, and id_tokens with the key of the
//! client's registered algorithm.
//!
//! The JWS is assembled here and signed with aws-lc directly rather than through
//! `jsonwebtoken::encode`, because that function re-parses the DER private key on every call
//! (about half of the signing cost); the key ring keeps each key parsed. Verification in tests
//! goes through `jsonwebtoken`, so both implementations must agree.

use crate::keyring::KeyRing;
use crate::keys::SigningKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use portcullis_domain::cause::Cause;
use portcullis_domain::login::claims::{IdClaims, IdTokenSigner};
use portcullis_domain::signing::SigningAlgorithm;
use portcullis_domain::token::{AccessClaims, AccessTokenSigner, SignError};
use serde::Serialize;
use std::sync::Arc;

/// A client's id_token algorithm has no published key: the operator removed the last key of it.
#[derive(Debug, thiserror::Error)]
#[error("no published key signs {0}, the algorithm a client registered for its id_tokens")]
struct NoKeyFor(SigningAlgorithm);

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a [String],
    exp: u64,
    iat: u64,
    jti: &'a str,
    client_id: &'a str,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation<'a>>,
}

/// RFC 7800 `cnf`, with the RFC 9449 §6.1 `jkt` member.
#[derive(Serialize)]
struct Confirmation<'a> {
    jkt: &'a str,
}

#[derive(Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: u64,
    iat: u64,
    auth_time: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    at_hash: String,
}

/// The [`AccessTokenSigner`] adapter: `typ: at+jwt`, `alg` and `kid` of the active key.
#[derive(Debug, Clone)]
pub struct JwtSigner {
    ring: Arc<KeyRing>,
}

impl JwtSigner {
    /// Signs with whatever key the ring has active at the time of each call.
    pub fn new(ring: Arc<KeyRing>) -> Self {
        Self { ring }
    }
}

impl JwtSigner {
    /// The compact JWS of `body` with header `typ`, signed by `key`.
    fn sign_jws(
        key: &SigningKey,
        typ: &'static str,
        body: &impl Serialize,
    ) -> Result<String, SignError> {
        let header = Header {
            alg: key.algorithm().name(),
            typ,
            kid: key.kid(),
        };
        let mut token = base64_json(&header)?;
        token.push('.');
        token.push_str(&base64_json(body)?);
        let signature = key
            .sign(token.as_bytes())
            .map_err(|e| SignError::Failed(Cause::new(e)))?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(token)
    }
}

impl IdTokenSigner for JwtSigner {
    fn sign_id_token(&self, claims: &IdClaims, access_token: &str) -> Result<String, SignError> {
        let keys = self.ring.current();
        // OIDC Dynamic Client Registration §2: RS256 unless the client registered another;
        // a ring without RS256 keys signs with the active key's algorithm instead.
        let alg =
            claims
                .algorithm
                .unwrap_or_else(|| match keys.signing_key(SigningAlgorithm::Rs256) {
                    Some(_) => SigningAlgorithm::Rs256,
                    None => keys.active().algorithm(),
                });
        let key = keys
            .signing_key(alg)
            .ok_or_else(|| SignError::Failed(Cause::new(NoKeyFor(alg))))?;
        let body = IdTokenClaims {
            iss: &claims.issuer,
            sub: &claims.subject,
            aud: &claims.audience,
            exp: claims.expires_at,
            iat: claims.issued_at,
            auth_time: claims.auth_time,
            nonce: claims.nonce.as_deref(),
            sid: claims.session_id.as_deref(),
            // OIDC Core §3.1.3.6: the left half of the hash of the signing algorithm.
            at_hash: URL_SAFE_NO_PAD.encode(alg.left_half_hash(access_token.as_bytes())),
        };
        Self::sign_jws(key, crate::ID_TOKEN_TYPE, &body)
    }
}

impl AccessTokenSigner for JwtSigner {
    fn sign(&self, claims: &AccessClaims) -> Result<String, SignError> {
        let body = Claims {
            iss: &claims.issuer,
            sub: claims.subject.as_str(),
            aud: &claims.audience,
            exp: claims.expires_at,
            iat: claims.issued_at,
            jti: &claims.token_id,
            client_id: claims.client_id.as_str(),
            scope: claims.scope.to_string(),
            sid: claims.session_id.as_deref(),
            cnf: claims
                .confirmation
                .as_deref()
                .map(|jkt| Confirmation { jkt }),
        };
        Self::sign_jws(
            self.ring.current().active(),
            crate::ACCESS_TOKEN_TYPE,
            &body,
        )
    }
}

fn base64_json(value: &impl Serialize) -> Result<String, SignError> {
    let json = serde_json::to_vec(value).map_err(|e| SignError::Failed(Cause::new(e)))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate_pem;

    fn header_alg(token: &str) -> String {
        let header = token.split('.').next().unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        header["alg"].as_str().unwrap().to_owned()
    }

    fn claims(algorithm: Option<SigningAlgorithm>) -> IdClaims {
        IdClaims {
            issuer: "https://issuer.example".into(),
            subject: "alice".into(),
            audience: "web".into(),
            expires_at: 2,
            issued_at: 1,
            auth_time: 1,
            nonce: None,
            session_id: None,
            algorithm,
        }
    }

    #[test]
    fn id_tokens_follow_the_clients_algorithm_and_access_tokens_the_active_key() {
        let dir = tempfile::tempdir().unwrap();
        let rsa = generate_pem(SigningAlgorithm::Rs256).unwrap();
        let ec = generate_pem(SigningAlgorithm::Es256).unwrap();
        std::fs::write(dir.path().join("a.pem"), rsa).unwrap();
        std::fs::write(dir.path().join("b.pem"), ec).unwrap();
        std::fs::write(dir.path().join(crate::keyring::ACTIVE_FILE), "b.pem").unwrap();
        let signer = JwtSigner::new(Arc::new(KeyRing::load(dir.path()).unwrap()));

        let by_default = signer.sign_id_token(&claims(None), "at").unwrap();
        assert_eq!(
            header_alg(&by_default),
            "RS256",
            "RS256 while one is published, though the active key is ES256"
        );
        let registered = signer
            .sign_id_token(&claims(Some(SigningAlgorithm::Es256)), "at")
            .unwrap();
        assert_eq!(header_alg(&registered), "ES256");
        assert!(
            signer
                .sign_id_token(&claims(Some(SigningAlgorithm::EdDsa)), "at")
                .is_err(),
            "no Ed25519 key is published: refused, never signed with another algorithm"
        );
    }
}
