//! Opening Redis connections the same way for every adapter that uses Redis (the limiter, the
//! cache, the refresh-token store), so they share one reconnect policy and one error type.

pub use redis::aio::ConnectionManager;
use redis::aio::ConnectionManagerConfig;
use std::time::Duration;

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
}

/// Opens a multiplexed, self-reconnecting Redis connection, waiting at most `timeout`, so a wrong
/// URL or an unreachable server fails start-up with a clear message instead of hanging.
pub async fn connect(url: &str, timeout: Duration) -> Result<ConnectionManager, ConnectError> {
    let client = redis::Client::open(url).map_err(ConnectError::Url)?;
    // redis-rs backs off exponentially between reconnects with no ceiling by default, which
    // after a restart of a few seconds leaves the service on its fallbacks for minutes. A
    // ceiling of a second, and a bounded connect, put it back on Redis within a breaker cool-down.
    let config = ConnectionManagerConfig::new()
        .set_max_delay(1_000)
        .set_connection_timeout(Duration::from_secs(1));
    tokio::time::timeout(timeout, ConnectionManager::new_with_config(client, config))
        .await
        .map_err(|_| ConnectError::Timeout(timeout))?
        .map_err(ConnectError::Connect)
}
