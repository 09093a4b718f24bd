//! Refresh tokens as real clients use them: a refused refresh spends nothing, and concurrent or
//! retried refreshes of one token (an authlib `OAuth2Session` shared by threads, a client that
//! lost the answer) share one successor instead of revoking the session. In memory and on Redis.

use portcullis_tests::{start_redis, strict_refresh_reuse, Stack, StackOptions, CLI_CLIENT};
use serde_json::Value;

/// Presents `token` from `clients` concurrent tasks; the status and body of each answer.
async fn race(stack: &Stack, token: &str, clients: usize) -> Vec<(u16, Value)> {
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, url, token) = (
                stack.http.clone(),
                format!("{}/oauth2/token", stack.issuer),
                token.to_string(),
            );
            tokio::spawn(async move {
                let response = http
                    .post(url)
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("client_id", CLI_CLIENT),
                        ("refresh_token", token.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

/// Six concurrent refreshes of one token all succeed with the same successor, which then works.
async fn concurrent_refreshes_share_one_successor(stack: &Stack) {
    let (_, refresh) = stack.login("alice").await;
    let answers = race(stack, &refresh, 6).await;
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    let successor = answers[0].1["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(successor, refresh);
    assert!(
        answers
            .iter()
            .all(|(_, body)| body["refresh_token"] == successor.as_str()),
        "one successor for every presentation: {answers:?}"
    );
    let next = race(stack, &successor, 1).await;
    assert_eq!(next[0].0, 200, "the session lives on: {next:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_in_memory_share_one_successor() {
    let stack = Stack::start().await;
    concurrent_refreshes_share_one_successor(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_on_redis_share_one_successor() {
    let redis = start_redis().await;
    let stack = Stack::start_with(StackOptions {
        issuer_redis_url: Some(redis.url.clone()),
        ..Default::default()
    })
    .await;
    concurrent_refreshes_share_one_successor(&stack).await;
}

#[tokio::test]
async fn a_refresh_refused_for_its_scope_spends_nothing() {
    // Strict reuse detection, so a token spent by the refused request would show as reuse.
    let stack = Stack::start_with(StackOptions {
        issuer: strict_refresh_reuse(),
        ..Default::default()
    })
    .await;
    // `reader` holds items:read only; the client may ask for items:write, the session may not.
    let (_, refresh) = stack.login("reader").await;
    let refused = stack
        .http
        .post(format!("{}/oauth2/token", stack.issuer))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", CLI_CLIENT),
            ("refresh_token", refresh.as_str()),
            ("scope", "items:write"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");
    let retried = race(&stack, &refresh, 1).await;
    assert_eq!(
        retried[0].0, 200,
        "the token was not spent by the refused request: {retried:?}"
    );
    assert_eq!(retried[0].1["scope"], "items:read");
}
