//! The JWKS document (RFC 7517) the issuer publishes and the verifier reads.

use serde::{Deserialize, Serialize};

/// One public key. Only RSA signing keys are modelled: anything else in a fetched set is
/// skipped, never interpreted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type; must be `RSA`.
    pub kty: String,
    /// Intended use; `sig` when present.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// The algorithm the key is pinned to; `RS256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Key id: the RFC 7638 thumbprint.
    #[serde(default)]
    pub kid: String,
    /// Modulus, base64url.
    #[serde(default)]
    pub n: String,
    /// Public exponent, base64url.
    #[serde(default)]
    pub e: String,
}

impl Jwk {
    /// A published RS256 signing key.
    pub fn rsa_signing_key(kid: String, n: String, e: String) -> Self {
        Self {
            kty: "RSA".into(),
            use_: Some("sig".into()),
            alg: Some(crate::ALGORITHM.into()),
            kid,
            n,
            e,
        }
    }

    /// Whether the key may verify RS256 signatures: RSA, for signing, pinned to RS256 (or with
    /// no algorithm stated, as RFC 7517 allows), with a `kid` to find it by.
    pub fn is_rs256_signing_key(&self) -> bool {
        self.kty == "RSA"
            && self.use_.as_deref().is_none_or(|u| u == "sig")
            && self.alg.as_deref().is_none_or(|a| a == crate::ALGORITHM)
            && !self.kid.is_empty()
            && !self.n.is_empty()
            && !self.e.is_empty()
    }
}

/// A key set document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}
