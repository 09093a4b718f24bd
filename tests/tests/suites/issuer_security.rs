//! The issuer as an attacker meets it: brute-force limits, audit events (captured from the log
//! and asserted field by field, never containing a secret), and introspection. Refresh-token
//! attacks and races are in `issuer_refresh`.

use portcullis_tests::{strict_refresh_reuse, Stack, StackOptions, CLI_CLIENT, PASSWORD};
use serde_json::Value;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// Audit events written by any service in this test process, one JSON object per line.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn audit_log() -> &'static Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter("portcullis::audit=info")
            .with_writer(move || writer.clone())
            .init();
        captured
    })
}

fn events() -> Vec<Value> {
    let bytes = audit_log().0.lock().unwrap().clone();
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test]
async fn audit_events_record_who_and_why_but_never_a_secret() {
    audit_log();
    // No grace window: the immediate re-presentation below is reuse.
    let stack = Stack::start_with(StackOptions {
        issuer: strict_refresh_reuse(),
        ..Default::default()
    })
    .await;
    let (_, refresh) = stack.login("alice").await;
    let wrong = stack.login_response("alice", "hunter2-wrong").await;
    assert_eq!(wrong.status(), 400);
    let token_url = format!("{}/oauth2/token", stack.issuer);
    let refresh_form = |token: &str| {
        stack
            .http
            .post(&token_url)
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", CLI_CLIENT),
                ("refresh_token", token),
            ])
            .send()
    };
    assert_eq!(refresh_form(&refresh).await.unwrap().status(), 200);
    assert_eq!(refresh_form(&refresh).await.unwrap().status(), 400, "reuse");
    assert_eq!(revoke(&stack, &refresh).await.status(), 200);

    let events = events();
    let find = |event: &str| {
        events
            .iter()
            .find(|e| e["event"] == event)
            .unwrap_or_else(|| panic!("no {event} event in {events:?}"))
            .clone()
    };
    let issued = find("token_issued");
    assert_eq!(issued["username"], "alice");
    assert_eq!(issued["client_id"], CLI_CLIENT);
    assert_eq!(issued["client_ip"], "127.0.0.1");
    let denied = find("token_denied");
    assert_eq!(denied["username"], "alice");
    assert_eq!(denied["reason"], "invalid_grant");
    let reuse = find("refresh_reuse_detected");
    assert_eq!(reuse["username"], "alice");
    find("token_revoked");
    find("key_ring_loaded");
    for event in &events {
        assert!(
            event.get("timestamp").is_some(),
            "every event has a time: {event}"
        );
        let text = event.to_string();
        for secret in [PASSWORD, "hunter2-wrong", refresh.as_str()] {
            assert!(
                !text.contains(secret),
                "a secret reached the audit log: {text}"
            );
        }
    }
    let counted = stack
        .metric(
            &stack.issuer,
            r#"portcullis_audit_events_total{event="refresh_reuse_detected"}"#,
        )
        .await;
    assert_eq!(counted, 1);
}

#[tokio::test]
async fn password_guessing_is_throttled_per_username_even_with_the_right_password() {
    let stack = Stack::start().await;
    for i in 0..5 {
        let response = stack.login_response("bob", &format!("guess {i}")).await;
        assert_eq!(response.status(), 400, "attempt {i} is judged");
    }
    let throttled = stack.login_response("bob", PASSWORD).await;
    assert_eq!(
        throttled.status(),
        429,
        "the sixth attempt in a minute waits, right password or not"
    );
    let retry: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // The five attempts still weigh on the sliding window after the minute slot ends.
    assert!((1..=120).contains(&retry), "{retry}");
    let body: Value = throttled.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    let other = stack.login_response("alice", PASSWORD).await;
    assert_eq!(other.status(), 200, "another username is not affected");
}

#[tokio::test]
async fn the_token_endpoint_is_limited_per_client_ip() {
    let stack = Stack::start().await;
    let mut statuses = Vec::new();
    for _ in 0..62 {
        let response = stack
            .http
            .post(format!("{}/oauth2/token", stack.issuer))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
            ])
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert!(statuses[..60].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(
        &statuses[60..],
        [429, 429],
        "the 61st request from one IP in a minute waits"
    );
}

#[tokio::test]
async fn unknown_users_get_the_same_answer_as_wrong_passwords() {
    let stack = Stack::start().await;
    let unknown = stack.login_response("mallory", "whatever").await;
    let wrong = stack.login_response("alice", "whatever").await;
    assert_eq!(unknown.status(), wrong.status());
    let (unknown, wrong): (Value, Value) =
        (unknown.json().await.unwrap(), wrong.json().await.unwrap());
    assert_eq!(unknown, wrong, "constant-shape answers");
}

/// Asks the issuer about `token` as the confidential client `client`; the answer's body.
async fn introspect(stack: &Stack, client: &str, token: &str) -> Value {
    let response = stack
        .http
        .post(format!("{}/oauth2/introspect", stack.issuer))
        .basic_auth(client, Some(PASSWORD))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

// Changed by issue #17: introspection answers only the resource servers in the token's
// audience (here the confidential client `data-api`), no longer any confidential client.
#[tokio::test]
async fn introspection_tells_resource_servers_whether_a_token_is_active() {
    let stack = Stack::start().await;
    let (access, refresh) = stack.login("alice").await;
    let url = format!("{}/oauth2/introspect", stack.issuer);
    let ask = |token: String| {
        stack
            .http
            .post(&url)
            .basic_auth("data-api", Some(PASSWORD))
            .form(&[("token", token)])
            .send()
    };
    let active = ask(access.clone()).await.unwrap();
    assert_eq!(active.status(), 200);
    assert_eq!(active.headers()["cache-control"], "no-store");
    let body: Value = active.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["client_id"], CLI_CLIENT);
    assert_eq!(body["scope"], "items:read items:write");
    for inactive in [refresh, "garbage".to_string(), format!("{access}x")] {
        let body: Value = ask(inactive).await.unwrap().json().await.unwrap();
        assert_eq!(body, serde_json::json!({"active": false}));
    }
    let public = stack
        .http
        .post(&url)
        .form(&[("client_id", CLI_CLIENT), ("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 401, "public clients may not introspect");
    let anonymous = stack
        .http
        .post(&url)
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        introspect(&stack, "reporting-job", &access).await,
        serde_json::json!({"active": false}),
        "a confidential client outside the token's audience learns nothing"
    );
}

#[tokio::test]
async fn an_access_token_of_a_revoked_session_introspects_inactive() {
    let stack = Stack::start().await;
    let (access, refresh) = stack.login("alice").await;
    assert_eq!(
        introspect(&stack, "data-api", &access).await["active"],
        true
    );
    assert_eq!(revoke(&stack, &refresh).await.status(), 200);
    assert_eq!(
        introspect(&stack, "data-api", &access).await,
        serde_json::json!({"active": false}),
        "logging out ends the session for introspecting resource servers at once"
    );
    let client_token: Value = stack
        .http
        .post(format!("{}/oauth2/token", stack.issuer))
        .basic_auth("reporting-job", Some(PASSWORD))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_token = client_token["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        introspect(&stack, "data-api", &client_token).await["active"],
        true,
        "a token without a session is judged on its signature and claims alone"
    );
}

/// Revokes a refresh token's family as the public client (RFC 7009).
async fn revoke(stack: &Stack, refresh: &str) -> reqwest::Response {
    stack
        .http
        .post(format!("{}/oauth2/revoke", stack.issuer))
        .form(&[("client_id", CLI_CLIENT), ("token", refresh)])
        .send()
        .await
        .expect("revocation answers")
}
