//! DPoP for the suites: a client key pair making proofs with `jsonwebtoken` (an independent JOSE
//! implementation, not Portcullis's), and access tokens bound to it, signed with the stack's
//! issuer key until the issuer issues bound tokens itself.

use crate::jws::{b64, now, sign_rs256};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A client's DPoP key: ES256 on P-256, freshly generated.
pub struct DpopClient {
    encoding: EncodingKey,
    jwk: Value,
    /// The RFC 7638 thumbprint, computed here from the canonical JSON.
    pub jkt: String,
}

impl Default for DpopClient {
    fn default() -> Self {
        Self::new()
    }
}

impl DpopClient {
    /// A new key pair.
    pub fn new() -> Self {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .expect("generate a P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .expect("read the key");
        let point = pair.public_key().as_ref();
        let (x, y) = (b64(&point[1..33]), b64(&point[33..]));
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        Self {
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk: json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}),
            jkt: b64(&Sha256::digest(canonical)),
        }
    }

    /// The claims of a fresh proof for `method` on `url`, bound to `token`.
    pub fn claims(&self, method: &str, url: &str, token: &str) -> Value {
        json!({
            "jti": crate::jws::b64(&rand_bytes()),
            "htm": method,
            "htu": url,
            "iat": now(),
            "ath": b64(&Sha256::digest(token)),
        })
    }

    /// A fresh proof for a token request to `url` (no access token yet), with the server's
    /// `nonce` if it asked for one.
    pub fn token_request_proof(&self, url: &str, nonce: Option<&str>) -> String {
        let mut claims = json!({
            "jti": b64(&rand_bytes()), "htm": "POST", "htu": url, "iat": now(),
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        self.sign(&claims)
    }

    /// A proof with these claims, signed by `jsonwebtoken`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(serde_json::from_value(self.jwk.clone()).expect("a JWK"));
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign the proof")
    }

    /// A fresh proof for `method` on `url`, bound to `token`.
    pub fn proof(&self, method: &str, url: &str, token: &str) -> String {
        self.sign(&self.claims(method, url, token))
    }
}

fn rand_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("random bytes");
    bytes
}

/// An access token for `subject` on `issuer`, bound to `jkt` (`None`: a plain bearer token),
/// signed with the issuer's PEM key.
pub fn bound_token(issuer: &str, pem: &str, subject: &str, jkt: Option<&str>) -> String {
    let key = portcullis_jwt::SigningKey::from_pem(pem).expect("the issuer's key");
    let mut claims = json!({
        "iss": issuer, "sub": subject, "aud": ["data-api"], "exp": now() + 300,
        "iat": now(), "jti": b64(&rand_bytes()), "client_id": crate::CLI_CLIENT,
        "scope": "items:read items:write",
    });
    if let Some(jkt) = jkt {
        claims["cnf"] = json!({ "jkt": jkt });
    }
    sign_rs256(
        pem,
        &json!({"alg": "RS256", "typ": "at+jwt", "kid": key.kid()}),
        &claims,
    )
}
