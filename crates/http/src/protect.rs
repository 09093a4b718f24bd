//! A protected route's guards as one middleware: a coarse limit per client address before any
//! signature work, then authentication, then the limit per subject (or DPoP key).
//!
//! One middleware rather than three layers because axum boxes a router's service at every
//! `layer` call and, on each request, clones everything beneath each boxed level; the read
//! path's profile (#21) showed those clones and their drops among its largest costs.

use crate::auth::AuthState;
use crate::ratelimit::RateLimitState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

/// What guards a protected route, held in one `Arc`: a request clones one reference count.
pub struct Guards {
    /// Flood protection per client address, enforced before the token is verified.
    pub ip_limits: RateLimitState,
    /// Verifies the access token (and its DPoP proof).
    pub auth: AuthState,
    /// The limit per authenticated subject (or DPoP key), the one clients see in headers.
    pub subject_limits: RateLimitState,
}

/// The middleware (`axum::middleware::from_fn_with_state(Arc<Guards>, guard)`).
pub async fn guard(State(guards): State<Arc<Guards>>, request: Request, next: Next) -> Response {
    let guards = &*guards;
    guards
        .ip_limits
        .enforce(request, |request| {
            guards.auth.enforce(request, |request| {
                guards
                    .subject_limits
                    .enforce(request, |request| next.run(request))
            })
        })
        .await
}
