//! Operations: rate limits and metrics, health, and the cache in front of the store.

use super::*;

#[tokio::test]
async fn rate_limits_answer_429_with_headers_and_metrics_count_everything() {
    let stack = Stack::start_with(StackOptions {
        rate_limit: Some("3/min".into()),
        ..Default::default()
    })
    .await;
    let (token, _) = stack.login("alice").await;
    for remaining in [2, 1, 0] {
        let response = stack.get_item(&token, "x").await;
        assert_eq!(response.headers()["ratelimit-policy"], "\"60s\";q=3;w=60");
        let header = response.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            header.starts_with(&format!("\"60s\";r={remaining};t=")),
            "{header}"
        );
    }
    let limited = stack.get_item(&token, "x").await;
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=120).contains(&retry));
    problem(limited, StatusCode::TOO_MANY_REQUESTS).await;
    let (bob, _) = stack.login("bob").await;
    let other = stack.get_item(&bob, "x").await;
    assert_eq!(other.status(), 404, "limits are per subject");

    let bad = stack.get_item("nope", "x").await;
    assert_eq!(bad.status(), 401);
    let metrics = stack.metrics_text(&stack.data_api).await;
    for expected in [
        r#"portcullis_http_requests_total{route="/v1/items/{id}",status="404"} 4"#,
        r#"portcullis_http_requests_total{route="/v1/items/{id}",status="429"} 1"#,
        // Six requests pass the per-IP layer; four of them then pass the per-subject layer.
        r#"portcullis_ratelimit_decisions_total{decision="allowed"} 10"#,
        r#"portcullis_ratelimit_decisions_total{decision="limited"} 1"#,
        // Alice's three reads: a miss, then the cached "not found" twice; Bob's read: a miss.
        r#"portcullis_cache_requests_total{result="miss"} 2"#,
        r#"portcullis_cache_requests_total{result="hit"} 2"#,
        r#"portcullis_store_queries_total{op="get"} 2"#,
        r#"portcullis_auth_failures_total{reason="malformed"} 1"#,
        r#"portcullis_http_request_duration_seconds_count{route="/v1/items/{id}",status="404"} 4"#,
    ] {
        assert!(
            metrics.contains(expected),
            "missing {expected} in\n{metrics}"
        );
    }
    // The key set was fetched at start-up, moments ago.
    let jwks_age: f64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("portcullis_jwks_age_seconds "))
        .unwrap_or_else(|| panic!("no portcullis_jwks_age_seconds in\n{metrics}"))
        .parse()
        .expect("a number");
    assert!((0.0..60.0).contains(&jwks_age), "{jwks_age}");
}

#[tokio::test]
async fn health_and_readiness() {
    let stack = Stack::start().await;
    for base in [&stack.issuer, &stack.data_api] {
        let health = stack
            .http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        let ready: Value = stack
            .http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ready["status"], "ready", "{ready}");
        let request_id = stack
            .http
            .get(format!("{base}/healthz"))
            .header("x-request-id", "abc-123")
            .send()
            .await
            .unwrap();
        assert_eq!(request_id.headers()["x-request-id"], "abc-123");
        let headers = request_id.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert!(headers.get("server").is_none(), "no server banner");
    }
}

#[tokio::test]
async fn concurrent_cold_reads_of_one_item_cost_one_store_query() {
    let stack = Stack::start_with(StackOptions {
        rate_limit: Some("1000000/s".into()),
        ..Default::default()
    })
    .await;
    let (token, _) = stack.login("alice").await;
    let put = stack
        .put_item(&token, "popular", &json!({"data": "everyone wants this"}))
        .await;
    assert_eq!(put.status(), 200);
    // A second replica on the same database starts with a cold cache.
    let cold = Stack::start_data_api(
        &stack.issuer,
        stack.dir.path().join("items.db"),
        &StackOptions {
            rate_limit: Some("1000000/s".into()),
            ..Default::default()
        },
    )
    .await;
    stack.wait_ready(&cold).await;
    let statuses = stack
        .concurrent_reads(std::slice::from_ref(&cold), &token, "popular", 400)
        .await;
    assert!(statuses.iter().all(|&status| status == 200), "{statuses:?}");
    let queries = stack
        .metric(&cold, r#"portcullis_store_queries_total{op="get"}"#)
        .await;
    assert_eq!(
        queries, 1,
        "400 concurrent cold reads share one store query"
    );
}
