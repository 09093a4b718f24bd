//! Brute-force limits an attacker cannot turn against the user: only failed password checks
//! count, per username and client address first, and a successful login clears them. The
//! issuer trusts 127.0.0.1 as a proxy here, so each request picks its client address with
//! `X-Forwarded-For`.

use portcullis_tests::{Stack, StackOptions, CLI_CLIENT, PASSWORD};
use std::sync::Arc;

async fn stack() -> Stack {
    Stack::start_with(StackOptions {
        issuer: Some(Arc::new(|config: &mut auth_issuer::Args| {
            config.trusted_proxies = "127.0.0.1".parse().unwrap();
        })),
        ..Default::default()
    })
    .await
}

/// A password login of `user` by `client` from the client address `from`; the status.
async fn login(stack: &Stack, from: &str, client: &str, user: &str, password: &str) -> u16 {
    stack
        .http
        .post(format!("{}/oauth2/token", stack.issuer))
        .header("x-forwarded-for", from)
        .form(&[
            ("grant_type", "password"),
            ("client_id", client),
            ("username", user),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn requests_with_a_made_up_client_never_charge_the_user() {
    let stack = stack().await;
    // The reviewed attack: requests naming the user with a client that does not exist, right
    // password or not, then the real login.
    for i in 0..10 {
        let password = if i % 2 == 0 { PASSWORD } else { "guess" };
        let status = login(&stack, "192.0.2.66", "made-up-client", "alice", password).await;
        assert_eq!(status, 401, "attempt {i}: invalid_client");
    }
    assert_eq!(
        login(&stack, "192.0.2.66", CLI_CLIENT, "alice", PASSWORD).await,
        200
    );
    assert_eq!(
        login(&stack, "192.0.2.10", CLI_CLIENT, "alice", PASSWORD).await,
        200
    );
}

#[tokio::test]
async fn failures_from_one_address_do_not_lock_out_another() {
    let stack = stack().await;
    let mut statuses = Vec::new();
    for i in 0..20 {
        statuses.push(
            login(
                &stack,
                "192.0.2.66",
                CLI_CLIENT,
                "bob",
                &format!("guess {i}"),
            )
            .await,
        );
    }
    assert!(statuses[..5].iter().all(|s| *s == 400), "{statuses:?}");
    assert!(
        statuses[5..].iter().all(|s| *s == 429),
        "the attacking address is throttled: {statuses:?}"
    );
    assert_eq!(
        login(&stack, "192.0.2.66", CLI_CLIENT, "bob", PASSWORD).await,
        429,
        "the attacking address waits, right password or not"
    );
    assert_eq!(
        login(&stack, "198.51.100.7", CLI_CLIENT, "bob", PASSWORD).await,
        200,
        "the user's own address is not locked out"
    );
}

#[tokio::test]
async fn correct_logins_are_never_throttled_and_success_clears_failures() {
    let stack = stack().await;
    for i in 0..10 {
        assert_eq!(
            login(&stack, "192.0.2.20", CLI_CLIENT, "alice", PASSWORD).await,
            200,
            "correct login {i} in a minute"
        );
    }
    // Four typos, a success, four more typos: the success forgot the first four.
    for round in 0..2 {
        for i in 0..4 {
            let status = login(&stack, "192.0.2.20", CLI_CLIENT, "bob", "typo").await;
            assert_eq!(status, 400, "round {round}, typo {i}");
        }
        assert_eq!(
            login(&stack, "192.0.2.20", CLI_CLIENT, "bob", PASSWORD).await,
            200,
            "round {round}: the right password after four typos"
        );
    }
}

#[tokio::test]
async fn impossible_usernames_are_refused_before_any_limiter() {
    let stack = stack().await;
    let long = "n".repeat(15_000);
    for name in [long.as_str(), "tab\tname"] {
        assert_eq!(
            login(&stack, "192.0.2.30", CLI_CLIENT, name, "whatever").await,
            400,
            "the answer of an unknown user"
        );
    }
}
