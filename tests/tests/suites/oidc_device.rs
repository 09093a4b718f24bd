//! Device login (RFC 8628) over HTTP: the answers a polling device hears, the approval page, and
//! the guessing budget on user codes.

use portcullis_tests::{Browser, Stack, PASSWORD, WEB_CLIENT};
use reqwest::StatusCode;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn start_device(stack: &Stack) -> serde_json::Value {
    let response = stack
        .http
        .post(format!("{}/oauth2/device_authorization", stack.issuer))
        .form(&[
            ("client_id", WEB_CLIENT),
            ("client_secret", PASSWORD),
            ("scope", "openid items:read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

async fn poll(stack: &Stack, device: &serde_json::Value) -> (StatusCode, serde_json::Value) {
    let fields = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", device["device_code"].as_str().unwrap()),
    ];
    stack.token_as(WEB_CLIENT, true, &fields).await
}

#[tokio::test]
async fn a_device_hears_pending_slow_down_and_denied_as_rfc_8628_says() {
    let stack = Stack::start().await;
    let device = start_device(&stack).await;
    let user_code = device["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9, "XXXX-XXXX: {user_code}");
    assert_eq!(
        device["verification_uri"],
        format!("{}/device", stack.issuer)
    );
    assert_eq!(
        device["verification_uri_complete"],
        format!("{}/device?user_code={user_code}", stack.issuer)
    );
    assert_eq!(device["interval"], 5);
    let (status, body) = poll(&stack, &device).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("authorization_pending"))
    );
    let (_, body) = poll(&stack, &device).await;
    assert_eq!(body["error"], "slow_down");

    let mut browser = Browser::new(&stack.issuer);
    let login = browser
        .get(device["verification_uri_complete"].as_str().unwrap())
        .await;
    let entry = browser.log_in(&login, "alice", PASSWORD).await;
    // The complete URI fills the code in; looking it up takes the user's own (CSRF-checked) post.
    assert!(
        entry.body.contains(&format!("value=\"{user_code}\"")),
        "{}",
        entry.body
    );
    assert!(!entry.is_consent_page());
    let approval = browser
        .submit(&entry, "/device", &[("user_code", user_code)])
        .await;
    assert!(approval.is_consent_page(), "{}", approval.body);
    assert!(
        approval.body.contains(user_code),
        "the page shows the code to compare"
    );
    assert!(approval.body.contains(WEB_CLIENT) && approval.body.contains("items:read"));
    let done = browser
        .submit(
            &approval,
            "/device",
            &[("user_code", user_code), ("decision", "deny")],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK);
    let (_, body) = stack
        .token_as(
            WEB_CLIENT,
            true,
            &[
                ("grant_type", DEVICE_GRANT),
                ("device_code", device["device_code"].as_str().unwrap()),
            ],
        )
        .await;
    // Still inside the grown interval: the device must slow down before it may hear the answer.
    assert_eq!(body["error"], "slow_down");
    let (_, body) = stack
        .token_as(
            WEB_CLIENT,
            true,
            &[("grant_type", DEVICE_GRANT), ("device_code", "made-up")],
        )
        .await;
    assert_eq!(body["error"], "invalid_grant");
    let again = browser
        .submit(&entry, "/device", &[("user_code", user_code)])
        .await;
    assert!(
        !again.is_consent_page(),
        "a decided user code cannot be used again"
    );
}

#[tokio::test]
async fn user_codes_cannot_be_guessed() {
    let stack = Stack::start().await;
    let mut browser = Browser::new(&stack.issuer);
    let login = browser.get("/device").await;
    let entry = browser.log_in(&login, "alice", PASSWORD).await;
    assert!(entry.body.contains("name=\"user_code\""), "{}", entry.body);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let answer = browser
            .submit(&entry, "/device", &[("user_code", "BCDF-GHJK")])
            .await;
        assert!(!answer.is_consent_page());
        statuses.push(answer.status.as_u16());
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 429],
        "5 unknown codes a minute"
    );
    // Only posts are looked up and charged: a link that sends the browser to a wrong code
    // (another site can do that) neither reveals anything nor spends the budget.
    let fresh = Stack::start().await;
    let mut victim = Browser::new(&fresh.issuer);
    let login = victim.get("/device").await;
    let victim_entry = victim.log_in(&login, "alice", PASSWORD).await;
    for _ in 0..10 {
        let page = victim.get("/device?user_code=BCDF-GHJK").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.is_consent_page());
    }
    let device = start_device(&fresh).await;
    let approval = victim
        .submit(
            &victim_entry,
            "/device",
            &[("user_code", device["user_code"].as_str().unwrap())],
        )
        .await;
    assert!(approval.is_consent_page(), "the budget is untouched");
    let device = start_device(&stack).await;
    let code = device["user_code"].as_str().unwrap();
    let throttled = browser
        .submit(&entry, "/device", &[("user_code", code)])
        .await;
    assert_eq!(
        throttled.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even a right code waits"
    );
    let unknown = stack
        .metric(
            &stack.issuer,
            "portcullis_audit_events_total{event=\"device_code_unknown\"}",
        )
        .await;
    assert_eq!(unknown, 5);
}
