//! Adapters of the rate-limit port: [`RedisRateLimiter`] shares limits across replicas in one
//! atomic round trip; [`LocalRateLimiter`] keeps them in process (the embedded default, and the
//! fallback when Redis is unreachable). Both apply the domain's sliding-window arithmetic.

mod local;
mod redis_limiter;

pub use local::LocalRateLimiter;
pub use redis_limiter::{RedisRateLimiter, LIMITER_SCRIPT};

pub use redis::aio::ConnectionManager;
use redis::aio::ConnectionManagerConfig;

/// Opens a multiplexed, self-reconnecting Redis connection, waiting at most `timeout`, so a wrong
/// URL or an unreachable server fails start-up with a clear message instead of hanging.
pub async fn connect_redis(
    url: &str,
    timeout: std::time::Duration,
) -> Result<ConnectionManager, String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    // redis-rs backs off exponentially between reconnects with no ceiling by default, which
    // after a restart of a few seconds leaves the service on its fallbacks for minutes. A
    // ceiling of a second, and a bounded connect, put it back on Redis within a breaker cool-down.
    let config = ConnectionManagerConfig::new()
        .set_max_delay(1_000)
        .set_connection_timeout(std::time::Duration::from_secs(1));
    tokio::time::timeout(timeout, ConnectionManager::new_with_config(client, config))
        .await
        .map_err(|_| format!("timed out after {timeout:?} connecting to redis"))?
        .map_err(|e| e.to_string())
}
