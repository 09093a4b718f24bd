//! Both services end to end on embedded adapters: the contract's journeys and its error answers.

use portcullis_tests::{strict_refresh_reuse, Stack, StackOptions, CLI_CLIENT, PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};

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

#[tokio::test]
async fn log_in_write_read_and_stay_out_of_other_peoples_items() {
    let stack = Stack::start().await;
    let (alice, _) = stack.login("alice").await;
    let (bob, _) = stack.login("bob").await;

    let written = stack
        .http
        .put(stack.item_url("notes"))
        .bearer_auth(&alice)
        .json(&json!({"data": {"text": "hello", "n": [1, 2, 3]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(written.status(), 200);
    let etag = written.headers()["etag"].to_str().unwrap().to_string();
    let body: Value = written.json().await.unwrap();
    assert_eq!(body["id"], "notes");
    assert_eq!(body["data"], json!({"text": "hello", "n": [1, 2, 3]}));
    assert_eq!(etag, format!("\"{}\"", body["version"]));

    let read = stack
        .http
        .get(stack.item_url("notes"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(read.json::<Value>().await.unwrap(), body);

    // No token: 401 with an RFC 6750 challenge.
    let anonymous = stack
        .http
        .get(stack.item_url("notes"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    problem(anonymous, StatusCode::UNAUTHORIZED).await;

    // Bob cannot see alice's item, and writing his own "notes" leaves hers alone.
    let foreign = stack
        .http
        .get(stack.item_url("notes"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    problem(foreign, StatusCode::NOT_FOUND).await;
    let bobs = stack
        .http
        .put(stack.item_url("notes"))
        .bearer_auth(&bob)
        .json(&json!({"data": "bob's"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bobs.status(), 200);
    let again = stack
        .http
        .get(stack.item_url("notes"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.json::<Value>().await.unwrap(),
        body,
        "alice's item is untouched"
    );
    let bob_list: Value = stack
        .http
        .get(format!("{}/v1/items", stack.data_api))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bob_list["items"].as_array().unwrap().len(), 1);
    assert_eq!(bob_list["items"][0]["data"], "bob's");
    assert_eq!(bob_list["next"], Value::Null);

    // Bob cannot delete alice's item either.
    let delete = stack
        .http
        .delete(stack.item_url("notes"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204, "bob deletes his own notes");
    let still = stack
        .http
        .get(stack.item_url("notes"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), 200, "alice's notes survive bob's delete");
}

#[tokio::test]
async fn conditional_requests_use_the_version_as_etag() {
    let stack = Stack::start().await;
    let (token, _) = stack.login("alice").await;
    let put = |body: Value| {
        stack
            .http
            .put(stack.item_url("doc"))
            .bearer_auth(&token)
            .json(&body)
    };

    let first = put(json!({"data": 1})).send().await.unwrap();
    let etag = first.headers()["etag"].clone();
    let cached = stack
        .http
        .get(stack.item_url("doc"))
        .bearer_auth(&token)
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    let queries = r#"portcullis_store_queries_total{op="get"}"#;
    let before = stack.metric(&stack.data_api, queries).await;
    let again = stack
        .http
        .get(stack.item_url("doc"))
        .bearer_auth(&token)
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(
        stack.metric(&stack.data_api, queries).await,
        before,
        "304 straight from the cache"
    );

    let second = put(json!({"data": 2}))
        .header("if-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 200);
    let stale = put(json!({"data": 3}))
        .header("if-match", etag.clone())
        .send()
        .await
        .unwrap();
    problem(stale, StatusCode::PRECONDITION_FAILED).await;
    let create_only = put(json!({"data": 4}))
        .header("if-none-match", "*")
        .send()
        .await
        .unwrap();
    problem(create_only, StatusCode::PRECONDITION_FAILED).await;
    let current: Value = stack
        .http
        .get(stack.item_url("doc"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["data"], 2, "failed preconditions changed nothing");

    let changed = stack
        .http
        .get(stack.item_url("doc"))
        .bearer_auth(&token)
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        changed.status(),
        200,
        "an old etag does not match the new version"
    );
}

#[tokio::test]
async fn scopes_are_enforced_with_rfc6750_challenges() {
    let stack = Stack::start().await;
    let (reader, _) = stack.login("reader").await;
    let write = stack
        .http
        .put(stack.item_url("x"))
        .bearer_auth(&reader)
        .json(&json!({"data": 1}))
        .send()
        .await
        .unwrap();
    let challenge = write.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(challenge.contains("items:write"), "{challenge}");
    problem(write, StatusCode::FORBIDDEN).await;
    let read = stack
        .http
        .get(stack.item_url("x"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(
        read.status(),
        404,
        "reading is allowed (and the item is absent)"
    );
}

#[tokio::test]
async fn bad_input_gets_clear_4xx_problems() {
    let stack = Stack::start().await;
    let (token, _) = stack.login("alice").await;
    let put = |body: &'static str| {
        stack
            .http
            .put(stack.item_url("x"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
    };
    for body in [
        "{",
        "[]",
        "{}",
        r#"{"data": 1, "extra": 2}"#,
        r#"{"dat": 1}"#,
        "\u{0}",
    ] {
        problem(put(body).send().await.unwrap(), StatusCode::BAD_REQUEST).await;
    }
    let text = stack
        .http
        .put(stack.item_url("x"))
        .bearer_auth(&token)
        .body(r#"{"data":1}"#)
        .send()
        .await
        .unwrap();
    problem(text, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    // Data just over 1 MiB, and a body far over any limit.
    for size in [1024 * 1024 + 10, 3 * 1024 * 1024] {
        let huge = format!(r#"{{"data":"{}"}}"#, "a".repeat(size));
        let oversized = stack
            .http
            .put(stack.item_url("x"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(huge)
            .send()
            .await
            .unwrap();
        problem(oversized, StatusCode::PAYLOAD_TOO_LARGE).await;
    }
    let absent = stack
        .http
        .get(stack.item_url("x"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        absent.status(),
        404,
        "nothing was stored by the refused writes"
    );

    for id in ["a%2Fb", "a%20b", &"x".repeat(129), "%FF"] {
        let response = stack
            .http
            .get(stack.item_url(id))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        problem(response, StatusCode::BAD_REQUEST).await;
    }
    let list = stack
        .http
        .get(format!("{}/v1/items?limit=0", stack.data_api))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    problem(list, StatusCode::BAD_REQUEST).await;
    let list = stack
        .http
        .get(format!("{}/v1/items?cursor=a/b", stack.data_api))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    problem(list, StatusCode::BAD_REQUEST).await;

    for bad in [
        "garbage",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.e30.",
        &"x".repeat(9000),
    ] {
        let response = stack
            .http
            .get(stack.item_url("x"))
            .bearer_auth(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer error="invalid_token""#
        );
        problem(response, StatusCode::UNAUTHORIZED).await;
    }
    let unknown_route = stack
        .http
        .get(format!("{}/v2/nothing", stack.data_api))
        .send()
        .await
        .unwrap();
    problem(unknown_route, StatusCode::NOT_FOUND).await;
    let wrong_method = stack
        .http
        .post(stack.item_url("x"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    problem(wrong_method, StatusCode::METHOD_NOT_ALLOWED).await;
}

async fn oauth_error(response: reqwest::Response, status: StatusCode, code: &str) {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("RFC 6749 error JSON");
    assert_eq!(body["error"], code, "{body}");
}

#[tokio::test]
async fn the_token_endpoint_answers_rfc6749_errors() {
    let stack = Stack::start().await;
    let token_url = format!("{}/oauth2/token", stack.issuer);
    let post_form = |body: &'static str| {
        stack
            .http
            .post(&token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    };
    let wrong = stack.login_response("alice", "wrong password").await;
    oauth_error(wrong, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let unknown = stack.login_response("nobody", PASSWORD).await;
    oauth_error(unknown, StatusCode::BAD_REQUEST, "invalid_grant").await;

    let json = stack
        .http
        .post(&token_url)
        .json(&json!({"grant_type": "password"}))
        .send()
        .await
        .unwrap();
    oauth_error(json, StatusCode::BAD_REQUEST, "invalid_request").await;
    let repeated = post_form("grant_type=password&grant_type=password&client_id=portcullis-cli")
        .send()
        .await
        .unwrap();
    oauth_error(repeated, StatusCode::BAD_REQUEST, "invalid_request").await;
    let not_utf8 = stack
        .http
        .post(&token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(&b"grant_type=password&client_id=portcullis-cli&username=%FF"[..])
        .send()
        .await
        .unwrap();
    oauth_error(not_utf8, StatusCode::BAD_REQUEST, "invalid_request").await;
    let unknown_grant = post_form("grant_type=implicit&client_id=portcullis-cli")
        .send()
        .await
        .unwrap();
    oauth_error(
        unknown_grant,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    )
    .await;
    let missing = post_form("client_id=portcullis-cli").send().await.unwrap();
    oauth_error(missing, StatusCode::BAD_REQUEST, "invalid_request").await;
    let no_client = post_form("grant_type=password&username=alice&password=x")
        .send()
        .await
        .unwrap();
    oauth_error(no_client, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let bad_client = post_form("grant_type=password&client_id=evil&username=alice&password=x")
        .send()
        .await
        .unwrap();
    oauth_error(bad_client, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let wrong_grant = post_form("grant_type=client_credentials&client_id=portcullis-cli")
        .send()
        .await
        .unwrap();
    oauth_error(wrong_grant, StatusCode::BAD_REQUEST, "unauthorized_client").await;
    let too_much_scope = stack
        .http
        .post(&token_url)
        .form(&[
            ("grant_type", "password"),
            ("client_id", CLI_CLIENT),
            ("username", "reader"),
            ("password", PASSWORD),
            ("scope", "items:write"),
        ])
        .send()
        .await
        .unwrap();
    oauth_error(too_much_scope, StatusCode::BAD_REQUEST, "invalid_scope").await;
    let oversized = stack
        .http
        .post(&token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=password&password={}",
            "a".repeat(100_000)
        ))
        .send()
        .await
        .unwrap();
    oauth_error(oversized, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request").await;
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    // Without the grace window, which would answer the reuse below with the same successor.
    let stack = Stack::start_with(StackOptions {
        issuer: strict_refresh_reuse(),
        ..Default::default()
    })
    .await;
    let (_, first) = stack.login("alice").await;
    let refresh = |token: String| {
        stack
            .http
            .post(format!("{}/oauth2/token", stack.issuer))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", CLI_CLIENT),
                ("refresh_token", &token),
            ])
            .send()
    };
    let rotated = refresh(first.clone()).await.unwrap();
    assert_eq!(rotated.status(), 200);
    assert_eq!(rotated.headers()["cache-control"], "no-store");
    let body: Value = rotated.json().await.unwrap();
    let second = body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(second, first, "every use rotates");
    let access = body["access_token"].as_str().unwrap();
    let read = stack
        .http
        .get(stack.item_url("x"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 404, "the refreshed access token works");

    oauth_error(
        refresh(first).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    oauth_error(
        refresh(second).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn client_credentials_tokens_carry_the_clients_scope() {
    let stack = Stack::start().await;
    let response = stack
        .http
        .post(format!("{}/oauth2/token", stack.issuer))
        .basic_auth("reporting-job", Some(PASSWORD))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "items:read");
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token for client_credentials"
    );
    let list = stack
        .http
        .get(format!("{}/v1/items", stack.data_api))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let wrong = stack
        .http
        .post(format!("{}/oauth2/token", stack.issuer))
        .basic_auth("reporting-job", Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        wrong.headers()["www-authenticate"],
        r#"Basic realm="portcullis""#
    );
    oauth_error(wrong, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn access_tokens_follow_rfc9068_and_the_jwks_publishes_public_keys() {
    let stack = Stack::start().await;
    let (token, _) = stack.login("alice").await;
    let part = |i: usize| -> Value {
        use base64::Engine;
        let segment = token.split('.').nth(i).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(segment)
                .unwrap(),
        )
        .unwrap()
    };
    let header = part(0);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "at+jwt");
    let claims = part(1);
    assert_eq!(claims["iss"], stack.issuer);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], json!(["data-api"]));
    assert_eq!(claims["client_id"], CLI_CLIENT);
    assert_eq!(claims["scope"], "items:read items:write");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        600
    );
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));

    let jwks = stack
        .http
        .get(format!("{}/.well-known/jwks.json", stack.issuer))
        .send()
        .await
        .unwrap();
    assert!(jwks.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age="));
    let etag = jwks.headers()["etag"].clone();
    let keys: Value = jwks.json().await.unwrap();
    assert_eq!(keys["keys"][0]["kid"], header["kid"]);
    assert!(keys["keys"][0].get("d").is_none());
    let revalidated = stack
        .http
        .get(format!("{}/.well-known/jwks.json", stack.issuer))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
    for path in ["openid-configuration", "oauth-authorization-server"] {
        let doc: Value = stack
            .http
            .get(format!("{}/.well-known/{path}", stack.issuer))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["issuer"], stack.issuer);
        assert_eq!(
            doc["jwks_uri"],
            format!("{}/.well-known/jwks.json", stack.issuer)
        );
    }
}

#[tokio::test]
async fn rate_limits_answer_429_with_headers_and_metrics_count_everything() {
    let stack = Stack::start_with(StackOptions {
        rate_limit: Some("3/min".into()),
        ..Default::default()
    })
    .await;
    let (token, _) = stack.login("alice").await;
    for remaining in [2, 1, 0] {
        let response = stack
            .http
            .get(stack.item_url("x"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
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
    let limited = stack
        .http
        .get(stack.item_url("x"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=120).contains(&retry));
    problem(limited, StatusCode::TOO_MANY_REQUESTS).await;
    let (bob, _) = stack.login("bob").await;
    let other = stack
        .http
        .get(stack.item_url("x"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404, "limits are per subject");

    let bad = stack
        .http
        .get(stack.item_url("x"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let metrics = stack
        .http
        .get(format!("{}/metrics", stack.data_api))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
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
        .http
        .put(stack.item_url("popular"))
        .bearer_auth(&token)
        .json(&json!({"data": "everyone wants this"}))
        .send()
        .await
        .unwrap();
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
    let reads = (0..400).map(|_| {
        let (http, token, url) = (
            stack.http.clone(),
            token.clone(),
            format!("{cold}/v1/items/popular"),
        );
        tokio::spawn(async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    });
    for read in reads {
        assert_eq!(read.await.unwrap(), 200);
    }
    let queries = stack
        .metric(&cold, r#"portcullis_store_queries_total{op="get"}"#)
        .await;
    assert_eq!(
        queries, 1,
        "400 concurrent cold reads share one store query"
    );
}
