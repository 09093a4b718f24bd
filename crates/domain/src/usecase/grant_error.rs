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
    /// The requested scope exceeds what is allowed (`invalid_scope`).
    #[error("requested scope is not allowed")]
    InvalidScope,
    /// A parameter is missing or malformed (`invalid_request`).
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// A dependency failed or is saturated (`temporarily_unavailable`, 503).
    #[error("temporarily unavailable")]
    Unavailable(#[source] Cause),
}

pub(super) fn rotate_error(error: RotateError) -> GrantError {
    match error {
        RotateError::Invalid => GrantError::InvalidGrant,
        RotateError::Reused { subject, .. } => GrantError::RefreshReused { subject },
        RotateError::Unavailable(reason) => GrantError::Unavailable(reason),
    }
}

/// A dependency's failure, its cause kept for the logs.
pub(super) fn unavailable(error: impl std::error::Error + Send + Sync + 'static) -> GrantError {
    GrantError::Unavailable(Cause::new(error))
}
