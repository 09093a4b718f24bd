//! Logs and traces, set up the same way by every binary with one call to [`init`].
//!
//! - Logs go to standard error (standard output stays for what a command prints). `RUST_LOG`
//!   filters them (default `info`); `PORTCULLIS_LOG_FORMAT=json` switches to JSON lines for log
//!   shippers, each carrying the fields of its request span (`request_id`, `trace_id`,
//!   `span_id`). Audit events use the target `portcullis::audit`, so they can be routed apart.
//! - Traces are exported over OTLP/HTTP (protobuf) when the standard
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, configured by
//!   the standard `OTEL_*` variables: `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//!   `OTEL_TRACES_SAMPLER`(`_ARG`), `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_BSP_*`. Unset, no span is
//!   built for export, so tracing costs nothing.
//! - W3C trace context (`traceparent`, `tracestate`) is read from every request
//!   ([`adopt_remote_parent`]) and written on every outbound call ([`trace_headers`]).

mod propagation;

pub use propagation::{adopt_remote_parent, trace_headers};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported: without export, what only an exporter reads (span names and
/// kinds, a context for a request without `traceparent`) is skipped on every request.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Our crates, whose `debug` spans (token verification, Redis calls, store queries, cache and
/// rate-limit decisions) are exported as trace spans even when the log shows only `info`.
const TRACED_CRATES: [&str; 8] = [
    "auth_issuer",
    "data_api",
    "portcullis_cache",
    "portcullis_domain",
    "portcullis_http",
    "portcullis_jwt",
    "portcullis_ratelimit",
    "portcullis_store",
];

/// Keeps the trace exporter alive; [`Telemetry::shutdown`] (or dropping it) flushes the spans
/// not yet sent, so the last requests before a shutdown are not lost.
#[must_use = "dropping the guard shuts the trace exporter down"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends what is buffered and stops the exporter.
    pub fn shutdown(mut self) {
        self.flush_and_stop();
    }

    fn flush_and_stop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(error) = provider.shutdown() {
                eprintln!("flushing traces at shutdown failed: {error}");
            }
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.flush_and_stop();
    }
}

/// Installs logging and, when an OTLP endpoint is configured, trace export; `service` is the
/// service name unless `OTEL_SERVICE_NAME` says otherwise. Call it before starting the async
/// runtime (the exporter's HTTP client runs on its own thread). Later calls install nothing
/// and return an inert guard, so tests and the all-in-one launcher may call it freely.
pub fn init(service: &str) -> Telemetry {
    propagation::install_propagator();
    let log_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("PORTCULLIS_LOG_FORMAT").is_ok_and(|f| f == "json");
    let logs = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_target(true)
            .with_writer(std::io::stderr)
            .with_filter(log_filter)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_target(true)
            .with_writer(std::io::stderr)
            .with_filter(log_filter)
            .boxed()
    };
    let (provider, traces) = match export_configured().then(|| tracer_provider(service)) {
        Some(Ok(provider)) => {
            let tracer = provider.tracer("portcullis");
            let filter = TRACED_CRATES
                .iter()
                .fold(Targets::new().with_default(Level::INFO), |targets, name| {
                    targets.with_target(*name, Level::DEBUG)
                });
            let layer = tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(filter);
            (Some(provider), Some(layer))
        }
        Some(Err(error)) => {
            eprintln!("OTLP trace export is configured but could not start: {error}");
            (None, None)
        }
        None => (None, None),
    };
    let installed = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .is_ok();
    let provider = if installed { provider } else { None };
    EXPORTING.store(provider.is_some(), Ordering::Relaxed);
    Telemetry { provider }
}

/// Runs a service's main future on `runtime` with logs and trace export installed, and sends
/// the buffered spans once it returns: the `serve` of every binary.
pub fn run_instrumented<T>(
    service: &str,
    runtime: &tokio::runtime::Runtime,
    work: impl std::future::Future<Output = T>,
) -> T {
    let telemetry = init(service);
    let outcome = runtime.block_on(work);
    telemetry.shutdown();
    outcome
}

fn export_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()))
}

fn tracer_provider(
    service: &str,
) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    // The exporter's HTTP client may speak TLS to the collector; rustls needs its provider.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // The builder reads the endpoint, headers and timeout from the standard variables.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    let resource = opentelemetry_sdk::Resource::builder();
    let resource = if std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.is_empty()) {
        resource
    } else {
        resource.with_service_name(service.to_string())
    };
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}
