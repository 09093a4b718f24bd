//! What both transport suites need: a service on a real listener with the common layers, a
//! `/fast` route, and a `/slow` route held by a semaphore.

// Each suite is its own test binary and uses a different part of this module.
#![allow(dead_code)]

use axum::routing::get;
use axum::Router;
use portcullis_http::client_ip::TrustedProxies;
use portcullis_http::health::{DependencyState, Readiness};
use portcullis_http::metrics::Metrics;
use portcullis_http::server::{with_common_layers, Service};
use portcullis_http::transport::TransportSettings;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Semaphore};

pub struct AlwaysReady;

impl Readiness for AlwaysReady {
    fn ready(&self) -> bool {
        true
    }
    fn dependencies(&self) -> BTreeMap<&'static str, DependencyState> {
        BTreeMap::new()
    }
}

/// A running service whose `/slow` handler waits for a permit from `gate` (none are given unless
/// the test adds them), stopped when `stop` is sent.
pub struct Running {
    pub addr: SocketAddr,
    pub gate: Arc<Semaphore>,
    pub stop: Option<oneshot::Sender<()>>,
    pub done: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Serves `/fast`, `/slow` and the suite's own `routes` under `transport`.
pub async fn serve_with(transport: TransportSettings, routes: Router) -> Running {
    let gate = Arc::new(Semaphore::new(0));
    let slow_gate = gate.clone();
    let router = routes.route("/fast", get(|| async { "fast" })).route(
        "/slow",
        get(move || async move {
            let _permit = slow_gate.acquire().await;
            "slow"
        }),
    );
    let router = with_common_layers(
        router,
        Arc::new(AlwaysReady),
        Arc::new(Metrics::new()),
        &transport,
        Arc::new(TrustedProxies::default()),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let service = Service::new(listener, router, transport, Vec::new());
    let addr = service.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(service.run_until(async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        gate,
        stop: Some(stop),
        done,
    }
}

/// Serves `/fast` and `/slow` under `transport`.
pub async fn serve(transport: TransportSettings) -> Running {
    serve_with(transport, Router::new()).await
}
