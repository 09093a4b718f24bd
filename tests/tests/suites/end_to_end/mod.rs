//! Both services end to end on embedded adapters: the contract's journeys and its error answers.

use portcullis_tests::{strict_refresh_reuse, Stack, StackOptions, CLI_CLIENT, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};

mod errors;
mod items;
mod operations;
mod tokens;

async fn problem(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "errors are RFC 9457 problems"
    );
    let body: Value = response.json().await.expect("problem body");
    assert_eq!(body["status"], status.as_u16());
    body
}

async fn oauth_error(response: reqwest::Response, status: StatusCode, code: &str) {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("RFC 6749 error JSON");
    assert_eq!(body["error"], code, "{body}");
}
