//! W3C trace context across the services: read from every inbound request, written on every
//! outbound call, so one trace follows a request from the data API into the issuer.

use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry::{global, Context};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// `traceparent`/`tracestate` (and W3C baggage) are the formats read and written.
pub(crate) fn install_propagator() {
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
}

/// Makes `span` (a request's span) a child of the caller's trace when the request carries a
/// `traceparent`, and records the span's `trace_id` and `span_id` fields so its log lines can
/// be joined with the trace. Without trace export the caller's trace id is still recorded.
pub fn adopt_remote_parent(span: &tracing::Span, headers: &http::HeaderMap) {
    if !crate::exporting() && !headers.contains_key("traceparent") {
        // No caller's trace to join and no span of our own to name: nothing to record.
        return;
    }
    let parent = global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)));
    let remote_trace = parent.span().span_context().trace_id();
    let remote_valid = parent.span().span_context().is_valid();
    let _ = span.set_parent(parent);
    let own = span.context().span().span_context().clone();
    if own.is_valid() {
        span.record("trace_id", tracing::field::display(own.trace_id()));
        span.record("span_id", tracing::field::display(own.span_id()));
    } else if remote_valid {
        span.record("trace_id", tracing::field::display(remote_trace));
    }
}

/// The trace-context headers for an outbound call made within the current span.
pub fn trace_headers() -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    let context: Context = tracing::Span::current().context();
    global::get_text_map_propagator(|p| {
        p.inject_context(&context, &mut HeaderInjector(&mut headers));
    });
    headers
}
