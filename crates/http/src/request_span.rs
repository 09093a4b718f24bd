//! The span of each request, named and attributed after the OpenTelemetry HTTP semantic
//! conventions (`GET /v1/items/{id}`, `http.route`, `http.response.status_code`), joined to the
//! caller's trace when the request carries a W3C `traceparent`.

use axum::extract::MatchedPath;
use std::time::Duration;
use tracing::field::Empty;
use tracing::Span;

/// Opens the request span. The route is the template, never the concrete path, so item ids
/// do not end up in span names; no header value other than the request id is recorded.
pub(crate) fn open<B>(request: &http::Request<B>) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("", MatchedPath::as_str);
    let method = request.method().as_str();
    let request_id = request
        .headers()
        .get(&crate::server::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let span = tracing::info_span!(
        "request",
        otel.name = Empty,
        otel.kind = Empty,
        otel.status_code = Empty,
        http.request.method = method,
        http.route = route,
        http.response.status_code = Empty,
        request_id,
        trace_id = Empty,
        span_id = Empty,
        cache.result = Empty,
    );
    // The exporter's fields only when spans are exported: log lines carry the method and the
    // route already, and formatting these for every request showed in the read path's profile.
    if portcullis_telemetry::exporting() {
        span.record("otel.name", format_args!("{method} {route}"));
        span.record("otel.kind", "server");
    }
    portcullis_telemetry::adopt_remote_parent(&span, request.headers());
    span
}

/// Records the answer's status; a 5xx marks the span as an error.
pub(crate) fn close<B>(response: &http::Response<B>, _latency: Duration, span: &Span) {
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
}
