//! HTTPS: an issuer serving TLS with a private CA, a data API trusting it for its keys, a
//! certificate renewed on disk while connections stay open, and clients that do not speak TLS.

use portcullis_tests::{Stack, StackOptions, TestCa, CLI_CLIENT, PASSWORD};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The issuer with a certificate from a fresh CA, and the data API trusting that CA.
struct TlsStack {
    stack: Stack,
    ca: TestCa,
    cert: PathBuf,
    key: PathBuf,
    /// The DER of the certificate served at start.
    first: Vec<u8>,
    /// Holds the certificate files.
    dir: tempfile::TempDir,
}

async fn start(header_read_timeout: Duration) -> TlsStack {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let ca = TestCa::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name);
    let (cert, key, ca_file) = (path("tls.crt"), path("tls.key"), path("ca.pem"));
    let first = ca.write_server_pair(&cert, &key);
    std::fs::write(&ca_file, ca.pem()).expect("write CA");
    let (issuer_cert, issuer_key) = (cert.clone(), key.clone());
    let stack = Stack::start_with(StackOptions {
        issuer_https: true,
        issuer: Some(Arc::new(move |args: &mut auth_issuer::Args| {
            args.transport.tls_cert = Some(issuer_cert.clone());
            args.transport.tls_key = Some(issuer_key.clone());
            args.transport.header_read_timeout = header_read_timeout;
        })),
        data_api: Some(Arc::new(move |args: &mut data_api::Args| {
            args.issuer_ca = Some(ca_file.clone());
        })),
        ..StackOptions::default()
    })
    .await;
    assert!(
        stack.issuer.starts_with("https://localhost:"),
        "{}",
        stack.issuer
    );
    TlsStack {
        stack,
        ca,
        cert,
        key,
        first,
        dir,
    }
}

/// The CA file [`start`] wrote next to a certificate.
fn tls_ca_file(beside: &std::path::Path) -> PathBuf {
    beside.with_file_name("ca.pem")
}

/// A client that trusts the test CA only and reports the certificate each response came over.
fn client(ca: &TestCa) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).expect("CA"))
        .tls_info(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// The DER of the server certificate a response came over.
fn peer_certificate(response: &reqwest::Response) -> Vec<u8> {
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("a TLS response carries the server certificate")
        .to_vec()
}

async fn healthz(client: &reqwest::Client, base: &str) -> reqwest::Response {
    let response = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz over TLS");
    assert_eq!(response.status(), 200);
    response
}

#[tokio::test]
async fn a_data_api_trusts_an_https_issuer_through_its_private_ca() {
    let tls = start(Duration::from_secs(5)).await;
    let (stack, https) = (&tls.stack, client(&tls.ca));

    let service = https
        .post(format!("{}/oauth2/token", stack.issuer))
        .basic_auth("reporting-job", Some(PASSWORD))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token over TLS");
    assert_eq!(peer_certificate(&service), tls.first);
    assert_eq!(service.status(), 200);
    let service: Value = service.json().await.unwrap();
    let list = stack
        .http
        .get(format!("{}/v1/items", stack.data_api))
        .bearer_auth(service["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        list.status(),
        200,
        "the data API verified the service's token"
    );

    let login: Value = https
        .post(format!("{}/oauth2/token", stack.issuer))
        .form(&[
            ("grant_type", "password"),
            ("client_id", CLI_CLIENT),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().expect("alice's token");
    let item = format!("{}/v1/items/over-tls", stack.data_api);
    let put = stack
        .http
        .put(&item)
        .bearer_auth(token)
        .json(&json!({"data": {"hops": "tls"}}))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "PUT: {}", put.status());
    let got: Value = stack
        .http
        .get(&item)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"], json!({"hops": "tls"}));

    // A data API replica serving HTTPS itself, with the same kind of pair.
    let (cert, key) = (
        tls.dir.path().join("api.crt"),
        tls.dir.path().join("api.key"),
    );
    let api_cert = tls.ca.write_server_pair(&cert, &key);
    let replica = Stack::start_data_api(
        &stack.issuer,
        tls.dir.path().join("replica.db"),
        &StackOptions {
            data_api: Some(Arc::new(move |args: &mut data_api::Args| {
                args.transport.tls_cert = Some(cert.clone());
                args.transport.tls_key = Some(key.clone());
                args.issuer_ca = Some(tls_ca_file(&cert));
            })),
            ..StackOptions::default()
        },
    )
    .await
    .replace("http://127.0.0.1:", "https://localhost:");
    let ready = async {
        loop {
            let answer = https.get(format!("{replica}/readyz")).send().await;
            if answer.is_ok_and(|r| r.status() == 200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), ready)
        .await
        .expect("the TLS data API never became ready");
    let listed = https
        .get(format!("{replica}/v1/items"))
        .bearer_auth(token)
        .send()
        .await
        .expect("the data API over TLS");
    assert_eq!(peer_certificate(&listed), api_cert);
    assert_eq!(listed.status(), 200);

    // The stack's own client trusts only the system's roots: the private CA is what lets in.
    let untrusted = stack
        .http
        .get(format!("{}/healthz", stack.issuer))
        .send()
        .await;
    assert!(
        untrusted.is_err(),
        "a client without the CA must refuse the issuer"
    );
}

#[tokio::test]
async fn a_renewed_certificate_serves_new_connections_and_open_ones_carry_on() {
    // Idle keep-alive connections are closed after the header-read timeout; a long one keeps
    // the open connection of this test open between its requests.
    let tls = start(Duration::from_secs(60)).await;
    let issuer = tls.stack.issuer.clone();
    let open = client(&tls.ca);
    assert_eq!(peer_certificate(&healthz(&open, &issuer).await), tls.first);

    let renewed = tls.ca.write_server_pair(&tls.cert, &tls.key);
    assert_ne!(renewed, tls.first);
    let seen = async {
        loop {
            // The open connection keeps answering, over the certificate it started with.
            assert_eq!(peer_certificate(&healthz(&open, &issuer).await), tls.first);
            let fresh = healthz(&client(&tls.ca), &issuer).await;
            if peer_certificate(&fresh) == renewed {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), seen)
        .await
        .expect("new connections never got the renewed certificate");
    assert_eq!(peer_certificate(&healthz(&open, &issuer).await), tls.first);

    // The data API reaches the renewed issuer through the same CA.
    let ready = tls
        .stack
        .http
        .get(format!("{}/readyz", tls.stack.data_api))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

/// Reads until the server closes the connection; whatever it sent (an alert) is returned.
async fn until_closed(mut stream: tokio::net::TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let closed = async {
        let mut buffer = [0u8; 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), closed)
        .await
        .expect("the server never closed the connection");
    received
}

#[tokio::test]
async fn plain_http_and_silent_clients_are_closed_and_the_service_carries_on() {
    let tls = start(Duration::from_millis(500)).await;
    let issuer = tls.stack.issuer.clone();
    let address = format!("127.0.0.1:{}", issuer.rsplit(':').next().unwrap());

    let mut plain = tokio::net::TcpStream::connect(&address).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let answer = until_closed(plain).await;
    assert!(
        !answer.starts_with(b"HTTP/"),
        "a plain-http request must get no HTTP answer: {:?}",
        String::from_utf8_lossy(&answer)
    );

    let silent = tokio::net::TcpStream::connect(&address).await.unwrap();
    assert!(
        until_closed(silent).await.is_empty(),
        "nothing to send a silent client"
    );

    healthz(&client(&tls.ca), &issuer).await;
}

#[tokio::test]
async fn an_unusable_pair_stops_the_service_at_start_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = data_api::Args::defaults();
    args.database_url = format!("sqlite://{}", dir.path().join("items.db").display());
    args.transport.tls_cert = Some(dir.path().join("absent.crt"));
    args.transport.tls_key = Some(dir.path().join("absent.key"));
    let settings = data_api::Settings::try_from(args).expect("the settings themselves are fine");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let Err(error) = data_api::build_with_listener(settings, listener).await else {
        panic!("a data API started without its certificate");
    };
    let cause = std::error::Error::source(&error).expect("the TLS error is kept");
    assert_eq!(
        cause.to_string(),
        "DATA_API_TLS_CERT names a file that cannot be read"
    );
    assert!(
        std::error::Error::source(cause).is_some(),
        "the I/O cause is kept"
    );
}
