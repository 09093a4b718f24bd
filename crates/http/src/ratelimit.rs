//! The rate-limit layer: one decision per request, keyed by the authenticated subject (or the
//! client address before authentication), IETF `RateLimit-Policy` / `RateLimit` headers on every
//! answer, 429 problems with `Retry-After`, and a configured behaviour when the limiter fails.

use crate::metrics::Metrics;
use crate::problem::Problem;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use portcullis_domain::ratelimit::{RateLimitDecision, RateLimitKey, RateLimitPolicy, RateLimiter};
use portcullis_domain::token::VerifiedToken;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

/// `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers).
pub static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit` (draft-ietf-httpapi-ratelimit-headers).
pub static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// What to do when the shared limiter cannot answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureMode {
    /// Allow every request (counted as `fallback`).
    Open,
    /// Enforce a local share of the limit in each replica (the default).
    Local,
    /// Refuse with 503 problems.
    Closed,
}

impl FromStr for FailureMode {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "open" => Ok(Self::Open),
            "local" => Ok(Self::Local),
            "closed" => Ok(Self::Closed),
            other => Err(format!(
                "unknown failure mode {other:?}: expected local, open or closed"
            )),
        }
    }
}

impl FailureMode {
    /// The configuration name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Local => "local",
            Self::Closed => "closed",
        }
    }
}

/// Everything the layer needs; built once at start-up.
#[derive(Clone)]
pub struct RateLimitState {
    limiter: Arc<dyn RateLimiter>,
    policy: RateLimitPolicy,
    policy_header: HeaderValue,
    failure: FailureMode,
    fallback: Arc<dyn RateLimiter>,
    fallback_policy: RateLimitPolicy,
    metrics: Arc<Metrics>,
}

impl RateLimitState {
    /// `limiter` is the shared limiter; `fallback` (in process) enforces `fallback_policy` (the
    /// replica's share) when `failure` is [`FailureMode::Local`] and the shared limiter fails.
    pub fn new(
        limiter: Arc<dyn RateLimiter>,
        policy: RateLimitPolicy,
        failure: FailureMode,
        fallback: Arc<dyn RateLimiter>,
        fallback_policy: RateLimitPolicy,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            policy_header: policy_header(&policy),
            limiter,
            policy,
            failure,
            fallback,
            fallback_policy,
            metrics,
        }
    }
}

/// The `RateLimit-Policy` value: one item per window, named by its period.
fn policy_header(policy: &RateLimitPolicy) -> HeaderValue {
    let items: Vec<String> = policy
        .windows()
        .iter()
        .map(|w| {
            format!(
                "\"{}s\";q={};w={}",
                w.period.as_secs(),
                w.limit,
                w.period.as_secs()
            )
        })
        .collect();
    HeaderValue::from_str(&items.join(", ")).unwrap_or(HeaderValue::from_static(""))
}

fn decision_headers(headers: &mut HeaderMap, state: &RateLimitState, decision: &RateLimitDecision) {
    headers.insert(RATELIMIT_POLICY.clone(), state.policy_header.clone());
    if let Some((index, window)) = decision.tightest() {
        let period = state.policy.windows()[index].period.as_secs();
        let value = format!(
            "\"{period}s\";r={};t={}",
            window.remaining,
            window.reset.as_secs_f64().ceil() as u64
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(RATELIMIT.clone(), value);
        }
    }
}

/// The key a request is limited under.
fn key_of(request: &Request) -> RateLimitKey {
    if let Some(token) = request.extensions().get::<VerifiedToken>() {
        return RateLimitKey::new("sub", token.subject.as_str());
    }
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string());
    RateLimitKey::new("ip", &ip)
}

/// The middleware.
pub async fn limit(State(state): State<RateLimitState>, request: Request, next: Next) -> Response {
    let key = key_of(&request);
    let decision = match state.limiter.check(&key, &state.policy, 1).await {
        Ok(decision) => {
            let label = if decision.allowed {
                "allowed"
            } else {
                "limited"
            };
            state
                .metrics
                .ratelimit_decisions
                .with_label_values(&[label])
                .inc();
            decision
        }
        Err(error) => {
            state
                .metrics
                .ratelimit_decisions
                .with_label_values(&["fallback"])
                .inc();
            tracing::warn!(%error, mode = state.failure.as_str(), "rate limiter unavailable; degrading");
            match state.failure {
                FailureMode::Open => return next.run(request).await,
                FailureMode::Closed => return Problem::unavailable().into_response(),
                FailureMode::Local => {
                    match state.fallback.check(&key, &state.fallback_policy, 1).await {
                        Ok(decision) => decision,
                        Err(_) => return next.run(request).await,
                    }
                }
            }
        }
    };
    if !decision.allowed {
        let retry = decision
            .retry_after
            .map_or(1, |d| d.as_secs_f64().ceil().max(1.0) as u64);
        let mut response = Problem::new(StatusCode::TOO_MANY_REQUESTS)
            .detail("rate limit exceeded; retry later")
            .header(header::RETRY_AFTER, HeaderValue::from(retry))
            .into_response();
        decision_headers(response.headers_mut(), &state, &decision);
        return response;
    }
    let mut response = next.run(request).await;
    decision_headers(response.headers_mut(), &state, &decision);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_header_follows_the_draft() {
        let policy = RateLimitPolicy::parse("100/s,3000/min").unwrap();
        assert_eq!(
            policy_header(&policy),
            "\"1s\";q=100;w=1, \"60s\";q=3000;w=60"
        );
    }

    #[test]
    fn failure_modes_parse_and_print() {
        for mode in ["open", "local", "closed"] {
            assert_eq!(mode.parse::<FailureMode>().unwrap().as_str(), mode);
        }
        assert!("fail".parse::<FailureMode>().is_err());
    }
}
