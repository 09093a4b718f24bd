//! The cache port: a shared, expiring key-value store in front of the item store.

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
#[error("cache unavailable: {0}")]
pub struct CacheError(pub String);

/// A best-effort expiring byte cache. Values are shared (`Arc`) so an in-process adapter can
/// serve hits without copying.
#[async_trait]
pub trait Cache: Send + Sync {
    /// The value under `key`, if present and not expired.
    async fn get(&self, key: &CacheKey) -> Result<Option<Arc<[u8]>>, CacheError>;
    /// Stores `value` under `key` for at most `ttl`.
    async fn set(&self, key: &CacheKey, value: Arc<[u8]>, ttl: Duration) -> Result<(), CacheError>;
    /// Removes `key`, so the next read goes to the store.
    async fn delete(&self, key: &CacheKey) -> Result<(), CacheError>;
}
