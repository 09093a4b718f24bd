//! The rate-limit layer: one decision per request, keyed by the authenticated subject (or the
//! client address before authentication), IETF `RateLimit-Policy` / `RateLimit` headers on every
//! answer, 429 problems with `Retry-After`, and a configured behaviour when the limiter fails.

use crate::client_ip::ClientIp;
use crate::metrics::Metrics;
use crate::problem::Problem;
use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use portcullis_domain::cause::Chain;
use portcullis_domain::ratelimit::{RateLimitDecision, RateLimitKey, RateLimitPolicy, RateLimiter};
use portcullis_domain::token::VerifiedToken;
use prometheus::IntCounter;
use std::future::Future;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use tracing::Instrument;

/// `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers).
pub static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit` (draft-ietf-httpapi-ratelimit-headers).
pub static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The `decision` label values of `portcullis_ratelimit_decisions_total`.
pub const DECISIONS: [&str; 4] = ["allowed", "limited", "fallback", "shadow"];
// Indexes into `DECISIONS` (and the layer's counters resolved from it).
const ALLOWED: usize = 0;
const LIMITED: usize = 1;
const FALLBACK: usize = 2;
const SHADOW: usize = 3;

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

/// What a request is limited by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// The authenticated subject (the layer must run after authentication).
    Subject,
    /// The client address (see [`crate::client_ip`]); for limits applied before authentication.
    ClientIp,
    /// The thumbprint of the DPoP proof's key ([`crate::dpop::DpopKey`]) when the request proved
    /// one, the subject otherwise: a subject with several keys (devices) gets a budget per key.
    DpopKey,
}

/// One policy and the share of it a replica enforces alone when the shared limiter fails.
#[derive(Clone, Debug)]
pub struct LimitRule {
    /// The policy.
    pub policy: RateLimitPolicy,
    /// The replica's share, enforced in process in [`FailureMode::Local`].
    pub local_share: RateLimitPolicy,
}

/// How one layer limits.
#[derive(Clone, Debug)]
pub struct RateLimitSettings {
    /// Prefix of the limiter keys (`sub`, `ip`, ...), so different layers never share counters.
    pub scope: &'static str,
    /// What the key is.
    pub key_source: KeySource,
    /// The policy of reads (and of writes, unless `writes` is set).
    pub reads: LimitRule,
    /// A separate policy and bucket for writes (`PUT`, `POST`, `PATCH`, `DELETE`).
    pub writes: Option<LimitRule>,
    /// What to do when the shared limiter fails.
    pub failure: FailureMode,
    /// Evaluate and count, but never reject: for rolling out a new policy safely.
    pub shadow: bool,
    /// Whether allowed responses carry the `RateLimit` headers (off for an outer, coarse layer
    /// so the inner layer's headers are the ones clients see).
    pub headers_when_allowed: bool,
}

struct Rule {
    rule: LimitRule,
    header: HeaderValue,
    key_prefix: String,
}

/// Everything one limit needs; built once at start-up and held, with the other guards of a
/// protected route, in the one `Arc` of [`crate::protect::Guards`].
pub struct RateLimitState {
    limiter: Arc<dyn RateLimiter>,
    fallback: Arc<dyn RateLimiter>,
    reads: Rule,
    writes: Option<Rule>,
    settings: RateLimitSettings,
    /// `portcullis_ratelimit_decisions_total`, resolved per label once, not per request.
    decisions: [IntCounter; DECISIONS.len()],
}

impl RateLimitState {
    /// `limiter` is the shared limiter; `fallback` (in process) enforces the local shares when
    /// the shared one fails in [`FailureMode::Local`].
    pub fn new(
        limiter: Arc<dyn RateLimiter>,
        fallback: Arc<dyn RateLimiter>,
        settings: RateLimitSettings,
        metrics: &Metrics,
    ) -> Self {
        let rule = |rule: &LimitRule, prefix: String| Rule {
            header: policy_header(&rule.policy),
            rule: rule.clone(),
            key_prefix: prefix,
        };
        Self {
            reads: rule(&settings.reads, settings.scope.to_string()),
            writes: settings
                .writes
                .as_ref()
                .map(|w| rule(w, format!("{}-write", settings.scope))),
            limiter,
            fallback,
            settings,
            decisions: DECISIONS
                .map(|label| metrics.ratelimit_decisions.with_label_values(&[label])),
        }
    }

    fn rule_for(&self, method: &http::Method) -> &Rule {
        let write = !matches!(
            *method,
            http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
        );
        match (&self.writes, write) {
            (Some(writes), true) => writes,
            _ => &self.reads,
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

/// `RateLimit-Policy`, and `RateLimit` for one window: on a rejection the window that rejects
/// longest, with `t` the same true wait as `Retry-After`; otherwise the window closest to its
/// limit, with `t` the end of its current slot.
fn decision_headers(headers: &mut HeaderMap, rule: &Rule, decision: &RateLimitDecision) {
    headers.insert(RATELIMIT_POLICY.clone(), rule.header.clone());
    let reported = match (decision.limited_by, decision.retry_after_secs()) {
        (Some(index), Some(wait)) => decision.windows.get(index).map(|w| (index, w, wait)),
        _ => decision
            .tightest()
            .map(|(index, window)| (index, window, window.reset.as_secs_f64().ceil() as u64)),
    };
    if let Some((index, window, reset)) = reported {
        let period = rule.rule.policy.windows()[index].period.as_secs();
        let value = format!("\"{period}s\";r={};t={reset}", window.remaining);
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(RATELIMIT.clone(), value);
        }
    }
}

/// The key a request is limited under.
fn key_of(request: &Request, source: KeySource, prefix: &str) -> RateLimitKey {
    if source == KeySource::DpopKey {
        if let Some(key) = request.extensions().get::<crate::dpop::DpopKey>() {
            return RateLimitKey::new(&format!("{prefix}-jkt"), &key.0);
        }
    }
    let subject = request
        .extensions()
        .get::<Arc<VerifiedToken>>()
        .filter(|_| source != KeySource::ClientIp);
    if let Some(token) = subject {
        return RateLimitKey::new(prefix, token.subject.as_str());
    }
    let ip = request
        .extensions()
        .get::<ClientIp>()
        .copied()
        .or_else(|| {
            request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| ClientIp(c.0.ip().to_canonical()))
        })
        .map_or_else(|| "unknown".to_string(), |ip| ip.limit_key());
    match source {
        KeySource::ClientIp => RateLimitKey::new(prefix, &ip),
        KeySource::Subject | KeySource::DpopKey => {
            RateLimitKey::new(&format!("{prefix}-anonymous"), &ip)
        }
    }
}

impl RateLimitState {
    /// Decides for `request`; runs `next` on it when allowed (or when degrading allows it),
    /// and adds the `RateLimit` headers to the answer.
    pub async fn enforce<F, Fut>(&self, request: Request, next: F) -> Response
    where
        F: FnOnce(Request) -> Fut,
        Fut: Future<Output = Response>,
    {
        let settings = &self.settings;
        let rule = self.rule_for(request.method());
        let key = key_of(&request, settings.key_source, &rule.key_prefix);
        let span = tracing::debug_span!(
            "ratelimit",
            ratelimit.scope = settings.scope,
            ratelimit.decision = tracing::field::Empty,
        );
        let count = |decision: usize| {
            span.record("ratelimit.decision", DECISIONS[decision]);
            self.decisions[decision].inc();
        };
        let checked = self
            .limiter
            .check(&key, &rule.rule.policy, 1)
            .instrument(span.clone())
            .await;
        let decision = match checked {
            Ok(decision) => {
                count(if decision.allowed { ALLOWED } else { LIMITED });
                decision
            }
            Err(error) => {
                count(FALLBACK);
                tracing::warn!(error = %Chain(&error), mode = settings.failure.as_str(), "rate limiter unavailable; degrading");
                match settings.failure {
                    FailureMode::Open => return next(request).await,
                    FailureMode::Closed => return Problem::unavailable().into_response(),
                    FailureMode::Local => {
                        match self.fallback.check(&key, &rule.rule.local_share, 1).await {
                            Ok(decision) => decision,
                            Err(_) => return next(request).await,
                        }
                    }
                }
            }
        };
        if !decision.allowed && settings.shadow {
            count(SHADOW);
            tracing::debug!(key = key.as_str(), "shadow mode: would have limited");
            return next(request).await;
        }
        if !decision.allowed {
            let retry = decision.retry_after_secs().unwrap_or(1);
            let mut response = Problem::new(StatusCode::TOO_MANY_REQUESTS)
                .detail("rate limit exceeded; retry later")
                .header(header::RETRY_AFTER, HeaderValue::from(retry))
                .into_response();
            decision_headers(response.headers_mut(), rule, &decision);
            return response;
        }
        let mut response = next(request).await;
        if settings.headers_when_allowed && !settings.shadow {
            decision_headers(response.headers_mut(), rule, &decision);
        }
        response
    }
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
    fn a_rejection_reports_the_same_true_wait_in_both_headers() {
        use portcullis_domain::ratelimit::{decide, SlotCounts};
        // The review's case: 10/10s, full, 4 s into the slot. This slot ends in 6 s, and its 10
        // then weigh as the previous slot's, decaying until one more fits 1 s later: 7 s.
        let policy = RateLimitPolicy::parse("10/10s,1000/min").unwrap();
        let counts = [
            SlotCounts {
                previous: 0,
                current: 10,
            },
            SlotCounts {
                previous: 0,
                current: 10,
            },
        ];
        let decision = decide(&policy, &counts, &[4_000, 4_000], 1);
        let rule = Rule {
            header: policy_header(&policy),
            rule: LimitRule {
                policy: policy.clone(),
                local_share: policy,
            },
            key_prefix: "sub".into(),
        };
        let mut headers = HeaderMap::new();
        decision_headers(&mut headers, &rule, &decision);
        assert_eq!(decision.retry_after_secs(), Some(7));
        assert_eq!(headers[&RATELIMIT], "\"10s\";r=0;t=7");
    }

    #[test]
    fn failure_modes_parse_and_print() {
        for mode in ["open", "local", "closed"] {
            assert_eq!(mode.parse::<FailureMode>().unwrap().as_str(), mode);
        }
        assert!("fail".parse::<FailureMode>().is_err());
    }
}
