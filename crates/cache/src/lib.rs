//! Adapters of the cache port: [`LocalCache`] (moka, in process: the embedded default) and
//! [`RedisCache`] (shared by every replica).

use async_trait::async_trait;
use moka::ops::compute::{CompResult, Op};
use portcullis_domain::cache::{Cache, CacheError, CacheKey};
use portcullis_domain::cause::Cause;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One cached value: its deadline, its version, and the bytes.
#[derive(Clone)]
struct Entry {
    deadline: Instant,
    version: u64,
    value: Arc<[u8]>,
}

/// Bounded in-process cache. Each entry carries its own deadline, so per-entry TTLs (long for
/// found items, short for "not found") share one moka cache bounded by total bytes.
#[derive(Clone)]
pub struct LocalCache {
    entries: moka::future::Cache<CacheKey, Entry>,
    leases: moka::future::Cache<CacheKey, Instant>,
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
            .weigher(|key: &CacheKey, entry: &Entry| {
                (key.as_str().len() + entry.value.len())
                    .try_into()
                    .unwrap_or(u32::MAX)
            })
            .expire_after(Deadline)
            .build();
        let leases = moka::future::Cache::builder().max_capacity(100_000).build();
        Self { entries, leases }
    }
}

/// Tells moka to evict each entry at its own deadline.
struct Deadline;

impl moka::Expiry<CacheKey, Entry> for Deadline {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        entry: &Entry,
        created_at: Instant,
    ) -> Option<Duration> {
        Some(entry.deadline.saturating_duration_since(created_at))
    }

    fn expire_after_update(
        &self,
        _key: &CacheKey,
        entry: &Entry,
        updated_at: Instant,
        _current: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.deadline.saturating_duration_since(updated_at))
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
            .filter(|entry| Instant::now() < entry.deadline)
            .map(|entry| entry.value))
    }

    async fn put(
        &self,
        key: &CacheKey,
        version: u64,
        value: Arc<[u8]>,
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        let now = Instant::now();
        let entry = Entry {
            deadline: now + ttl,
            version,
            value,
        };
        // moka runs compute calls on one key one at a time: compare and write are atomic.
        let result = self
            .entries
            .entry(key.clone())
            .and_compute_with(|current| {
                let keep = current.is_some_and(|c| {
                    let c = c.value();
                    now < c.deadline && c.version > version
                });
                std::future::ready(if keep { Op::Nop } else { Op::Put(entry) })
            })
            .await;
        self.leases.invalidate(key).await;
        Ok(!matches!(
            result,
            CompResult::Unchanged(_) | CompResult::StillNone(_)
        ))
    }

    async fn lease(&self, key: &CacheKey, ttl: Duration) -> Result<bool, CacheError> {
        let now = Instant::now();
        let result = self
            .leases
            .entry(key.clone())
            .and_compute_with(|current| {
                let held = current.is_some_and(|c| now < *c.value());
                std::future::ready(if held { Op::Nop } else { Op::Put(now + ttl) })
            })
            .await;
        Ok(!matches!(
            result,
            CompResult::Unchanged(_) | CompResult::StillNone(_)
        ))
    }

    async fn await_fill(
        &self,
        key: &CacheKey,
        timeout: Duration,
    ) -> Result<Option<Arc<[u8]>>, CacheError> {
        poll_for_fill(self, key, timeout).await
    }
}

/// Polls `cache` for `key` every 10 ms until a value appears or `timeout` passes.
async fn poll_for_fill(
    cache: &dyn Cache,
    key: &CacheKey,
    timeout: Duration,
) -> Result<Option<Arc<[u8]>>, CacheError> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = cache.get(key).await? {
            return Ok(Some(value));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Stores `ARGV[2]` as version `ARGV[1]` for `ARGV[3]` ms unless a newer version is there, and ends the key's load lease (`KEYS[2]`): one script, so it is all atomic.
const PUT: &str = r#"
redis.call('DEL', KEYS[2])
local current = redis.call('HGET', KEYS[1], 'v')
if current and tonumber(current) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"#;

/// The Redis cache: each entry a hash `{v: version, d: bytes}`; reads are one `HGET`, writes one
/// script. Every call is bounded by a timeout so a slow Redis turns into a cache bypass, never a
/// hanging request.
#[derive(Clone)]
pub struct RedisCache {
    connection: ConnectionManager,
    prefix: String,
    timeout: Duration,
    put: redis::Script,
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
            put: redis::Script::new(PUT),
        }
    }

    fn key(&self, key: &CacheKey) -> String {
        format!("{}{}", self.prefix, key.as_str())
    }

    fn lease_key(&self, key: &CacheKey) -> String {
        format!("{}lease:{}", self.prefix, key.as_str())
    }

    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, CacheError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| CacheError(Cause::new("redis call timed out")))?
            .map_err(|e| CacheError(Cause::new(e)))
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &CacheKey) -> Result<Option<Arc<[u8]>>, CacheError> {
        let mut connection = self.connection.clone();
        let value: Option<Vec<u8>> = self.bounded(connection.hget(self.key(key), "d")).await?;
        Ok(value.map(Arc::from))
    }

    async fn put(
        &self,
        key: &CacheKey,
        version: u64,
        value: Arc<[u8]>,
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        let mut connection = self.connection.clone();
        let millis = ttl.as_millis().clamp(1, u64::MAX as u128) as u64;
        let mut invocation = self.put.prepare_invoke();
        invocation
            .key(self.key(key))
            .key(self.lease_key(key))
            .arg(version)
            .arg(&*value)
            .arg(millis);
        let stored: i64 = self
            .bounded(invocation.invoke_async(&mut connection))
            .await?;
        Ok(stored == 1)
    }

    async fn lease(&self, key: &CacheKey, ttl: Duration) -> Result<bool, CacheError> {
        let mut connection = self.connection.clone();
        let millis = ttl.as_millis().clamp(1, u64::MAX as u128) as u64;
        let mut set = redis::cmd("SET");
        set.arg(self.lease_key(key))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(millis);
        let taken: Option<String> = self.bounded(set.query_async(&mut connection)).await?;
        Ok(taken.is_some())
    }

    async fn await_fill(
        &self,
        key: &CacheKey,
        timeout: Duration,
    ) -> Result<Option<Arc<[u8]>>, CacheError> {
        poll_for_fill(self, key, timeout).await
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
