//! What an outside review of the data API found, each case reproduced over HTTP: unbounded list
//! pages, no per-owner quotas, precondition and rate-limit header slips, requests waiting on key
//! fetches, counters missing until their first event, and documents nested to any depth.

use portcullis_tests::{now, sign_rs256, Stack, StackOptions, CLI_CLIENT};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn tweak(f: impl Fn(&mut data_api::Args) + Send + Sync + 'static) -> StackOptions {
    StackOptions {
        data_api: Some(Arc::new(f)),
        ..StackOptions::default()
    }
}

async fn put(stack: &Stack, token: &str, id: &str, data: &Value) -> reqwest::Response {
    stack.put_item(token, id, &json!({ "data": data })).await
}

async fn problem(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    response.json().await.expect("problem json")
}

#[tokio::test]
async fn a_list_page_is_bounded_by_bytes_and_next_continues_it() {
    // 1 MiB pages by default: 600 kB documents come two to a page, whatever `limit` says.
    let stack = Stack::start().await;
    let (token, _) = stack.login("alice").await;
    let document = json!("x".repeat(600_000));
    for id in ["a", "b", "c", "d", "e"] {
        assert_eq!(put(&stack, &token, id, &document).await.status(), 200);
    }
    let (mut seen, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let mut url = format!("{}/v1/items?limit=1000", stack.data_api);
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page: Value = stack
            .http
            .get(url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = page["items"].as_array().expect("items");
        assert!(
            items.len() <= 2,
            "a page stops once it holds 1 MiB: {}",
            items.len()
        );
        seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_string()));
        pages += 1;
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["a", "b", "c", "d", "e"],
        "next continues where a page ended"
    );
    assert_eq!(pages, 3);
}

#[tokio::test]
async fn owners_have_quotas_that_name_themselves() {
    let stack = Stack::start_with(tweak(|c| {
        c.max_items_per_owner = 2;
        c.max_mib_per_owner = 1;
    }))
    .await;
    let (alice, _) = stack.login("alice").await;
    assert_eq!(put(&stack, &alice, "one", &json!(1)).await.status(), 200);
    assert_eq!(put(&stack, &alice, "two", &json!(2)).await.status(), 200);
    let refused = problem(
        put(&stack, &alice, "three", &json!(3)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        refused["detail"].as_str().unwrap().contains("items quota"),
        "{refused}"
    );
    // Bytes: two 600 kB documents are over 1 MiB.
    let big = json!("y".repeat(600_000));
    assert_eq!(put(&stack, &alice, "one", &big).await.status(), 200);
    let refused = problem(
        put(&stack, &alice, "two", &big).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        refused["detail"].as_str().unwrap().contains("bytes quota"),
        "{refused}"
    );
    // Nothing was stored by the refused writes, and other owners are unaffected.
    let two: Value = stack.get_item(&alice, "two").await.json().await.unwrap();
    assert_eq!(two["data"], 2);
    let (bob, _) = stack.login("bob").await;
    assert_eq!(put(&stack, &bob, "three", &json!(3)).await.status(), 200);
}

#[tokio::test]
async fn preconditions_follow_rfc9110() {
    let stack = Stack::start().await;
    let (token, _) = stack.login("alice").await;
    let written = put(&stack, &token, "x", &json!(1)).await;
    let etag = written.headers()["etag"].to_str().unwrap().to_string();
    let conditional = |name: &'static str, value: String| {
        stack
            .http
            .put(stack.item_url("x"))
            .bearer_auth(&token)
            .header(name, value)
            .json(&json!({"data": 2}))
            .send()
    };
    // The review's case: a well-formed tag the API never issued is a failed condition.
    for never_matches in [
        r#""bogus""#.to_string(),
        format!("W/{etag}"),
        r#""999998", "999999""#.into(),
    ] {
        let response = conditional("if-match", never_matches.clone())
            .await
            .unwrap();
        assert_eq!(response.status(), 412, "If-Match: {never_matches}");
    }
    let weakly_current = conditional("if-none-match", format!("W/{etag}"))
        .await
        .unwrap();
    assert_eq!(
        weakly_current.status(),
        412,
        "If-None-Match compares weakly"
    );
    for malformed in ["bogus", r#""a b""#, r#""1" "2""#] {
        let response = conditional("if-match", malformed.into()).await.unwrap();
        assert_eq!(response.status(), 400, "If-Match: {malformed}");
    }
    let listed = conditional("if-match", format!(r#""bogus", {etag}"#))
        .await
        .unwrap();
    assert_eq!(listed.status(), 200, "a list matches when one tag does");
}

#[tokio::test]
async fn a_429_says_the_same_true_wait_in_retry_after_and_ratelimit() {
    let stack = Stack::start_with(StackOptions {
        rate_limit: Some("3/10s".into()),
        ..StackOptions::default()
    })
    .await;
    let (token, _) = stack.login("alice").await;
    let mut limited = None;
    for _ in 0..4 {
        let response = stack.get_item(&token, "x").await;
        if response.status() == 429 {
            limited = Some(response);
        }
    }
    let limited = limited.expect("the fourth request in 10 s is limited");
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let ratelimit = limited.headers()["ratelimit"].to_str().unwrap();
    assert_eq!(ratelimit, format!("\"10s\";r=0;t={retry_after}"));
    // A full 10 s slot with an empty previous one frees up after the slot ends, plus the
    // share of it still inside the window: more than one second, never the constant 1.
    assert!(retry_after > 1, "{retry_after}");
}

/// A fake issuer that answers discovery at once, and the JWKS at once the first time and then
/// only when released: an issuer that has become slow.
struct SlowIssuer {
    url: String,
    jwks_requests: Arc<AtomicUsize>,
    release: Arc<tokio::sync::Notify>,
}

async fn slow_issuer(jwks: String) -> SlowIssuer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let discovery = json!({"issuer": url, "jwks_uri": format!("{url}/jwks")}).to_string();
    let jwks_requests = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(tokio::sync::Notify::new());
    let (count, gate) = (jwks_requests.clone(), release.clone());
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let (discovery, jwks, count, gate) =
                (discovery.clone(), jwks.clone(), count.clone(), gate.clone());
            tokio::spawn(async move {
                let mut head = vec![0; 4096];
                let n = socket.read(&mut head).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&head[..n]);
                let body = if head.starts_with("GET /jwks") {
                    if count.fetch_add(1, Ordering::SeqCst) > 0 {
                        gate.notified().await;
                    }
                    jwks
                } else {
                    discovery
                };
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    SlowIssuer {
        url,
        jwks_requests,
        release,
    }
}

#[tokio::test]
async fn an_unknown_kid_is_answered_at_once_while_a_slow_refetch_runs() {
    let pem = portcullis_jwt::generate_rsa_pem().unwrap();
    let key = portcullis_jwt::SigningKey::from_pem(&pem).unwrap();
    let jwks = json!({ "keys": [key.jwk()] }).to_string();
    let issuer = slow_issuer(jwks).await;
    let dir = tempfile::tempdir().unwrap();
    let options = tweak(|c| c.jwks_unknown_kid_cooldown = Duration::from_millis(1));
    let data_api = Stack::start_data_api(&issuer.url, dir.path().join("items.db"), &options).await;
    let http = reqwest::Client::builder()
        // A guard only: before the fix this request waited for the held fetch, forever here.
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    for _ in 0..200 {
        if http
            .get(format!("{data_api}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let claims = json!({
        "iss": issuer.url, "sub": "alice", "aud": ["data-api"], "exp": now() + 300,
        "iat": now(), "jti": "kid", "client_id": CLI_CLIENT, "scope": "items:read",
    });
    let valid = sign_rs256(
        &pem,
        &json!({"alg": "RS256", "typ": "at+jwt", "kid": key.kid()}),
        &claims,
    );
    let unknown = sign_rs256(
        &pem,
        &json!({"alg": "RS256", "typ": "at+jwt", "kid": "rotated-in"}),
        &claims,
    );
    let call = |token: String| {
        http.get(format!("{data_api}/v1/items/x"))
            .bearer_auth(token)
            .send()
    };
    for _ in 0..20 {
        let response = call(unknown.clone())
            .await
            .expect("answered while the fetch is held");
        assert_eq!(response.status(), 401);
    }
    assert_eq!(
        issuer.jwks_requests.load(Ordering::SeqCst),
        2,
        "the start-up fetch and one refetch, which is still held"
    );
    assert_eq!(
        call(valid).await.unwrap().status(),
        404,
        "known keys still work"
    );
    issuer.release.notify_waiters();
}

#[tokio::test]
async fn labelled_counters_are_exported_at_zero_from_start_up() {
    let stack = Stack::start().await;
    let metrics = stack.metrics_text(&stack.data_api).await;
    for series in [
        r#"portcullis_cache_requests_total{result="hit"} 0"#,
        r#"portcullis_cache_requests_total{result="bypass"} 0"#,
        r#"portcullis_ratelimit_decisions_total{decision="limited"} 0"#,
        r#"portcullis_ratelimit_decisions_total{decision="fallback"} 0"#,
        r#"portcullis_auth_failures_total{reason="signature"} 0"#,
        r#"portcullis_auth_failures_total{reason="unknown_kid"} 0"#,
        r#"portcullis_store_queries_total{op="list"} 0"#,
    ] {
        assert!(
            metrics.lines().any(|l| l == series),
            "{series} missing:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn deeply_nested_documents_are_refused() {
    let stack = Stack::start().await;
    let (token, _) = stack.login("alice").await;
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let send = |data: String| {
        stack
            .http
            .put(stack.item_url("deep"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(format!(r#"{{"data":{data}}}"#))
            .send()
    };
    // The review's case: half a million levels were stored and served.
    let bomb = problem(
        send(nested(500_000)).await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        bomb["detail"].as_str().unwrap().contains("64 levels"),
        "{bomb}"
    );
    assert_eq!(send(nested(64)).await.unwrap().status(), 200);
}
