//! OpenID Connect claims: what goes into an id_token (Core §2) and what UserInfo releases for
//! each scope (Core §5.4).

use crate::directory::UserRecord;
use crate::scope::ScopeSet;
use crate::signing::SigningAlgorithm;
use crate::token::SignError;
use serde_json::{Map, Value};

/// The claims of an id_token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdClaims {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `aud`: the client the token is for.
    pub audience: String,
    /// `exp`.
    pub expires_at: u64,
    /// `iat`.
    pub issued_at: u64,
    /// `auth_time`: when the user last entered their password.
    pub auth_time: u64,
    /// `nonce`, exactly as the client sent it.
    pub nonce: Option<String>,
    /// `sid`: the browser session, for logout.
    pub session_id: Option<String>,
    /// The client's registered signing algorithm; `None`: the active key's.
    pub algorithm: Option<SigningAlgorithm>,
}

/// Signs id_tokens. The signer computes `at_hash` itself because its hash depends on the
/// signing algorithm (OIDC Core §3.1.3.6).
pub trait IdTokenSigner: Send + Sync {
    /// The compact JWS of `claims`, with `at_hash` of `access_token`.
    fn sign_id_token(&self, claims: &IdClaims, access_token: &str) -> Result<String, SignError>;
}

/// The claims the scopes `granted` release about `user` (beyond `sub`).
pub fn released_claims<'a>(
    user: &UserRecord,
    granted: impl IntoIterator<Item = &'a str>,
) -> Map<String, Value> {
    let mut claims = Map::new();
    for scope in granted {
        match scope {
            "profile" => {
                claims.insert("preferred_username".into(), user.username.as_str().into());
                if let Some(name) = &user.name {
                    claims.insert("name".into(), name.as_str().into());
                }
            }
            "email" => {
                if let Some(email) = &user.email {
                    claims.insert("email".into(), email.as_str().into());
                    // Addresses come from the operator's directory, not from the user.
                    claims.insert("email_verified".into(), true.into());
                }
            }
            _ => {}
        }
    }
    claims
}

/// The scopes OpenID Connect defines, allowed to any client that lists them whatever the
/// user's API scopes: they name facts about the user, not permissions.
pub const IDENTITY_SCOPES: [&str; 3] = ["openid", "profile", "email"];

/// Every claim UserInfo and id_tokens can carry, for discovery.
pub const SUPPORTED_CLAIMS: [&str; 12] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "sid",
    "name",
    "preferred_username",
    "email",
    "email_verified",
];

/// Of `requested`, what a user with `user_scopes` may have: their API scopes plus the OpenID
/// Connect identity scopes, which name facts about them rather than permissions.
pub fn user_scope(requested: &ScopeSet, user_scopes: &ScopeSet) -> ScopeSet {
    let identity = ScopeSet::from_strs(IDENTITY_SCOPES).unwrap_or_default();
    let allowed = ScopeSet::from_strs(
        user_scopes
            .iter()
            .chain(identity.iter())
            .map(|s| s.as_str()),
    )
    .unwrap_or_default();
    requested.intersection(&allowed)
}
