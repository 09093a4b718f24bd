//! The cache port: a shared, expiring key-value store in front of the item store.

use crate::cause::Cause;
use crate::identity::Subject;
use crate::item::ItemId;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// A cache key. Only built by constructors that put the owner into the key, so no code path can
/// look up an item without naming whose it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey(String);

impl CacheKey {
    /// The key of one owner's item. The owner is length-prefixed so that no (owner, id) pair can
    /// produce another pair's key.
    pub fn item(owner: &Subject, id: &ItemId) -> Self {
        let owner = owner.as_str();
        Self(format!("item:{}:{owner}:{id}", owner.len()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why the cache failed; callers treat every cache failure as a miss and go to the store.
#[derive(Debug, thiserror::Error)]
#[error("cache unavailable")]
pub struct CacheError(#[source] pub Cause);

/// A best-effort expiring byte cache whose writes are versioned: a write never replaces an entry
/// of a newer version. That is what keeps a slow reader from putting back a value a
/// concurrent write has already replaced (see [`crate::usecase::items`]). Values are shared
/// (`Arc`) so an in-process adapter can serve hits without copying.
#[async_trait]
pub trait Cache: Send + Sync {
    /// The value under `key`, if present and not expired.
    async fn get(&self, key: &CacheKey) -> Result<Option<Arc<[u8]>>, CacheError>;

    /// Like [`Cache::get`], with how long the entry has left to live: how long a memory tier in
    /// front of this cache may keep its copy, since an entry that expires announces nothing.
    /// The default says "not at all", which is always safe.
    async fn get_expiring(
        &self,
        key: &CacheKey,
    ) -> Result<Option<(Arc<[u8]>, Duration)>, CacheError> {
        Ok(self.get(key).await?.map(|value| (value, Duration::ZERO)))
    }

    /// Stores `value` as `version` for at most `ttl`, unless the entry present has a greater
    /// version. `Ok(true)` if stored. (An equal version replaces: that renews freshness.) Either way it ends the key's
    /// lease, if any: the fill a lease holder owed has happened, or a newer value is there.
    async fn put(
        &self,
        key: &CacheKey,
        version: u64,
        value: Arc<[u8]>,
        ttl: Duration,
    ) -> Result<bool, CacheError>;

    /// Takes the right to load `key` from the store for at most `ttl`: `Ok(true)` for the one
    /// caller that gets it, `Ok(false)` while someone else holds it. This is what lets replicas
    /// that miss the same key at once cause one store load instead of one each.
    async fn lease(&self, key: &CacheKey, ttl: Duration) -> Result<bool, CacheError>;

    /// Waits up to `timeout` for a value to appear under `key` (filled by the lease holder).
    async fn await_fill(
        &self,
        key: &CacheKey,
        timeout: Duration,
    ) -> Result<Option<Arc<[u8]>>, CacheError>;

    /// Returns once no replica can still serve from its own memory a value that the write just
    /// made (or just failed to make) replaces. Writers call it after the write-through and
    /// before they acknowledge, which is what makes a per-replica memory tier safe: a read that
    /// starts after the acknowledgement never sees the old value. Adapters without a memory tier
    /// in other processes have nothing to wait for.
    async fn settle(&self) {}
}
