//! Per-client transport limits on a real listener: a client that withholds its body is answered
//! after the body-read timeout, not the request timeout, and one client address cannot hold
//! more than its share of the request slots, and a client that stops reading its response is
//! disconnected.

mod support;

use axum::routing::{get, post};
use axum::Router;
use portcullis_http::transport::TransportSettings;
use std::time::Duration;
use support::Running;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response far larger than the socket buffers of both ends can hold.
const LARGE_BODY: usize = 64 << 20;

/// Serves `/echo` (reads the whole body) and `/large` beside the suites' `/fast` and `/slow`.
async fn serve(transport: TransportSettings) -> Running {
    let routes = Router::new()
        .route("/echo", post(|body: bytes::Bytes| async move { body }))
        .route(
            "/large",
            get(|| async { bytes::Bytes::from(vec![b'x'; LARGE_BODY]) }),
        );
    support::serve_with(transport, routes).await
}

/// Reads an answer's status line; gives up after 10 s (the services here answer long before).
async fn status_line(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    let read = async {
        while !answer.windows(2).any(|w| w == b"\r\n") {
            let n = stream.read(&mut buffer).await.expect("read");
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("an answer within 10 s");
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().unwrap_or_default().to_string()
}

fn settings(request_timeout: Duration) -> TransportSettings {
    TransportSettings {
        request_timeout,
        body_read_timeout: Duration::from_millis(300),
        max_concurrent_requests_per_client: 2,
        ..TransportSettings::default()
    }
}

#[tokio::test]
async fn a_withheld_body_is_answered_after_the_body_read_timeout() {
    // A request timeout far beyond the 10 s this test waits: only the body-read timeout can
    // answer in time.
    let running = serve(settings(Duration::from_secs(60))).await;
    let mut stream = TcpStream::connect(running.addr).await.unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
        .await
        .unwrap();
    let status = status_line(&mut stream).await;
    assert!(
        status.starts_with("HTTP/1.1 4"),
        "a client error for the unread body: {status}"
    );
}

#[tokio::test]
async fn one_client_address_holds_at_most_its_share_of_the_slots() {
    let running = serve(settings(Duration::from_secs(60))).await;
    let (addr, gate) = (running.addr, running.gate.clone());
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        held.push(stream);
    }
    // Wait (not assert on time) until both are in flight: a third is then refused.
    let mut refused = None;
    for _ in 0..100 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let status = status_line(&mut stream).await;
        if !status.contains(" 200 ") {
            refused = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = refused.expect("a third request from the address is refused");
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    gate.add_permits(2);
    for mut stream in held {
        assert!(status_line(&mut stream).await.contains(" 200 "));
    }
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(
        status_line(&mut stream).await.contains(" 200 "),
        "the address's slots are back"
    );
}

#[tokio::test]
async fn a_client_that_stops_reading_its_response_is_disconnected() {
    let running = serve(TransportSettings {
        response_stall_timeout: Duration::from_millis(300),
        ..TransportSettings::default()
    })
    .await;
    let mut stream = TcpStream::connect(running.addr).await.expect("connect");
    stream
        .write_all(b"GET /large HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    // Read nothing for well past the stall timeout: the server's writes stop making progress.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut received));
    // Before the guard the server waited for as long as it took and the whole body arrived; now
    // the connection ends with what the kernel had buffered (an error or an early end).
    let _ = read.await.expect("the connection ends within 20 s");
    assert!(
        received.len() < LARGE_BODY,
        "the response was cut off: {} of {LARGE_BODY} bytes",
        received.len()
    );
}
