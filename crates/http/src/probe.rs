//! The readiness probe behind `auth-issuer healthcheck` and `data-api healthcheck`.
//!
//! Container images run without a shell or curl (distroless), so a Docker `HEALTHCHECK` or a
//! compose `healthcheck` cannot run `curl -f .../readyz`. Instead the service binary probes
//! itself: it GETs its own `/readyz` over loopback and turns the answer into an exit status,
//! 0 for 2xx and 1 for anything else (the convention Docker and Kubernetes `exec` probes read).
//!
//! When the service serves HTTPS (its `*_TLS_CERT` is set), the probe speaks HTTPS to its own
//! listener and does not check the certificate: that certificate names the service's public
//! names (`auth-issuer`, `data-api.example.com`), not the loopback address the probe dials, and
//! the probe sends no credential and reads nothing but the status. Checking it would only make
//! the health of the process depend on how its certificate was named. An explicit `--url` is
//! always checked in full.

use http::StatusCode;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// How long a probe waits for the answer unless told otherwise. Docker kills a health check at
/// its own `--timeout` (compose files here use 3 s); giving up earlier means the probe reports
/// *why* it failed instead of being killed silently.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The path both services answer readiness on (the operator contract's `GET /readyz`).
pub const READINESS_PATH: &str = "/readyz";

/// Why a probe failed. Every variant names the URL, because the output of a failed container
/// health check is all an operator sees in `docker inspect`.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The HTTP client could not be built (no usable TLS configuration for an `https` URL).
    #[error("cannot build the HTTP client for {url}")]
    Client {
        /// The URL that was to be probed.
        url: String,
        /// What the HTTP client reported.
        #[source]
        source: reqwest::Error,
    },
    /// No answer: refused, timed out, or not HTTP.
    #[error("GET {url} got no answer")]
    Request {
        /// The probed URL.
        url: String,
        /// What the HTTP client reported.
        #[source]
        source: reqwest::Error,
    },
    /// An answer that is not 2xx: the service is up but says it cannot serve (503 from
    /// `/readyz`), or the URL points somewhere else.
    #[error("GET {url} answered {status}")]
    Status {
        /// The probed URL.
        url: String,
        /// The status it answered.
        status: StatusCode,
    },
}

/// The URL at which a probe running next to the server reaches `path` of a server listening on
/// `listen`. A wildcard listen address (`0.0.0.0`, `::`, what containers use) is reached over
/// loopback of the same family; a specific address is used as it is, because a server bound
/// to one interface does not answer on loopback.
pub fn local_url(listen: SocketAddr, path: &str) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}{path}", SocketAddr::new(ip, listen.port()))
}

/// [`local_url`] over HTTPS: where the probe reaches a server that serves TLS.
pub fn local_https_url(listen: SocketAddr, path: &str) -> String {
    local_url(listen, path).replacen("http://", "https://", 1)
}

/// The `healthcheck` subcommand of both binaries: probes `url`, or `/readyz` of a server
/// listening on `listen` (over HTTPS when `tls`, the service's own certificate being set,
/// without checking that certificate: see the module docs), and says what answered.
pub async fn healthcheck(
    listen: SocketAddr,
    url: Option<String>,
    tls: bool,
    timeout: Duration,
) -> Result<String, ProbeError> {
    let (url, own_listener_over_tls) = match url {
        Some(url) => (url, false),
        None if tls => (local_https_url(listen, READINESS_PATH), true),
        None => (local_url(listen, READINESS_PATH), false),
    };
    let status = get(&url, timeout, own_listener_over_tls).await?;
    Ok(format!("ready: {url} answered {status}"))
}

/// GETs `url` once and succeeds only on a 2xx answer within `timeout` (connecting included).
///
/// Redirects are not followed and proxy variables are ignored: a probe must measure this
/// process, not whatever an `HTTP_PROXY` in the container's environment or a redirect points
/// at.
pub async fn check(url: &str, timeout: Duration) -> Result<StatusCode, ProbeError> {
    get(url, timeout, false).await
}

/// [`check`], optionally accepting any certificate (only for the service's own loopback
/// listener, see the module docs).
async fn get(
    url: &str,
    timeout: Duration,
    accept_any_certificate: bool,
) -> Result<StatusCode, ProbeError> {
    // reqwest's rustls backend needs a process-wide crypto provider even to build a client;
    // the same one the JWKS client installs (a second install is a harmless no-op).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .danger_accept_invalid_certs(accept_any_certificate)
        .build()
        .map_err(|source| ProbeError::Client {
            url: url.to_owned(),
            source,
        })?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|source| ProbeError::Request {
            url: url.to_owned(),
            source,
        })?;
    let status = response.status();
    if status.is_success() {
        Ok(status)
    } else {
        Err(ProbeError::Status {
            url: url.to_owned(),
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[test]
    fn wildcard_listen_addresses_are_probed_over_loopback() {
        let url = |addr: &str| local_url(addr.parse().unwrap(), READINESS_PATH);
        assert_eq!(url("0.0.0.0:8080"), "http://127.0.0.1:8080/readyz");
        assert_eq!(url("[::]:8081"), "http://[::1]:8081/readyz");
        assert_eq!(url("10.1.2.3:9000"), "http://10.1.2.3:9000/readyz");
        assert_eq!(url("127.0.0.1:8081"), "http://127.0.0.1:8081/readyz");
    }

    /// A one-shot HTTP server answering `status_line` to the first request.
    async fn answer_once(status_line: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let response =
                format!("HTTP/1.1 {status_line}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = socket.write_all(response.as_bytes()).await;
        });
        addr
    }

    #[tokio::test]
    async fn succeeds_only_on_2xx() {
        let ok = answer_once("200 OK").await;
        let status = check(&local_url(ok, READINESS_PATH), DEFAULT_TIMEOUT).await;
        assert_eq!(status.unwrap(), StatusCode::OK);

        let unready = answer_once("503 Service Unavailable").await;
        let err = check(&local_url(unready, READINESS_PATH), DEFAULT_TIMEOUT)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ProbeError::Status { status, .. } if status == StatusCode::SERVICE_UNAVAILABLE)
        );

        let redirect = answer_once("302 Found").await;
        assert!(check(&local_url(redirect, READINESS_PATH), DEFAULT_TIMEOUT)
            .await
            .is_err());
    }

    /// Serves `200 OK` over TLS to one connection, with a self-signed certificate for a name
    /// that is not loopback (as a service's real certificate would be).
    async fn answer_once_over_tls() -> SocketAddr {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["auth-issuer".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    continue; // the verifying client gave up in the handshake
                };
                let mut buf = [0u8; 1024];
                let _ = tls.read(&mut buf).await;
                let response = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
                return;
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_tls_listener_is_probed_over_https_without_checking_its_certificate() {
        let addr = answer_once_over_tls().await;
        assert_eq!(
            local_https_url(addr, READINESS_PATH),
            format!("https://{addr}/readyz")
        );
        // An explicit URL is checked in full: a self-signed certificate for another name fails.
        let explicit = healthcheck(
            addr,
            Some(local_https_url(addr, READINESS_PATH)),
            true,
            DEFAULT_TIMEOUT,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(explicit, ProbeError::Request { .. }),
            "{explicit:?}"
        );
        // Its own listener (no --url, TLS configured) is reached whatever the certificate names.
        let answer = healthcheck(addr, None, true, DEFAULT_TIMEOUT)
            .await
            .unwrap();
        assert_eq!(
            answer,
            format!("ready: https://{addr}/readyz answered 200 OK")
        );
    }

    #[tokio::test]
    async fn a_closed_port_fails_and_a_silent_server_times_out() {
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let err = check(&local_url(addr, READINESS_PATH), DEFAULT_TIMEOUT)
            .await
            .unwrap_err();
        assert!(matches!(err, ProbeError::Request { .. }), "{err:?}");

        // Accepts the connection and never answers: the probe must give up at its timeout.
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let started = std::time::Instant::now();
        let err = check(&local_url(addr, READINESS_PATH), Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(err, ProbeError::Request { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(silent);
    }
}
