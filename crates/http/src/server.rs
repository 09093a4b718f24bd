//! The server loop and the layers every service wears.

use crate::metrics::{metrics_handler, track_requests, Metrics};
use crate::problem;
use axum::routing::get;
use axum::Router;
use http::header::{self, HeaderValue};
use http::HeaderName;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// The request id header, accepted from callers and returned on every response.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Headers every response carries: these are JSON APIs, never documents to render or frame.
fn security_headers(router: Router) -> Router {
    [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
        (header::REFERRER_POLICY, "no-referrer"),
    ]
    .into_iter()
    .fold(router, |router, (name, value)| {
        router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ))
    })
}

/// A panic in a handler becomes a 500 problem (and a log line), never a dropped connection.
fn panic_problem(_: Box<dyn std::any::Any + Send + 'static>) -> http::Response<axum::body::Body> {
    tracing::error!("a request handler panicked");
    axum::response::IntoResponse::into_response(problem::Problem::new(
        http::StatusCode::INTERNAL_SERVER_ERROR,
    ))
}

/// Adds what every service has: `/healthz`, `/metrics`, problem answers for unknown routes and
/// methods, security headers, request metrics, a span per request and request ids.
pub fn with_common_layers(router: Router, metrics: Arc<Metrics>) -> Router {
    let router = router
        .route("/healthz", get(crate::health::healthz))
        .route("/metrics", get(metrics_handler).with_state(metrics.clone()))
        .fallback(problem::not_found)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(metrics, track_requests))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &http::Request<_>| {
            let request_id = request
                .headers()
                .get(&REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!(
                "request",
                method = %request.method(),
                route = request.extensions().get::<axum::extract::MatchedPath>().map(|p| p.as_str()).unwrap_or(""),
                request_id,
            )
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        .layer(CatchPanicLayer::custom(panic_problem));
    security_headers(router)
}

/// A bound service: its listener, its router, and the background tasks (key reloads, key-set
/// refreshes) that live exactly as long as it. Both services' `build` return one.
pub struct Service {
    listener: TcpListener,
    router: Router,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Service {
    /// A service ready to run.
    pub fn new(
        listener: TcpListener,
        router: Router,
        tasks: Vec<tokio::task::JoinHandle<()>>,
    ) -> Self {
        Self {
            listener,
            router,
            _tasks: tasks,
        }
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until SIGINT or SIGTERM, then drains in-flight requests.
    pub async fn run(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}

/// Resolves on SIGINT or SIGTERM: the signals a terminal and Kubernetes send.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; draining");
}
