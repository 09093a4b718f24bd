//! `bench-bare`: the baseline of `bench/load.sh`. One axum route, `GET /v1/items/{id}`, that
//! answers a fixed JSON document with no authentication, limiting, caching or telemetry — what
//! the framework and the machine cost on their own, so the data API's full read path can be
//! stated as a fraction of it.
//!
//! The document is given by the benchmark (`BENCH_BARE_BODY`, JSON text: the data API's own
//! answer for the item it reads), so both serve a body of the same size. It is parsed once and
//! serialised on every request, as an ordinary JSON handler would. Runtime: `#[tokio::main]`
//! (one worker per core), as the data API.
//!
//! Settings: `BENCH_BARE_LISTEN` (default `127.0.0.1:8090`), `BENCH_BARE_BODY` (default a small
//! item document).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

/// Used when `BENCH_BARE_BODY` is unset: an item shaped like the data API's.
const DEFAULT_BODY: &str = r#"{"id":"bench","data":{"greeting":"hello, world"},"version":1}"#;

async fn item(State(body): State<&'static Value>) -> Json<&'static Value> {
    Json(body)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::var("BENCH_BARE_LISTEN").unwrap_or_else(|_| "127.0.0.1:8090".into());
    let body = std::env::var("BENCH_BARE_BODY").unwrap_or_else(|_| DEFAULT_BODY.into());
    // Lives as long as the process; leaking it lets every request borrow it.
    let body: &'static Value = Box::leak(Box::new(serde_json::from_str(&body)?));
    let app = Router::new()
        .route("/v1/items/{id}", get(item))
        .with_state(body);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("bench-bare listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
