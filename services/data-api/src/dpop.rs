//! DPoP at the data API: the proof guard on the replay store that matches the deployment, the
//! public URL proofs are checked against, and the RFC 9728 protected-resource metadata that
//! tells clients which issuer to log in at and whether DPoP is required.

use crate::config::Settings;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use http::{header, HeaderValue};
use portcullis_domain::clock::SystemClock;
use portcullis_domain::ephemeral::EphemeralStore;
use portcullis_domain::usecase::dpop::DpopGuard;
use portcullis_http::dpop::{DpopSettings, METADATA_PATH};
use portcullis_http::ratelimit::FailureMode;
use portcullis_jwt::DpopProofVerifier;
use portcullis_redis::RedisConnection;
use portcullis_store::{MemoryEphemeralStore, RedisEphemeralStore};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// The scopes the data API's routes ask for, as the metadata lists them.
const SCOPES: [&str; 2] = ["items:read", "items:write"];
/// Bytes of seen-proof records kept in process: a record is about a hundred bytes, so this
/// holds the proofs of a minute at tens of thousands of requests a second.
const LOCAL_REPLAY_BYTES: u64 = 16 * 1024 * 1024;

/// The guard on the replay store of this deployment. With Redis, seen proofs are shared by
/// every replica; when Redis fails, the limiter's failure mode decides: `local` and `open`
/// check replays in this process only (a proof replayed to another replica then passes),
/// `closed` refuses DPoP requests with a 503. Without Redis, the process is the deployment.
pub(crate) fn guard(connection: Option<&RedisConnection>, config: &Settings) -> Arc<DpopGuard> {
    let local = || -> Arc<dyn EphemeralStore> {
        Arc::new(MemoryEphemeralStore::with_capacity(LOCAL_REPLAY_BYTES))
    };
    let (replays, fallback) = match connection {
        Some(connection) => {
            let timeout = config.redis.as_ref().map(|r| r.call_timeout);
            let shared: Arc<dyn EphemeralStore> = Arc::new(RedisEphemeralStore::new(
                connection.clone(),
                "portcullis:data:dpop:",
                timeout.unwrap_or_default(),
            ));
            let fallback = (config.rate_limit_failure != FailureMode::Closed).then(local);
            (shared, fallback)
        }
        None => (local(), None),
    };
    Arc::new(DpopGuard::new(
        Arc::new(DpopProofVerifier::default()),
        replays,
        fallback,
        Arc::new(SystemClock),
    ))
}

/// `DATA_API_PUBLIC_URL`, or the bound address when it is unset (with a warning when that
/// address is no client's: a wildcard).
pub(crate) fn public_url(config: &Settings, bound: SocketAddr, tls: bool) -> String {
    if let Some(url) = &config.public_url {
        return url.clone();
    }
    if bound.ip().is_unspecified() {
        tracing::warn!(
            %bound,
            "DATA_API_PUBLIC_URL is unset and the listen address is a wildcard: DPoP proofs \
             will not match it; set DATA_API_PUBLIC_URL to the URL clients call"
        );
    }
    format!("{}://{bound}", if tls { "https" } else { "http" })
}

/// The RFC 9728 protected-resource metadata document.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ResourceMetadata {
    /// The resource's identifier: its public URL.
    resource: String,
    /// The issuers whose tokens it accepts.
    authorization_servers: Vec<String>,
    /// The scopes its routes need.
    scopes_supported: Vec<&'static str>,
    /// How a token may be sent: in the `Authorization` header only.
    bearer_methods_supported: Vec<&'static str>,
    /// The DPoP proof algorithms accepted.
    dpop_signing_alg_values_supported: Vec<&'static str>,
    /// Present and true when bearer tokens are refused.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dpop_bound_access_tokens_required: bool,
}

/// The metadata route, outside authentication and rate limits of callers.
pub(crate) fn metadata_route(config: &Settings, dpop: &DpopSettings) -> Router {
    let document = ResourceMetadata {
        resource: dpop.public_url.to_string(),
        authorization_servers: vec![config.verifier.issuer.clone()],
        scopes_supported: SCOPES.to_vec(),
        bearer_methods_supported: vec!["header"],
        dpop_signing_alg_values_supported: dpop.guard.algorithms().to_vec(),
        dpop_bound_access_tokens_required: dpop.required,
    };
    // Serialising a struct of strings cannot fail.
    let document: Arc<str> = serde_json::to_string(&document).unwrap_or_default().into();
    Router::new()
        .route(METADATA_PATH, get(metadata))
        .with_state(document)
}

#[utoipa::path(get, path = "/.well-known/oauth-protected-resource", tag = "operations",
    responses((status = 200, description = "RFC 9728 protected-resource metadata: the issuer to log in at, the scopes, and DPoP's algorithms and requirement.",
        body = ResourceMetadata, headers(("Cache-Control" = String)))))]
pub(crate) async fn metadata(State(document): State<Arc<str>>) -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        document.to_string(),
    )
}
