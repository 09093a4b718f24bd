//! Why a grant failed, in RFC 6749 §5.2 terms, and the conversions from the ports' errors.

use crate::cause::Cause;
use crate::identity::Subject;
use crate::refresh::RotateError;

/// Why a grant failed; maps one-to-one onto RFC 6749 §5.2 error codes.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// Client unknown or its authentication failed (`invalid_client`, 401).
    #[error("client authentication failed")]
    InvalidClient,
    /// The client may not use this grant (`unauthorized_client`).
    #[error("client is not allowed to use this grant")]
    UnauthorizedClient,
    /// Wrong password, unknown user, or a dead refresh token (`invalid_grant`).
    #[error("the grant is invalid")]
    InvalidGrant,
    /// A refresh token was reused; its family is revoked (`invalid_grant`, audited).
    #[error("refresh token reused")]
    RefreshReused {
        /// The revoked family's subject.
        subject: Subject,
    },
    /// An authorization code came back after it was redeemed: everything issued from it is
    /// revoked (`invalid_grant`, audited).
    #[error("authorization code replayed")]
    CodeReplayed {
        /// Whose code it was.
        subject: Subject,
    },
    /// The user has not yet approved the device (`authorization_pending`, RFC 8628 §3.5).
    #[error("authorization pending")]
    AuthorizationPending,
    /// The device polls faster than its interval, which grows by 5 s (`slow_down`).
    #[error("polling too fast")]
    SlowDown,
    /// The user denied the device (`access_denied`).
    #[error("access denied")]
    AccessDenied,
    /// The device code expired before approval (`expired_token`).
    #[error("device code expired")]
    ExpiredToken,
    /// The requested scope exceeds what is allowed (`invalid_scope`).
    #[error("requested scope is not allowed")]
    InvalidScope,
    /// The request's DPoP proof is missing where the client or the refresh token requires
    /// one, or shows another key (`invalid_dpop_proof`, RFC 9449 §5).
    #[error("invalid DPoP proof: {0}")]
    InvalidDpopProof(&'static str),
    /// A parameter is missing or malformed (`invalid_request`).
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// A dependency failed or is saturated (`temporarily_unavailable`, 503).
    #[error("temporarily unavailable")]
    Unavailable(#[source] Cause),
}

pub(crate) fn rotate_error(error: RotateError) -> GrantError {
    match error {
        RotateError::Invalid => GrantError::InvalidGrant,
        RotateError::Reused { subject, .. } => GrantError::RefreshReused { subject },
        RotateError::Unavailable(reason) => GrantError::Unavailable(reason),
    }
}

impl From<crate::ephemeral::EphemeralError> for GrantError {
    fn from(error: crate::ephemeral::EphemeralError) -> Self {
        unavailable(error)
    }
}

/// A dependency's failure, its cause kept for the logs.
pub(crate) fn unavailable(error: impl std::error::Error + Send + Sync + 'static) -> GrantError {
    GrantError::Unavailable(Cause::new(error))
}
