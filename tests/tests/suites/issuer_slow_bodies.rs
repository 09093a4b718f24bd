//! Slow bodies: clients that send a token request's head and a `Content-Length`, then nothing.
//! They must be charged to their address before their body is awaited, and they must never
//! keep verifiers from the keys (JWKS and discovery live outside the request slots).

use portcullis_tests::{Stack, StackOptions, CLI_CLIENT};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens a connection that sends a token request's head promising a body, and never sends it.
async fn slow_body(stack: &Stack) -> TcpStream {
    let address = stack.issuer.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /oauth2/token HTTP/1.1\r\nHost: {address}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// Lets the issuer read the heads just sent: an ordering wait, nothing is asserted on time.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

async fn client_credentials(stack: &Stack) -> u16 {
    stack
        .http
        .post(format!("{}/oauth2/token", stack.issuer))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLI_CLIENT),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_request_is_charged_to_its_address_before_its_body_is_awaited() {
    let stack = Stack::start_with(StackOptions {
        issuer: Some(Arc::new(|config: &mut auth_issuer::Args| {
            config.ip_rate_limit = "3/min".parse().unwrap();
        })),
        ..Default::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(slow_body(&stack).await);
    }
    settle().await;
    assert_eq!(
        client_credentials(&stack).await,
        429,
        "three requests from this address were charged though their bodies never came"
    );
}

#[tokio::test]
async fn verifiers_get_the_keys_while_every_request_slot_is_taken() {
    let stack = Stack::start_with(StackOptions {
        issuer: Some(Arc::new(|config: &mut auth_issuer::Args| {
            config.transport.max_concurrent_requests = 2;
            // The withheld bodies must hold their slots for the whole test.
            config.transport.body_read_timeout = config.transport.request_timeout;
            config.ip_rate_limit = "1000/min".parse().unwrap();
        })),
        ..Default::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(slow_body(&stack).await);
    }
    settle().await;
    assert_eq!(
        client_credentials(&stack).await,
        503,
        "the two slots are taken"
    );
    for path in [
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let response = stack
            .http
            .get(format!("{}{path}", stack.issuer))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path} answers outside the slots");
    }
}

#[tokio::test]
async fn a_withheld_body_gets_an_oauth_error_after_the_body_read_timeout() {
    let stack = Stack::start_with(StackOptions {
        issuer: Some(Arc::new(|config: &mut auth_issuer::Args| {
            config.transport.body_read_timeout = Duration::from_millis(300);
        })),
        ..Default::default()
    })
    .await;
    let mut stream = slow_body(&stack).await;
    let mut answer = Vec::new();
    // Bounded so a broken limit fails the test instead of hanging it; the request timeout
    // (10 s) is what would answer without the body-read timeout.
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains(r#""error":"invalid_request""#),
        "an RFC 6749 error: {answer}"
    );
}
