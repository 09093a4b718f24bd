//! `/healthz` (liveness: the process answers) and `/readyz` (readiness: able to serve).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The state of one dependency, as `/readyz` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct DependencyState {
    /// Whether the service can serve without it being healthy, or it is healthy.
    pub ok: bool,
    /// A short description for operators (mode, degradation).
    pub detail: String,
}

/// What a service knows about its own readiness. A dependency outage that the configured
/// degradation absorbs must not make the service unready, or an orchestrator would pull every
/// replica at once.
pub trait Readiness: Send + Sync {
    /// Whether the service can serve requests now.
    fn ready(&self) -> bool;
    /// The state of each dependency, for operators.
    fn dependencies(&self) -> BTreeMap<&'static str, DependencyState>;
}

/// `GET /healthz`: never checks dependencies.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive (liveness; no dependency checks).", body = serde_json::Value)))]
pub async fn healthz() -> Response {
    Json(serde_json::json!({ "status": "ok" })).into_response()
}

/// `GET /readyz`: 200 when ready, 503 when not, with dependency detail either way.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready to serve; the body reports each dependency.", body = serde_json::Value),
    (status = 503, description = "Not ready (for example no keys yet); the body says why.", body = serde_json::Value)))]
pub async fn readyz(State(readiness): State<Arc<dyn Readiness>>) -> Response {
    let ready = readiness.ready();
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not_ready" },
        "dependencies": readiness.dependencies(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
