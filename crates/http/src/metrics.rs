//! Prometheus metrics, one registry per service instance (so two instances in one process, as
//! in `portcullis dev` or the tests, never mix their counts).

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue};
use portcullis_domain::token::TokenVerifier;
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// The counters of the operator contract plus request durations.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `portcullis_http_requests_total{route,status}`.
    pub http_requests: IntCounterVec,
    /// `portcullis_http_request_duration_seconds{route,status}`.
    pub http_duration: HistogramVec,
    /// `portcullis_ratelimit_decisions_total{decision}`: allowed, limited, fallback.
    pub ratelimit_decisions: IntCounterVec,
    /// `portcullis_cache_requests_total{result}`: hit, miss, bypass.
    pub cache_requests: IntCounterVec,
    /// `portcullis_cache_tier_requests_total{result}`: how reads met the memory tier in front
    /// of the Redis cache (hit, miss, unproven).
    pub cache_tier_requests: IntCounterVec,
    /// `portcullis_store_queries_total{op}`.
    pub store_queries: IntCounterVec,
    /// `portcullis_auth_failures_total{reason}`.
    pub auth_failures: IntCounterVec,
    /// `portcullis_audit_events_total{event}`.
    pub audit_events: IntCounterVec,
    /// `portcullis_redis_call_duration_seconds{op}`.
    pub redis_duration: HistogramVec,
    /// `portcullis_circuit_breaker_state{dependency}`: 0 closed, 1 open, 2 half-open.
    pub breaker_state: IntGaugeVec,
    /// `portcullis_jwks_age_seconds`, read from the verifier at each scrape (data API only).
    jwks_age: Arc<OnceLock<(Gauge, Arc<dyn TokenVerifier>)>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn counter(registry: &Registry, name: &str, help: &str, label: &str) -> IntCounterVec {
    let counter = IntCounterVec::new(Opts::new(name, help), &[label]).expect("valid metric");
    registry
        .register(Box::new(counter.clone()))
        .expect("unique metric");
    counter
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "portcullis_http_requests_total",
                "HTTP requests by route and status.",
            ),
            &["route", "status"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(http_requests.clone()))
            .expect("unique metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "portcullis_http_request_duration_seconds",
                "HTTP request duration by route and status.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route", "status"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(http_duration.clone()))
            .expect("unique metric");
        let redis_duration = HistogramVec::new(
            HistogramOpts::new(
                "portcullis_redis_call_duration_seconds",
                "Redis call duration by operation.",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
            ]),
            &["op"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(redis_duration.clone()))
            .expect("unique metric");
        let breaker_state = IntGaugeVec::new(
            Opts::new(
                "portcullis_circuit_breaker_state",
                "Circuit breaker state: 0 closed, 1 open, 2 half-open.",
            ),
            &["dependency"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(breaker_state.clone()))
            .expect("unique metric");
        Self {
            redis_duration,
            breaker_state,
            jwks_age: Arc::default(),
            ratelimit_decisions: counter(
                &registry,
                "portcullis_ratelimit_decisions_total",
                "Rate-limit decisions.",
                "decision",
            ),
            cache_requests: counter(
                &registry,
                "portcullis_cache_requests_total",
                "Item reads by cache result.",
                "result",
            ),
            cache_tier_requests: counter(
                &registry,
                "portcullis_cache_tier_requests_total",
                "Cache reads by how the replica's memory tier served them.",
                "result",
            ),
            store_queries: counter(
                &registry,
                "portcullis_store_queries_total",
                "Item store queries by operation.",
                "op",
            ),
            auth_failures: counter(
                &registry,
                "portcullis_auth_failures_total",
                "Rejected credentials by reason.",
                "reason",
            ),
            audit_events: counter(
                &registry,
                "portcullis_audit_events_total",
                "Audit events by kind.",
                "event",
            ),
            http_requests,
            http_duration,
            registry,
        }
    }

    /// Exports each of `labels` of a one-label counter at 0 now, as Prometheus recommends for
    /// known label values: `rate()` and absence alerts then work before the first event.
    pub fn zero(counter: &IntCounterVec, labels: impl IntoIterator<Item = &'static str>) {
        for label in labels {
            counter.with_label_values(&[label]);
        }
    }

    /// Publishes `portcullis_jwks_age_seconds`: how old the verifier's key set is (-1 while
    /// none is loaded), so an issuer outage shows long before the keys go stale.
    pub fn track_jwks_age(&self, verifier: Arc<dyn TokenVerifier>) {
        let gauge = Gauge::new(
            "portcullis_jwks_age_seconds",
            "Age of the issuer key set in use; -1 while none is loaded.",
        )
        .expect("valid metric");
        if self.jwks_age.set((gauge.clone(), verifier)).is_ok() {
            self.registry
                .register(Box::new(gauge))
                .expect("unique metric");
        }
    }

    /// The exposition text of every metric.
    pub fn render(&self) -> String {
        if let Some((gauge, verifier)) = self.jwks_age.get() {
            gauge.set(verifier.key_set_age().map_or(-1.0, |age| age.as_secs_f64()));
        }
        let mut buffer = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format.", body = String, content_type = "text/plain; version=0.0.4")))]
pub async fn metrics_handler(State(metrics): State<Arc<Metrics>>) -> Response {
    let mut response = metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Middleware counting and timing every request by route template (never the raw path, which
/// would let callers create unbounded label values).
pub async fn track_requests(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    // The template is shared (`MatchedPath` is an `Arc<str>`) and the status its static text:
    // no allocation per request for the labels.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    let labels = [
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        status.as_str(),
    ];
    metrics.http_requests.with_label_values(&labels).inc();
    metrics
        .http_duration
        .with_label_values(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}
