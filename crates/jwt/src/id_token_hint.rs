//! `id_token_hint` at logout (OpenID Connect RP-Initiated Logout §2): an id_token this issuer
//! signed, possibly expired, naming the user and session the relying party wants ended.

use crate::keyring::KeyRing;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// What a valid hint says.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct IdTokenHint {
    /// The user.
    pub sub: String,
    /// The client it was issued to.
    pub aud: String,
    /// The browser session, if the token named one.
    #[serde(default)]
    pub sid: Option<String>,
}

/// The hint's claims if `token` is an id_token signed by one of `ring`'s keys for `issuer`.
/// Expiry is not checked: a hint is typically presented after its token expired (§2), and it
/// only ever ends a session, never grants anything.
pub fn read_id_token_hint(ring: &KeyRing, issuer: &str, token: &str) -> Option<IdTokenHint> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.alg != Algorithm::RS256 || header.typ.as_deref() != Some(crate::ID_TOKEN_TYPE) {
        return None;
    }
    let kid = header.kid?;
    let keys = ring.current();
    let jwk = keys
        .keys()
        .iter()
        .map(|k| k.jwk())
        .find(|jwk| jwk.kid == kid)?;
    let key = DecodingKey::from_rsa_components(&jwk.n, &jwk.e).ok()?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["iss", "sub", "aud"]);
    validation.set_issuer(&[issuer]);
    jsonwebtoken::decode::<IdTokenHint>(token, &key, &validation)
        .ok()
        .map(|data| data.claims)
}
