//! Signing access tokens with the key ring's active key.
//!
//! The JWS is assembled here and signed with aws-lc directly rather than through
//! `jsonwebtoken::encode`, because that function re-parses the DER private key on every call
//! (about half of the signing cost); the key ring keeps each key parsed. Verification in tests
//! goes through `jsonwebtoken`, so both implementations must agree.

use crate::keyring::KeyRing;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use portcullis_domain::cause::Cause;
use portcullis_domain::token::{AccessClaims, AccessTokenSigner, SignError};
use serde::Serialize;
use std::sync::Arc;

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
}

/// The [`AccessTokenSigner`] adapter: RS256, `typ: at+jwt`, `kid` of the active key.
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

impl AccessTokenSigner for JwtSigner {
    fn sign(&self, claims: &AccessClaims) -> Result<String, SignError> {
        let keys = self.ring.current();
        let key = keys.active();
        let header = Header {
            alg: crate::ALGORITHM,
            typ: crate::ACCESS_TOKEN_TYPE,
            kid: key.kid(),
        };
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
        };
        let mut token = base64_json(&header)?;
        token.push('.');
        token.push_str(&base64_json(&body)?);
        let signature = key
            .sign(token.as_bytes())
            .map_err(|e| SignError::Failed(Cause::new(e)))?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(token)
    }
}

fn base64_json(value: &impl Serialize) -> Result<String, SignError> {
    let json = serde_json::to_vec(value).map_err(|e| SignError::Failed(Cause::new(e)))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}
