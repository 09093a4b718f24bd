//! Opening Redis connections the same way for every adapter that uses Redis (the limiter, the
//! cache, the refresh-token store), so they share one reconnect policy, one TLS set-up and one
//! error type.

mod classify;
mod sentinel;

pub use redis::aio::ConnectionManager;
use redis::aio::ConnectionManagerConfig;
use redis::AsyncConnectionConfig;
pub use sentinel::{RedisConnection, SentinelConnection, SentinelSettings};
use std::time::{Duration, Instant};

/// Default longest wait for Redis at start-up (`*_REDIS_CONNECT_TIMEOUT`).
pub const DEFAULT_CONNECT_TIMEOUT: &str = "5s";
/// Default timeout of each Redis call (`*_REDIS_TIMEOUT`).
pub const DEFAULT_CALL_TIMEOUT: &str = "100ms";

/// Longest one connection attempt may take, at start-up and on every reconnect.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);

/// Where a service's Redis is and how long it waits for it: present only when Redis is
/// configured, so a service without Redis has no Redis timeouts to carry around.
#[derive(Clone)]
pub struct RedisSettings {
    /// The Redis URL (`redis://` or `rediss://`, ACL user and password in it); may carry a
    /// password, so `Debug` does not show it.
    pub url: String,
    /// Certificates for a `rediss://` URL beyond the system's roots; `None` = the system's
    /// roots and no client certificate.
    pub tls: Option<RedisTls>,
    /// The service's settings prefix (`ISSUER`, `DATA_API`): start-up errors name the setting
    /// to fix, e.g. `DATA_API_REDIS_CA`.
    pub prefix: &'static str,
    /// Longest wait for the first connection at start-up.
    pub connect_timeout: Duration,
    /// Timeout of each call.
    pub call_timeout: Duration,
    /// Sentinels to ask for the master instead of the URL's host and port; the URL then gives
    /// only the scheme (TLS or not), the ACL user, the password and the database.
    pub sentinel: Option<SentinelSettings>,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &"[redacted]")
            .field("tls", &self.tls)
            .field("connect_timeout", &self.connect_timeout)
            .field("call_timeout", &self.call_timeout)
            .field("sentinel", &self.sentinel)
            .finish()
    }
}

/// The PEM material of a `rediss://` connection, read (and checked) once when the settings are
/// made, so a bad file stops the start with the setting's name instead of failing each connect.
#[derive(Clone)]
pub struct RedisTls {
    /// Certificate authorities to trust *instead of* the system's roots (a private CA).
    pub ca_pem: Option<Vec<u8>>,
    /// Certificate chain and private key presented to servers that require mutual TLS.
    pub client: Option<ClientIdentity>,
}

/// A client certificate chain (leaf first) and its private key, both PEM.
#[derive(Clone)]
pub struct ClientIdentity {
    /// The certificate chain.
    pub cert_pem: Vec<u8>,
    /// The private key; never shown by `Debug`.
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for RedisTls {
    /// Which parts are set, not their bytes: the key is a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTls")
            .field("ca", &self.ca_pem.is_some())
            .field("client_certificate", &self.client.is_some())
            .finish()
    }
}

impl RedisSettings {
    /// Settings for a plain URL with no extra certificates (tests, benchmarks, tools).
    pub fn new(url: impl Into<String>, prefix: &'static str, timeout: Duration) -> Self {
        Self {
            url: url.into(),
            tls: None,
            prefix,
            connect_timeout: timeout,
            call_timeout: timeout,
            sentinel: None,
        }
    }

    /// Opens the connection the Redis adapters share: to the URL's server, or, with Sentinels
    /// configured, to the master they name (asked again after every failure that says the
    /// connection is gone or the server is no longer the master).
    pub async fn connect(&self) -> Result<RedisConnection, ConnectError> {
        match &self.sentinel {
            None => self.connect_direct().await.map(RedisConnection::Direct),
            Some(sentinel) => self.connect_sentinel(sentinel).await,
        }
    }

    async fn connect_sentinel(
        &self,
        sentinel: &SentinelSettings,
    ) -> Result<RedisConnection, ConnectError> {
        let client = self.sentinel_client(sentinel)?;
        let attempt = AsyncConnectionConfig::new().set_connection_timeout(ATTEMPT_TIMEOUT);
        let connection = std::sync::Arc::new(SentinelConnection::new(client, attempt));
        // The first connection is opened now, so a wrong master name or unreachable Sentinels
        // fail the start as a wrong URL does.
        let started = Instant::now();
        loop {
            let left = self.connect_timeout.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, connection.connection()).await {
                Err(_) => return Err(ConnectError::Timeout(self.connect_timeout)),
                Ok(Ok(_)) => return Ok(RedisConnection::Sentinel(connection)),
                Ok(Err(error)) => {
                    if let Some(permanent) = classify::permanent(error, self.prefix) {
                        return Err(permanent);
                    }
                    tokio::time::sleep(Duration::from_millis(100).min(left)).await;
                }
            }
        }
    }

    /// A client of the Sentinels that names the current master, built the same way for the
    /// shared connection and for subscriptions.
    fn sentinel_client(
        &self,
        sentinel: &SentinelSettings,
    ) -> Result<redis::sentinel::SentinelClient, ConnectError> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let info: redis::ConnectionInfo = self.url.parse().map_err(ConnectError::Url)?;
        let tls = matches!(info.addr, redis::ConnectionAddr::TcpTls { .. });
        let mut addresses = Vec::new();
        for address in &sentinel.sentinels {
            let (host, port) = address
                .rsplit_once(':')
                .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
                .ok_or_else(|| ConnectError::Sentinels {
                    prefix: self.prefix,
                    address: address.clone(),
                })?;
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            addresses.push(if tls {
                redis::ConnectionAddr::TcpTls {
                    host,
                    port,
                    insecure: false,
                    tls_params: None,
                }
            } else {
                redis::ConnectionAddr::Tcp(host, port)
            });
        }
        let mut builder = redis::sentinel::SentinelClientBuilder::new(
            addresses,
            sentinel.master.clone(),
            redis::sentinel::SentinelServerType::Master,
        )
        .map_err(ConnectError::Url)?
        .set_client_to_redis_db(info.redis.db)
        .set_client_to_redis_protocol(info.redis.protocol);
        if let Some(username) = info.redis.username {
            builder = builder.set_client_to_redis_username(username);
        }
        if let Some(password) = info.redis.password {
            builder = builder.set_client_to_redis_password(password);
        }
        if tls {
            builder = builder
                .set_client_to_redis_tls_mode(redis::TlsMode::Secure)
                .set_client_to_sentinel_tls_mode(redis::TlsMode::Secure);
            if let Some(certificates) = self.certificates() {
                builder = builder
                    .set_client_to_redis_certificates(certificates.clone())
                    .set_client_to_sentinel_certificates(certificates);
            }
        }
        builder.build().map_err(ConnectError::Url)
    }

    /// Opens a subscriber connection (RESP2 pub/sub) to the server the shared connection talks
    /// to: the URL's, or the master the Sentinels name right now. Subscriptions cannot share the
    /// multiplexed connection, and a cache tier kept coherent by invalidation messages needs one
    /// of its own that it can drop and reopen after a failover.
    pub async fn open_pubsub(&self) -> Result<redis::aio::PubSub, ConnectError> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let open = async {
            let client = match &self.sentinel {
                None => self.client()?,
                Some(sentinel) => self
                    .sentinel_client(sentinel)?
                    .async_get_client()
                    .await
                    .map_err(ConnectError::Connect)?,
            };
            client
                .get_async_pubsub()
                .await
                .map_err(ConnectError::Connect)
        };
        tokio::time::timeout(ATTEMPT_TIMEOUT, open)
            .await
            .map_err(|_| ConnectError::Timeout(ATTEMPT_TIMEOUT))?
    }

    fn certificates(&self) -> Option<redis::TlsCertificates> {
        let tls = self.tls.as_ref()?;
        Some(redis::TlsCertificates {
            client_tls: tls.client.as_ref().map(|c| redis::ClientTlsConfig {
                client_cert: c.cert_pem.clone(),
                client_key: c.key_pem.clone(),
            }),
            root_cert: tls.ca_pem.clone(),
        })
    }

    /// Opens a multiplexed, self-reconnecting Redis connection, waiting at most the connect
    /// timeout, so a wrong URL or an unreachable server fails start-up with a clear message
    /// instead of hanging. A certificate that does not verify, or credentials Redis refuses,
    /// fail at once and name the setting to fix: retrying cannot heal them.
    async fn connect_direct(&self) -> Result<ConnectionManager, ConnectError> {
        // redis-rs builds its rustls configuration with the process's default provider; with
        // more than one provider linked (the tests link ring too) there is none unless set.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = self.client()?;
        let started = Instant::now();
        let attempt = AsyncConnectionConfig::new().set_connection_timeout(ATTEMPT_TIMEOUT);
        let first = tokio::time::timeout(
            self.connect_timeout,
            client.get_multiplexed_async_connection_with_config(&attempt),
        )
        .await
        .map_err(|_| ConnectError::Timeout(self.connect_timeout))?;
        if let Err(error) = first {
            if let Some(permanent) = classify::permanent(error, self.prefix) {
                return Err(permanent);
            }
        }
        // redis-rs backs off exponentially between reconnects with no ceiling by default, which
        // after a restart of a few seconds leaves the service on its fallbacks for minutes. A
        // ceiling of a second, and a bounded connect, put it back on Redis within a breaker
        // cool-down.
        let config = ConnectionManagerConfig::new()
            .set_max_delay(1_000)
            .set_connection_timeout(ATTEMPT_TIMEOUT);
        let left = self.connect_timeout.saturating_sub(started.elapsed());
        tokio::time::timeout(left, ConnectionManager::new_with_config(client, config))
            .await
            .map_err(|_| ConnectError::Timeout(self.connect_timeout))?
            .map_err(ConnectError::Connect)
    }

    fn client(&self) -> Result<redis::Client, ConnectError> {
        let Some(certificates) = self.certificates() else {
            return redis::Client::open(self.url.as_str()).map_err(ConnectError::Url);
        };
        redis::Client::build_with_tls(self.url.as_str(), certificates).map_err(ConnectError::Url)
    }
}

/// Why a Redis connection could not be opened at start-up; the message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not a Redis URL.
    #[error("the redis URL is not valid")]
    Url(#[source] redis::RedisError),
    /// The server did not answer in time.
    #[error("timed out after {0:?} connecting to redis")]
    Timeout(Duration),
    /// The server refused or failed the connection.
    #[error("cannot connect to redis")]
    Connect(#[source] redis::RedisError),
    /// The server's certificate does not verify against the trusted roots (or names another
    /// host than the URL's).
    #[error("{prefix}_REDIS_CA (or, unset, the system's roots) does not verify the redis server's certificate for the host in {prefix}_REDIS_URL")]
    Untrusted {
        /// The service's settings prefix.
        prefix: &'static str,
        /// The TLS library's reason.
        #[source]
        source: redis::RedisError,
    },
    /// The server ended the TLS handshake: usually it requires a client certificate that was
    /// not sent, or does not trust the one that was.
    #[error("the redis server refused the TLS handshake; it may require a client certificate ({prefix}_REDIS_CLIENT_CERT / {prefix}_REDIS_CLIENT_KEY) signed by a CA it trusts")]
    HandshakeRefused {
        /// The service's settings prefix.
        prefix: &'static str,
        /// The TLS library's reason.
        #[source]
        source: redis::RedisError,
    },
    /// A Sentinel address is not `host:port`.
    #[error("{prefix}_REDIS_SENTINELS: `{address}` is not host:port")]
    Sentinels {
        /// The service's settings prefix.
        prefix: &'static str,
        /// The address as given.
        address: String,
    },
    /// Redis refused the user name or password of the URL.
    #[error("redis refused the user name or password in {prefix}_REDIS_URL (an ACL user needs `on`, a password, and access to the portcullis:* keys)")]
    Credentials {
        /// The service's settings prefix.
        prefix: &'static str,
        /// Redis's answer (it never repeats the password).
        #[source]
        source: redis::RedisError,
    },
}

/// Opens a connection to `url` with the system's roots and no client certificate, waiting at
/// most `timeout`: for tests, benchmarks and tools that connect by URL alone. Its errors name
/// settings as `*_REDIS_...`, the way the docs name either service's.
pub async fn connect(url: &str, timeout: Duration) -> Result<ConnectionManager, ConnectError> {
    RedisSettings::new(url, "*", timeout).connect_direct().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_url_or_the_key() {
        let mut settings = RedisSettings::new(
            "rediss://portcullis:s3cret@redis:6380",
            "T",
            Duration::from_secs(1),
        );
        settings.tls = Some(RedisTls {
            ca_pem: Some(b"-----BEGIN CERTIFICATE-----".to_vec()),
            client: Some(ClientIdentity {
                cert_pem: b"-----BEGIN CERTIFICATE-----".to_vec(),
                key_pem: b"-----BEGIN PRIVATE KEY----- k3y".to_vec(),
            }),
        });
        let shown = format!("{settings:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("k3y"),
            "{shown}"
        );
        assert!(shown.contains("client_certificate: true"), "{shown}");
    }
}
