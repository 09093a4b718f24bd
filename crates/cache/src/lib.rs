//! Adapters of the cache port: [`LocalCache`] (moka, in process: the embedded default),
//! [`RedisCache`] (shared by every replica) and [`TieredCache`] (a memory tier in front of the
//! Redis cache, kept coherent by Redis, so hot items cost no round trip).

mod invalidations;
mod tier;

pub use invalidations::{start as start_tier, TierSettings};
pub use tier::{TierObserver, TierResult, TieredCache};

use async_trait::async_trait;
use moka::ops::compute::{CompResult, Op};
use portcullis_domain::cache::{Cache, CacheError, CacheKey};
use portcullis_domain::cause::Cause;
use portcullis_redis::RedisConnection;
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
        Ok(self.get_expiring(key).await?.map(|(value, _)| value))
    }

    async fn get_expiring(
        &self,
        key: &CacheKey,
    ) -> Result<Option<(Arc<[u8]>, Duration)>, CacheError> {
        // moka evicts lazily; check the deadline so an entry is never served past its TTL.
        let now = Instant::now();
        Ok(self
            .entries
            .get(key)
            .await
            .filter(|entry| now < entry.deadline)
            .map(|entry| (entry.value, entry.deadline - now)))
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

/// Stores `ARGV[2]` as version `ARGV[1]` for `ARGV[3]` ms unless a newer version is there, and
/// ends the key's load lease (`KEYS[2]`); when it stores and `ARGV[4]` names a channel, publishes
/// `ARGV[5]` there (the memory tiers' invalidation). One script, so it is all atomic: no replica
/// can read the new value before the invalidation is on its way.
const PUT: &str = r#"
redis.call('DEL', KEYS[2])
local current = redis.call('HGET', KEYS[1], 'v')
if current and tonumber(current) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
return 1
"#;

/// Reads an entry with its remaining lifetime in one round trip: `[bytes, pttl]`, or nil.
const GET_EXPIRING: &str = r#"
local d = redis.call('HGET', KEYS[1], 'd')
if not d then return false end
return {d, redis.call('PTTL', KEYS[1])}
"#;

/// The Redis cache: each entry a hash `{v: version, d: bytes}`; reads are one `HGET`, writes one
/// script. Every call is bounded by a timeout so a slow Redis turns into a cache bypass, never a
/// hanging request.
#[derive(Clone)]
pub struct RedisCache {
    connection: RedisConnection,
    prefix: String,
    timeout: Duration,
    put: redis::Script,
    get_expiring: redis::Script,
    /// Where stores are announced, for memory tiers; empty = nowhere.
    invalidations: String,
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
    pub fn new(connection: impl Into<RedisConnection>, prefix: &str, timeout: Duration) -> Self {
        Self {
            connection: connection.into(),
            prefix: prefix.to_owned(),
            timeout,
            put: redis::Script::new(PUT),
            get_expiring: redis::Script::new(GET_EXPIRING),
            invalidations: String::new(),
        }
    }

    /// Announces every store on `channel`, in the script that stores it, so the memory tiers of
    /// every replica ([`TieredCache`]) drop their copies.
    pub fn with_invalidations(mut self, channel: &str) -> Self {
        self.invalidations = channel.to_owned();
        self
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

    async fn get_expiring(
        &self,
        key: &CacheKey,
    ) -> Result<Option<(Arc<[u8]>, Duration)>, CacheError> {
        let mut connection = self.connection.clone();
        let mut invocation = self.get_expiring.prepare_invoke();
        invocation.key(self.key(key));
        let value: Option<(Vec<u8>, i64)> = self
            .bounded(invocation.invoke_async(&mut connection))
            .await?;
        Ok(value.map(|(value, ttl_ms)| {
            let left = Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(0));
            (Arc::from(value), left)
        }))
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
            .arg(millis)
            .arg(&self.invalidations)
            .arg(format!("{}{}", invalidations::INVALIDATION, key.as_str()));
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
