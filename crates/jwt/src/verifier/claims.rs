//! The claims the verifier reads from an access token's payload; everything else is ignored.

use serde::Deserialize;

/// The payload fields a [`super::JwksVerifier`] needs; `jsonwebtoken` validates `iss`, `aud`,
/// `exp` and `nbf` itself.
#[derive(Deserialize)]
pub(super) struct Claims {
    pub(super) sub: String,
    pub(super) client_id: String,
    pub(super) jti: String,
    pub(super) exp: u64,
    pub(super) iat: u64,
    #[serde(default)]
    pub(super) scope: String,
    /// One audience or several (RFC 7519 §4.1.3); `Validation` has already checked it.
    #[serde(default)]
    pub(super) aud: Audience,
    #[serde(default)]
    pub(super) sid: Option<String>,
    /// The confirmation (RFC 7800) of a DPoP-bound token; a `cnf` without `jkt` is malformed.
    #[serde(default)]
    pub(super) cnf: Option<Confirmation>,
}

/// `cnf` as RFC 9449 §6.1 defines it for DPoP: the key's thumbprint.
#[derive(Deserialize)]
pub(super) struct Confirmation {
    pub(super) jkt: String,
}

/// `aud` as RFC 7519 allows it: a string or an array of strings.
#[derive(Deserialize, Default)]
#[serde(untagged)]
pub(super) enum Audience {
    One(String),
    Many(Vec<String>),
    #[default]
    None,
}

impl From<Audience> for Vec<String> {
    fn from(audience: Audience) -> Self {
        match audience {
            Audience::One(one) => vec![one],
            Audience::Many(many) => many,
            Audience::None => Vec::new(),
        }
    }
}
