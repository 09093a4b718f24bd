//! Access tokens: the claims Portcullis issues (RFC 9068) and the ports that sign and verify them.

use crate::cause::Cause;
use crate::identity::{ClientId, Subject};
use crate::scope::ScopeSet;
use async_trait::async_trait;
use std::sync::Arc;

/// The claims of an RFC 9068 access token, as the issuer decides them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessClaims {
    /// The issuer identifier, exactly as configured (no trailing slash).
    pub issuer: String,
    /// Who the token speaks for.
    pub subject: Subject,
    /// The resource servers that must accept it.
    pub audience: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub expires_at: u64,
    /// Issue time, seconds since the epoch.
    pub issued_at: u64,
    /// A unique id, for audit and replay tracking.
    pub token_id: String,
    /// The client the token was issued to.
    pub client_id: ClientId,
    /// What the token allows.
    pub scope: ScopeSet,
    /// The login session (refresh-token family) the token was issued under, as `sid`, so
    /// introspection can answer for the session and not only for the signature; `None` for
    /// tokens a client gets for itself.
    pub session_id: Option<String>,
    /// `cnf.jkt`: the thumbprint of the DPoP key the token is bound to (RFC 9449 §6.1), so
    /// only a request proving possession of that key may use it.
    pub confirmation: Option<String>,
}

/// Why a token could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// No key is active for signing.
    #[error("no active signing key")]
    NoActiveKey,
    /// The signing operation failed.
    #[error("signing failed")]
    Failed(#[source] Cause),
}

/// Signs access tokens with the issuer's active key. Synchronous: signing is CPU work on a key
/// already held in memory.
pub trait AccessTokenSigner: Send + Sync {
    /// The compact JWS of the claims.
    fn sign(&self, claims: &AccessClaims) -> Result<String, SignError>;
}

/// What a resource server knows about a caller after verifying its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedToken {
    /// Who the token speaks for: items and limits are keyed on it.
    pub subject: Subject,
    /// The client the token was issued to.
    pub client_id: ClientId,
    /// What the token allows.
    pub scope: ScopeSet,
    /// Expiry, seconds since the epoch.
    pub expires_at: u64,
    /// The token's `jti`.
    pub token_id: String,
    /// The token's `aud`: introspection answers only the resource servers named there.
    pub audience: Vec<String>,
    /// The token's `sid`, if it was issued under a login session.
    pub session_id: Option<String>,
    /// The token's `cnf.jkt`, if it is DPoP-bound: the resource server then demands a proof by
    /// that key and refuses the token as a bearer token (RFC 9449 §7.1).
    pub confirmation: Option<String>,
}

/// Why a token was refused. The variants are for logs and metrics (`reason()`); callers only
/// ever learn that the token is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    /// No bearer token was presented.
    #[error("no token")]
    Missing,
    /// Larger than the configured cap; refused before any decoding.
    #[error("token too large")]
    TooLarge,
    /// Not a well-formed compact JWS.
    #[error("malformed token")]
    Malformed,
    /// Signed with an algorithm other than the key's pinned one.
    #[error("algorithm not allowed")]
    AlgorithmNotAllowed,
    /// The header names critical extensions (`crit`, RFC 7515 §4.1.11), none of which the
    /// verifier understands, so it must not accept the token.
    #[error("critical header extension")]
    CriticalHeader,
    /// The `typ` header is not `at+jwt`.
    #[error("wrong token type")]
    WrongType,
    /// No key in the issuer's key set has the token's `kid`.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// Past `exp`.
    #[error("expired")]
    Expired,
    /// Before `nbf`, or `iat` in the future.
    #[error("not yet valid")]
    NotYetValid,
    /// `iss` is not the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    #[error("wrong audience")]
    WrongAudience,
    /// A required claim is absent or malformed.
    #[error("missing or invalid claim")]
    InvalidClaims,
    /// No key set has been loaded from the issuer yet.
    #[error("issuer keys unavailable")]
    KeysUnavailable,
}

impl TokenRejection {
    /// Every rejection, so its counter can be exported at 0 before the first one happens.
    pub const ALL: [Self; 14] = [
        Self::Missing,
        Self::TooLarge,
        Self::Malformed,
        Self::AlgorithmNotAllowed,
        Self::WrongType,
        Self::CriticalHeader,
        Self::UnknownKey,
        Self::BadSignature,
        Self::Expired,
        Self::NotYetValid,
        Self::WrongIssuer,
        Self::WrongAudience,
        Self::InvalidClaims,
        Self::KeysUnavailable,
    ];

    /// A stable label for `portcullis_auth_failures_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::AlgorithmNotAllowed => "algorithm",
            Self::CriticalHeader => "crit",
            Self::WrongType => "type",
            Self::UnknownKey => "unknown_kid",
            Self::BadSignature => "signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongIssuer => "issuer",
            Self::WrongAudience => "audience",
            Self::InvalidClaims => "claims",
            Self::KeysUnavailable => "keys_unavailable",
        }
    }
}

/// Verifies bearer tokens on a resource server.
#[async_trait]
pub trait TokenVerifier: Send + Sync {
    /// The verified claims, or why the token must be refused. Shared (`Arc`) because a verifier
    /// may hand the same verification to every request that presents the token.
    async fn verify(&self, token: &str) -> Result<Arc<VerifiedToken>, TokenRejection>;

    /// Whether the verifier can currently verify anything (a key set is loaded); for `/readyz`.
    fn is_ready(&self) -> bool;

    /// How long ago the key set in use was fetched, for the `portcullis_jwks_age_seconds`
    /// gauge: a growing age means the issuer has been unreachable. `None` for verifiers that
    /// fetch nothing.
    fn key_set_age(&self) -> Option<std::time::Duration> {
        None
    }
}
