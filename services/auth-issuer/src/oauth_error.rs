//! RFC 6749 §5.2 error responses: the only error shape the OAuth endpoints use.

use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{header, HeaderValue, StatusCode};
use serde::Serialize;

/// An OAuth error answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OAuthError {
    #[serde(skip)]
    status: StatusCode,
    error: &'static str,
    error_description: &'static str,
    #[serde(skip)]
    retry_after: Option<u64>,
    #[serde(skip)]
    basic_challenge: bool,
    /// A fresh server nonce for the client's next DPoP proof (RFC 9449 §8).
    #[serde(skip)]
    dpop_nonce: Option<HeaderValue>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: &'static str) -> Self {
        Self {
            status,
            error,
            error_description: description,
            retry_after: None,
            basic_challenge: false,
            dpop_nonce: None,
        }
    }

    /// `invalid_request` (400): missing, repeated or malformed parameters.
    pub fn invalid_request(description: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// `invalid_client` (401): client authentication failed.
    pub fn invalid_client(used_basic: bool) -> Self {
        Self {
            basic_challenge: used_basic,
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            )
        }
    }

    /// `invalid_grant` (400): bad credentials or a dead refresh token. Deliberately vague.
    pub fn invalid_grant() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the credentials or refresh token are invalid",
        )
    }

    /// `unauthorized_client` (400).
    pub fn unauthorized_client() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "this client may not use this grant type",
        )
    }

    /// `unsupported_grant_type` (400).
    pub fn unsupported_grant_type() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code, refresh_token, client_credentials, password or urn:ietf:params:oauth:grant-type:device_code",
        )
    }

    /// The RFC 8628 §3.5 answers to a device's poll (400): `authorization_pending`,
    /// `slow_down`, `access_denied`, `expired_token`.
    pub fn device(error: &'static str, description: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, description)
    }

    /// `invalid_dpop_proof` (400, RFC 9449 §5): the DPoP proof is missing where it is required,
    /// malformed, replayed, or shows another key than the grant is bound to.
    pub fn invalid_dpop_proof(description: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_dpop_proof", description)
    }

    /// `use_dpop_nonce` (400, RFC 9449 §8): retry with this server nonce in the proof.
    pub fn use_dpop_nonce(nonce: HeaderValue) -> Self {
        Self {
            dpop_nonce: Some(nonce),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "use_dpop_nonce",
                "the DPoP proof must carry the server nonce in the DPoP-Nonce header",
            )
        }
    }

    /// `invalid_scope` (400).
    pub fn invalid_scope() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "the requested scope is invalid or exceeds what is allowed",
        )
    }

    /// 429 with `Retry-After`: too many attempts.
    pub fn too_many_attempts(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                "too many attempts; retry later",
            )
        }
    }

    /// 503 `temporarily_unavailable`: a dependency failed or is saturated.
    pub fn unavailable() -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the service is temporarily unavailable; retry later",
            )
        }
    }

    /// 413 `invalid_request`: the body is larger than any valid request.
    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "the request body is too large",
        )
    }

    /// The error code, for logs and tests.
    pub fn code(&self) -> &'static str {
        self.error
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(&self)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(nonce) = self.dpop_nonce {
            headers.insert("dpop-nonce", nonce);
        }
        if self.basic_challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="portcullis""#),
            );
        }
        response
    }
}
