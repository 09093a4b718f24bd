//! The server loop and the layers every service wears.

use crate::client_ip::{resolve_client_ip, TrustedProxies};
use crate::health::Readiness;
use crate::metrics::{metrics_handler, track_requests, Metrics};
use crate::problem;
use crate::stall_guard::StallGuard;
use crate::tls::ServerTls;
use crate::transport::{TransportSettings, MAX_HEADER_BYTES};
use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::Router;
use http::header::{self, HeaderValue};
use http::HeaderName;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// The request id header, accepted from callers and returned on every response.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Headers every response carries: the APIs answer JSON, never documents to render or frame;
/// the issuer's login pages set a Content-Security-Policy of their own, which is kept.
fn security_headers() -> [SetResponseHeaderLayer<HeaderValue>; 4] {
    [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
        (header::REFERRER_POLICY, "no-referrer"),
    ]
    .map(|(name, value)| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    })
}

/// A panic in a handler becomes a 500 problem (and a log line), never a dropped connection.
fn panic_problem(_: Box<dyn std::any::Any + Send + 'static>) -> http::Response<axum::body::Body> {
    tracing::error!("a request handler panicked");
    axum::response::IntoResponse::into_response(problem::Problem::new(
        http::StatusCode::INTERNAL_SERVER_ERROR,
    ))
}

/// Adds what every service has: transport limits on the API routes, `/healthz`, `/readyz`,
/// `/metrics` (outside the limits, so probes answer under overload), problem answers for unknown
/// routes and methods, CORS when configured, security headers, request metrics, a span per
/// request, request ids and the client address ([`ClientIp`](crate::client_ip::ClientIp),
/// resolved through `trusted_proxies` before the transport's per-client limit counts it).
pub fn with_common_layers(
    router: Router,
    readiness: Arc<dyn Readiness>,
    metrics: Arc<Metrics>,
    transport: &TransportSettings,
    trusted_proxies: Arc<TrustedProxies>,
) -> Router {
    with_common_layers_and_open_routes(
        router,
        Router::new(),
        readiness,
        metrics,
        transport,
        trusted_proxies,
    )
}

/// Like [`with_common_layers`], with `open` routes served outside the concurrency limit and
/// the request timeout, like the probes: cheap answers that must not wait behind whatever holds
/// the request slots (the issuer's JWKS and discovery documents, which every verifier needs).
pub fn with_common_layers_and_open_routes(
    router: Router,
    open: Router,
    readiness: Arc<dyn Readiness>,
    metrics: Arc<Metrics>,
    transport: &TransportSettings,
    trusted_proxies: Arc<TrustedProxies>,
) -> Router {
    let router = transport
        .limit(router)
        .merge(open)
        .route("/healthz", get(crate::health::healthz))
        .route("/readyz", get(crate::health::readyz).with_state(readiness))
        .route("/metrics", get(metrics_handler).with_state(metrics.clone()))
        .fallback(problem::not_found)
        .method_not_allowed_fallback(problem::method_not_allowed);
    // One `layer` call for the whole stack, outermost first: axum boxes a router's service at
    // every `layer` call and each boxed level clones everything beneath it on every request,
    // which the read path's profile (#21) showed as one of its largest costs.
    let [nosniff, no_framing, no_content, no_referrer] = security_headers();
    router.layer(
        ServiceBuilder::new()
            .layer(nosniff)
            .layer(no_framing)
            .layer(no_content)
            .layer(no_referrer)
            .option_layer(transport.cors())
            .layer(CatchPanicLayer::custom(panic_problem))
            .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(crate::request_span::open)
                    .on_response(crate::request_span::close),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
            .layer(resolve_client_ip(trusted_proxies))
            .layer(axum::middleware::from_fn_with_state(
                metrics,
                track_requests,
            )),
    )
}

/// A bound service: its listener, its router, its transport limits, and the background tasks
/// (key reloads, key-set refreshes) that live exactly as long as it. Both services' `build`
/// return one.
pub struct Service {
    listener: TcpListener,
    router: Router,
    transport: TransportSettings,
    tls: Option<tokio_rustls::TlsAcceptor>,
    _tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Service {
    /// A service ready to run.
    pub fn new(
        listener: TcpListener,
        router: Router,
        transport: TransportSettings,
        tasks: Vec<tokio::task::JoinHandle<()>>,
    ) -> Self {
        Self {
            listener,
            router,
            transport,
            tls: None,
            _tasks: tasks,
        }
    }

    /// Serves HTTPS with `tls` (see [`ServerTls::load`], which a service calls first thing,
    /// so a bad pair stops it before it connects to anything) instead of plain HTTP, and keeps
    /// the task that re-reads the pair as long as the service.
    pub fn with_tls(mut self, tls: Option<ServerTls>) -> Self {
        if let Some(tls) = tls {
            self._tasks.push(tls.watch(crate::tls::RELOAD_INTERVAL));
            self.tls = Some(tls.acceptor());
        }
        self
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

    /// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish
    /// for up to the shutdown grace before closing what is left.
    ///
    /// This is hyper's connection loop rather than `axum::serve` because axum does not expose
    /// the header-read timeout and head-size limits that keep slow clients from holding
    /// connections.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(self.transport.header_read_timeout)
            .max_header_size(MAX_HEADER_BYTES);
        let connections = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            // Responses are small and written whole: waiting to coalesce them only adds latency.
            let _ = stream.set_nodelay(true);
            let service =
                self.router
                    .clone()
                    .map_request(move |mut request: http::Request<Incoming>| {
                        request.extensions_mut().insert(ConnectInfo(peer));
                        request
                    });
            let stall = self.transport.response_stall_timeout;
            let Some(acceptor) = &self.tls else {
                let connection = http.serve_connection(
                    TokioIo::new(StallGuard::new(stream, stall)),
                    TowerToHyperService::new(service),
                );
                let connection = connections.watch(connection);
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, %peer, "connection ended with an error");
                    }
                });
                continue;
            };
            // The handshake runs in the connection's own task, bounded like a request head, so
            // a client that never finishes it holds neither the accept loop nor its socket.
            let (acceptor, http, watcher) = (acceptor.clone(), http.clone(), connections.watcher());
            let handshake_timeout = self.transport.header_read_timeout;
            tokio::spawn(async move {
                let stream =
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => {
                            tracing::debug!(%error, %peer, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                let connection = http.serve_connection(
                    TokioIo::new(StallGuard::new(stream, stall)),
                    TowerToHyperService::new(service),
                );
                if let Err(error) = watcher.watch(connection).await {
                    tracing::debug!(%error, %peer, "connection ended with an error");
                }
            });
        }
        drop(self.listener);
        let open = connections.count();
        tokio::select! {
            () = connections.shutdown() => tracing::info!(open, "drained"),
            () = tokio::time::sleep(self.transport.shutdown_grace) => {
                tracing::warn!(grace = ?self.transport.shutdown_grace, "shutdown grace ran out; closing the remaining connections");
            }
        }
        Ok(())
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
