//! Adapters of the cache port: [`LocalCache`] (moka, in process: the embedded default) and
//! [`RedisCache`] (shared by every replica).

use async_trait::async_trait;
use portcullis_domain::cache::{Cache, CacheError, CacheKey};
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bounded in-process cache. Each entry carries its own deadline, so per-entry TTLs (long for
/// found items, short for "not found") share one moka cache bounded by total bytes.
#[derive(Clone)]
pub struct LocalCache {
    entries: moka::future::Cache<CacheKey, (Instant, Arc<[u8]>)>,
}

impl std::fmt::Debug for LocalCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCache")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl LocalCache {
    /// A cache holding at most about `max_bytes` of values.
    pub fn new(max_bytes: u64) -> Self {
        let entries = moka::future::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &CacheKey, (_, value): &(Instant, Arc<[u8]>)| {
                (key.as_str().len() + value.len())
                    .try_into()
                    .unwrap_or(u32::MAX)
            })
            .expire_after(Deadline)
            .build();
        Self { entries }
    }
}

/// Tells moka to evict each entry at its own deadline.
struct Deadline;

impl moka::Expiry<CacheKey, (Instant, Arc<[u8]>)> for Deadline {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        (deadline, _): &(Instant, Arc<[u8]>),
        created_at: Instant,
    ) -> Option<Duration> {
        Some(deadline.saturating_duration_since(created_at))
    }

    fn expire_after_update(
        &self,
        _key: &CacheKey,
        (deadline, _): &(Instant, Arc<[u8]>),
        updated_at: Instant,
        _current: Option<Duration>,
    ) -> Option<Duration> {
        Some(deadline.saturating_duration_since(updated_at))
    }
}

#[async_trait]
impl Cache for LocalCache {
    async fn get(&self, key: &CacheKey) -> Result<Option<Arc<[u8]>>, CacheError> {
        // moka evicts lazily; check the deadline so an entry is never served past its TTL.
        Ok(self
            .entries
            .get(key)
            .await
            .filter(|(deadline, _)| Instant::now() < *deadline)
            .map(|(_, value)| value))
    }

    async fn set(&self, key: &CacheKey, value: Arc<[u8]>, ttl: Duration) -> Result<(), CacheError> {
        self.entries
            .insert(key.clone(), (Instant::now() + ttl, value))
            .await;
        Ok(())
    }

    async fn delete(&self, key: &CacheKey) -> Result<(), CacheError> {
        self.entries.invalidate(key).await;
        Ok(())
    }
}

/// The Redis cache: plain `GET` / `SET PX` / `DEL`, every call bounded by a timeout so a slow
/// Redis turns into a cache bypass, never a hanging request.
#[derive(Clone)]
pub struct RedisCache {
    connection: ConnectionManager,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    /// A cache on an established connection, namespaced by `prefix`.
    pub fn new(connection: ConnectionManager, prefix: &str, timeout: Duration) -> Self {
        Self {
            connection,
            prefix: prefix.to_owned(),
            timeout,
        }
    }

    fn key(&self, key: &CacheKey) -> String {
        format!("{}{}", self.prefix, key.as_str())
    }

    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, CacheError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| CacheError("redis call timed out".into()))?
            .map_err(|e| CacheError(e.to_string()))
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &CacheKey) -> Result<Option<Arc<[u8]>>, CacheError> {
        let mut connection = self.connection.clone();
        let value: Option<Vec<u8>> = self.bounded(connection.get(self.key(key))).await?;
        Ok(value.map(Arc::from))
    }

    async fn set(&self, key: &CacheKey, value: Arc<[u8]>, ttl: Duration) -> Result<(), CacheError> {
        let mut connection = self.connection.clone();
        let millis = ttl.as_millis().clamp(1, u64::MAX as u128) as u64;
        self.bounded(connection.pset_ex::<_, _, ()>(self.key(key), &*value, millis))
            .await
    }

    async fn delete(&self, key: &CacheKey) -> Result<(), CacheError> {
        let mut connection = self.connection.clone();
        self.bounded(connection.del::<_, ()>(self.key(key))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_cache_passes_the_cache_contract() {
        portcullis_domain::testkit::cache::run(Arc::new(LocalCache::new(64 * 1024 * 1024))).await;
    }
}
