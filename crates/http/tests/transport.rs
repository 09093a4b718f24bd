//! Transport limits on a real listener: slow clients, oversized heads, overload, timeouts, CORS,
//! banners and graceful drain.

mod support;

use portcullis_http::transport::TransportSettings;
use std::net::SocketAddr;
use std::time::Duration;
use support::{serve, Running};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends a raw request and reads the whole answer (the request asks the server to close).
async fn exchange(addr: SocketAddr, raw: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(raw.as_bytes()).await.expect("write");
    read_to_close(&mut stream).await
}

async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes within 10 s")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

fn get_request(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n{extra}Connection: close\r\n\r\n")
}

fn status_line(answer: &str) -> &str {
    answer.lines().next().unwrap_or("")
}

#[tokio::test]
async fn a_client_trickling_headers_is_cut_off_while_others_are_served() {
    let running = serve(TransportSettings {
        header_read_timeout: Duration::from_millis(500),
        ..TransportSettings::default()
    })
    .await;
    let mut slow = TcpStream::connect(running.addr).await.expect("connect");
    slow.write_all(b"GET /fast HTTP/1.1\r\nHost: test\r\n")
        .await
        .expect("write the request line");
    // Trickle one header every 100 ms for up to 20 s; the server must hang up long before.
    let mut cut_off_after = None;
    for sent in 0..200 {
        let answer = exchange(running.addr, &get_request("/fast", "")).await;
        assert!(
            status_line(&answer).contains("200"),
            "normal client: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        if slow
            .write_all(format!("X-Trickle-{sent}: a\r\n").as_bytes())
            .await
            .is_err()
        {
            cut_off_after = Some(sent);
            break;
        }
        let mut probe = [0_u8; 1];
        if let Ok(read) =
            tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await
        {
            // EOF (or a reset) means the server closed the connection.
            if matches!(read, Ok(0) | Err(_)) {
                cut_off_after = Some(sent);
                break;
            }
        }
    }
    let headers_sent = cut_off_after.expect("the trickling client was never disconnected");
    assert!(
        headers_sent < 200,
        "disconnected only after {headers_sent} headers"
    );
}

#[tokio::test]
async fn oversized_request_heads_get_431() {
    let running = serve(TransportSettings::default()).await;
    let big = format!("X-Big: {}\r\n", "a".repeat(20 * 1024));
    let answer = exchange(running.addr, &get_request("/fast", &big)).await;
    assert!(status_line(&answer).contains("431"), "{answer}");
    let fine = exchange(running.addr, &get_request("/fast", "X-Small: a\r\n")).await;
    assert!(status_line(&fine).contains("200"), "{fine}");
}

#[tokio::test]
async fn beyond_the_concurrency_limit_requests_are_shed_but_probes_answer() {
    let running = serve(TransportSettings {
        max_concurrent_requests: 2,
        ..TransportSettings::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(running.addr).await.expect("connect");
        stream
            .write_all(get_request("/slow", "").as_bytes())
            .await
            .expect("write");
        held.push(stream);
    }
    // Wait until both slow requests hold their slots: then a third is shed at once.
    let mut shed = String::new();
    for _ in 0..100 {
        shed = exchange(running.addr, &get_request("/fast", "")).await;
        if status_line(&shed).contains("503") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(status_line(&shed).contains("503"), "{shed}");
    assert!(shed.contains("application/problem+json"), "{shed}");
    assert!(
        shed.to_ascii_lowercase().contains("retry-after: 1"),
        "{shed}"
    );
    for probe in ["/healthz", "/readyz", "/metrics"] {
        let answer = exchange(running.addr, &get_request(probe, "")).await;
        assert!(
            status_line(&answer).contains("200"),
            "{probe} under overload: {answer}"
        );
    }
    running.gate.add_permits(2);
    for mut stream in held {
        let answer = read_to_close(&mut stream).await;
        assert!(status_line(&answer).contains("200"), "{answer}");
    }
    let after = exchange(running.addr, &get_request("/fast", "")).await;
    assert!(status_line(&after).contains("200"), "{after}");
}

#[tokio::test]
async fn a_request_running_past_the_timeout_gets_a_503_problem() {
    let running = serve(TransportSettings {
        request_timeout: Duration::from_millis(200),
        ..TransportSettings::default()
    })
    .await;
    let answer = exchange(running.addr, &get_request("/slow", "")).await;
    assert!(status_line(&answer).contains("503"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(
        answer.contains("longer than the service allows"),
        "{answer}"
    );
}

#[tokio::test]
async fn cors_is_off_by_default_and_answers_only_allowed_origins_when_on() {
    let preflight = |origin: &str| {
        format!(
            "OPTIONS /fast HTTP/1.1\r\nHost: test\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: authorization\r\nConnection: close\r\n\r\n"
        )
    };
    let off = serve(TransportSettings::default()).await;
    let answer = exchange(off.addr, &preflight("https://app.example.com")).await;
    assert!(
        !answer
            .to_ascii_lowercase()
            .contains("access-control-allow-origin"),
        "{answer}"
    );

    let on = serve(
        TransportSettings::new(
            "TEST",
            Duration::from_secs(10),
            Duration::from_secs(5),
            16,
            Duration::from_secs(1),
            &["https://app.example.com".to_string()],
        )
        .expect("valid settings"),
    )
    .await;
    let allowed = exchange(on.addr, &preflight("https://app.example.com"))
        .await
        .to_ascii_lowercase();
    assert!(
        allowed.contains("access-control-allow-origin: https://app.example.com"),
        "{allowed}"
    );
    assert!(allowed.contains("authorization"), "{allowed}");
    let other = exchange(on.addr, &preflight("https://evil.example.net"))
        .await
        .to_ascii_lowercase();
    assert!(!other.contains("access-control-allow-origin"), "{other}");
}

#[tokio::test]
async fn answers_carry_security_headers_and_no_version_banner() {
    let running = serve(TransportSettings::default()).await;
    for path in ["/fast", "/nowhere"] {
        let answer = exchange(running.addr, &get_request(path, ""))
            .await
            .to_ascii_lowercase();
        assert!(
            answer.contains("x-content-type-options: nosniff"),
            "{answer}"
        );
        assert!(answer.contains("x-request-id: "), "{answer}");
        assert!(!answer.contains("\r\nserver:"), "{answer}");
        assert!(!answer.contains("x-powered-by"), "{answer}");
    }
}

/// Sends a request to `/slow`, lets it reach its handler, then signals shutdown.
async fn slow_request_then_stop(running: &mut Running) -> TcpStream {
    let mut stream = TcpStream::connect(running.addr).await.expect("connect");
    stream
        .write_all(get_request("/slow", "").as_bytes())
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    running
        .stop
        .take()
        .expect("not stopped")
        .send(())
        .expect("server alive");
    stream
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests_and_refuses_new_ones() {
    let mut running = serve(TransportSettings::default()).await;
    let mut in_flight = slow_request_then_stop(&mut running).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        TcpStream::connect(running.addr).await.is_err(),
        "the listener is closed once shutdown starts"
    );
    assert!(
        !running.done.is_finished(),
        "the server waits for the in-flight request"
    );
    running.gate.add_permits(1);
    let answer = read_to_close(&mut in_flight).await;
    assert!(status_line(&answer).contains("200"), "{answer}");
    tokio::time::timeout(Duration::from_secs(10), running.done)
        .await
        .expect("the server stops once drained")
        .expect("task")
        .expect("serve");
}

#[tokio::test]
async fn shutdown_gives_up_on_requests_that_outlive_the_grace() {
    let mut running = serve(TransportSettings {
        shutdown_grace: Duration::from_millis(300),
        ..TransportSettings::default()
    })
    .await;
    let _stuck = slow_request_then_stop(&mut running).await;
    tokio::time::timeout(Duration::from_secs(10), running.done)
        .await
        .expect("the server stops after the grace even though a request never ends")
        .expect("task")
        .expect("serve");
}
