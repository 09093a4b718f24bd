//! Bearer-token authentication (RFC 6750) in front of protected routes.

use crate::metrics::Metrics;
use crate::problem::Problem;
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{header, HeaderValue, StatusCode};
use portcullis_domain::token::{TokenRejection, TokenVerifier, VerifiedToken};
use std::sync::Arc;
use tracing::Instrument;

/// What the authentication middleware needs.
#[derive(Clone)]
pub struct AuthState {
    /// Verifies tokens.
    pub verifier: Arc<dyn TokenVerifier>,
    /// Counts failures by reason.
    pub metrics: Arc<Metrics>,
}

/// Verifies the bearer token and puts the [`VerifiedToken`] into the request for handlers and the
/// rate-limit layer. Failures answer 401 with `WWW-Authenticate: Bearer error="invalid_token"`;
/// the exact reason goes to logs and `portcullis_auth_failures_total`, never to the caller.
pub async fn require_bearer(
    State(auth): State<AuthState>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = bearer_token(request.headers());
    let span = tracing::debug_span!("verify_token", outcome = tracing::field::Empty);
    let verified = match token {
        Some(token) => auth.verifier.verify(token).instrument(span.clone()).await,
        None => Err(TokenRejection::Missing),
    };
    match &verified {
        Ok(_) => span.record("outcome", "valid"),
        Err(rejection) => span.record("outcome", rejection.reason()),
    };
    match verified {
        Ok(token) => {
            request.extensions_mut().insert(token);
            next.run(request).await
        }
        Err(rejection) => {
            auth.metrics
                .auth_failures
                .with_label_values(&[rejection.reason()])
                .inc();
            tracing::info!(reason = rejection.reason(), "bearer token rejected");
            unauthorized(rejection).into_response()
        }
    }
}

fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn unauthorized(rejection: TokenRejection) -> Problem {
    if rejection == TokenRejection::KeysUnavailable {
        // Not the token's fault: telling the client to drop it would stampede the issuer.
        return Problem::unavailable();
    }
    // RFC 6750 §3.1: a request without credentials gets no error code.
    let challenge = if rejection == TokenRejection::Missing {
        "Bearer"
    } else {
        r#"Bearer error="invalid_token""#
    };
    let detail = match rejection {
        TokenRejection::Missing => "a bearer token is required",
        _ => "the access token is invalid",
    };
    Problem::new(StatusCode::UNAUTHORIZED)
        .detail(detail)
        .header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        )
}

/// The authenticated caller, for handlers behind [`require_bearer`].
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<VerifiedToken>);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Arc<VerifiedToken>>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| unauthorized(TokenRejection::Missing))
    }
}

impl Caller {
    /// 403 with `error="insufficient_scope"` unless the token grants `scope`.
    pub fn require_scope(&self, scope: &'static str) -> Result<(), Problem> {
        if self.0.scope.contains(scope) {
            return Ok(());
        }
        let challenge = format!(r#"Bearer error="insufficient_scope", scope="{scope}""#);
        Err(Problem::new(StatusCode::FORBIDDEN)
            .detail(format!("this request needs the {scope} scope"))
            .header(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_str(&challenge).unwrap_or(HeaderValue::from_static("Bearer")),
            ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_found_case_insensitively_and_nothing_else_is() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&headers), None);
    }
}
