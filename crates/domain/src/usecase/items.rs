//! Reading and writing one's own items through the cache.

use crate::cache::{Cache, CacheKey};
use crate::identity::Subject;
use crate::item::{Item, ItemData, ItemId, Version};
use crate::store::{ItemStore, Precondition, StoreError};
use futures::future::{BoxFuture, FutureExt, Shared};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How a read was served, for the `portcullis_cache_requests_total{result}` counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheResult {
    /// Served from the cache.
    Hit,
    /// Loaded from the store and then cached.
    Miss,
    /// The cache failed; served from the store directly.
    Bypass,
}

impl CacheResult {
    /// The metric label.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Bypass => "bypass",
        }
    }
}

/// A page of the owner's items and the cursor of the next page.
#[derive(Debug)]
pub struct ItemPage {
    /// The items, in id order.
    pub items: Vec<Item>,
    /// Pass as `cursor` to get the next page; `None` on the last page.
    pub next: Option<ItemId>,
}

/// Cache lifetimes.
#[derive(Clone, Copy, Debug)]
pub struct CachePolicy {
    /// How long a replica that missed holds the right to load an item for everyone.
    pub lease_ttl: Duration,
    /// How long other replicas wait for that load before loading themselves.
    pub lease_wait: Duration,
    /// How long a found item stays cached.
    pub ttl: Duration,
    /// How long "not found" stays cached; short, since a create invalidates it anyway.
    pub negative_ttl: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(2),
            lease_wait: Duration::from_millis(500),
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(5),
        }
    }
}

/// Items of one owner, read through a cache and written to the store. Every operation takes the
/// owner explicitly: there is no way to address an item without saying whose it is.
pub struct ItemService {
    store: Arc<dyn ItemStore>,
    cache: Arc<dyn Cache>,
    policy: CachePolicy,
    /// Loads in progress, by key: concurrent misses of one item share one store query.
    loads: Arc<Mutex<HashMap<CacheKey, Load>>>,
}

/// One store load (and cache fill) that every concurrent reader of the key awaits.
type Load = Shared<BoxFuture<'static, Result<Option<Item>, StoreError>>>;

impl ItemService {
    /// Wires the service to its store and cache.
    pub fn new(store: Arc<dyn ItemStore>, cache: Arc<dyn Cache>, policy: CachePolicy) -> Self {
        Self {
            store,
            cache,
            policy,
            loads: Arc::default(),
        }
    }

    /// The owner's item, from the cache when possible. Cache failures never fail the read.
    pub async fn get(
        &self,
        owner: &Subject,
        id: &ItemId,
    ) -> Result<(Option<Item>, CacheResult), StoreError> {
        let key = CacheKey::item(owner, id);
        let result = match self.cache.get(&key).await {
            Ok(Some(bytes)) => match decode_entry(&bytes) {
                Some(entry) => {
                    let item = entry.map(|(version, data)| Item {
                        owner: owner.clone(),
                        id: id.clone(),
                        data,
                        version,
                    });
                    return Ok((item, CacheResult::Hit));
                }
                None => {
                    tracing::warn!(key = key.as_str(), "undecodable cache entry; reloading");
                    CacheResult::Miss
                }
            },
            Ok(None) => CacheResult::Miss,
            Err(error) => {
                tracing::warn!(%error, "cache read failed; reading from the store");
                CacheResult::Bypass
            }
        };
        let item = self
            .load(key, owner, id, result == CacheResult::Miss)
            .await?;
        Ok((item, result))
    }

    /// Reads the item from the store, sharing the read with every concurrent caller for the
    /// same key (single flight), and fills the cache once when `fill` is set.
    async fn load(
        &self,
        key: CacheKey,
        owner: &Subject,
        id: &ItemId,
        fill: bool,
    ) -> Result<Option<Item>, StoreError> {
        let load = {
            let mut loads = self.loads.lock().unwrap_or_else(|e| e.into_inner());
            match loads.get(&key) {
                Some(load) => load.clone(),
                None => {
                    let load = self.start_load(key.clone(), owner.clone(), id.clone(), fill);
                    loads.insert(key.clone(), load.clone());
                    load
                }
            }
        };
        let result = load.clone().await;
        let mut loads = self.loads.lock().unwrap_or_else(|e| e.into_inner());
        if loads.get(&key).is_some_and(|current| current.ptr_eq(&load)) {
            loads.remove(&key);
        }
        result
    }

    fn start_load(&self, key: CacheKey, owner: Subject, id: ItemId, fill: bool) -> Load {
        let (store, cache, policy) = (self.store.clone(), self.cache.clone(), self.policy);
        async move {
            // Across replicas: if another replica is already loading this item, wait briefly for
            // its fill instead of querying the store too. Cache trouble means "load it myself".
            if fill && !cache.lease(&key, policy.lease_ttl).await.unwrap_or(true) {
                if let Ok(Some(bytes)) = cache.await_fill(&key, policy.lease_wait).await {
                    if let Some(entry) = decode_entry(&bytes) {
                        return Ok(entry.map(|(version, data)| Item {
                            owner,
                            id,
                            data,
                            version,
                        }));
                    }
                }
            }
            let item = store.get(&owner, &id).await?;
            if fill {
                // Filled under the version read, so if a write committed meanwhile (and cached
                // its newer version) this older fill is refused instead of resurrecting the old
                // value. "Not found" is rank 0: it never replaces anything.
                let (rank, ttl) = match &item {
                    Some(item) => (found_rank(item.version), policy.ttl),
                    None => (0, policy.negative_ttl),
                };
                fill_cache(&*cache, &key, rank, encode_entry(item.as_ref()), ttl).await;
            }
            Ok(item)
        }
        .boxed()
        .shared()
    }

    /// Creates or replaces the owner's item; once it commits, the new version is written through
    /// to the cache, where it outranks any older value a concurrent reader may still be filling.
    pub async fn put(
        &self,
        owner: &Subject,
        id: &ItemId,
        data: ItemData,
        precondition: Precondition,
    ) -> Result<Item, StoreError> {
        let item = self.store.put(owner, id, data, precondition).await?;
        let key = CacheKey::item(owner, id);
        self.fill(
            &key,
            found_rank(item.version),
            encode_entry(Some(&item)),
            self.policy.ttl,
        )
        .await;
        Ok(item)
    }

    /// Deletes the owner's item; `Ok(false)` if it did not exist. The cache gets a "not found"
    /// entry ranked just above the deleted version, which outranks fills of it or anything older.
    pub async fn delete(
        &self,
        owner: &Subject,
        id: &ItemId,
        precondition: Precondition,
    ) -> Result<bool, StoreError> {
        let deleted = self.store.delete(owner, id, precondition).await?;
        if let Some(version) = deleted {
            let key = CacheKey::item(owner, id);
            self.fill(
                &key,
                deleted_rank(version),
                encode_entry(None),
                self.policy.ttl,
            )
            .await;
        }
        Ok(deleted.is_some())
    }

    /// A page of the owner's items after `cursor` (straight from the store: lists are not
    /// cached, so they can never be stale).
    pub async fn list(
        &self,
        owner: &Subject,
        cursor: Option<&ItemId>,
        limit: usize,
    ) -> Result<ItemPage, StoreError> {
        let limit = limit.clamp(1, 1000);
        let mut items = self.store.list(owner, cursor, limit + 1).await?;
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|item| item.id.clone())
        } else {
            None
        };
        Ok(ItemPage { items, next })
    }

    async fn fill(&self, key: &CacheKey, rank: u64, entry: Arc<[u8]>, ttl: Duration) {
        fill_cache(&*self.cache, key, rank, entry, ttl).await;
    }
}

async fn fill_cache(cache: &dyn Cache, key: &CacheKey, rank: u64, entry: Arc<[u8]>, ttl: Duration) {
    if let Err(error) = cache.put(key, rank, entry, ttl).await {
        tracing::warn!(%error, key = key.as_str(), "cache write failed");
    }
}

/// The cache version of an item's state: versions come from one strictly increasing sequence,
/// and the deletion of version `v` ranks just above `v` itself but below any later version, so
/// "newer wins" orders found items, deletions and re-creations correctly. "Not found" read from
/// the store ranks 0, below everything.
fn found_rank(version: Version) -> u64 {
    version.0.saturating_mul(2)
}

fn deleted_rank(version: Version) -> u64 {
    version.0.saturating_mul(2).saturating_add(1)
}

const FOUND: u8 = b'F';
const NOT_FOUND: u8 = b'N';

/// Cache entry layout: a tag byte, then for a found item its version (8 bytes, big endian) and
/// the JSON text. Hand-rolled because it is three fields and sits on the hot read path.
fn encode_entry(item: Option<&Item>) -> Arc<[u8]> {
    match item {
        None => Arc::from(&[NOT_FOUND][..]),
        Some(item) => {
            let data = item.data.as_str().as_bytes();
            let mut bytes = Vec::with_capacity(9 + data.len());
            bytes.push(FOUND);
            bytes.extend_from_slice(&item.version.0.to_be_bytes());
            bytes.extend_from_slice(data);
            Arc::from(bytes)
        }
    }
}

/// `Some(None)` is a cached "not found"; `None` an entry this version cannot read.
fn decode_entry(bytes: &[u8]) -> Option<Option<(Version, ItemData)>> {
    match bytes.split_first()? {
        (&NOT_FOUND, []) => Some(None),
        (&FOUND, rest) if rest.len() >= 8 => {
            let (version, data) = rest.split_at(8);
            let version = Version(u64::from_be_bytes(version.try_into().ok()?));
            let data = std::str::from_utf8(data).ok()?;
            Some(Some((version, ItemData::from_validated(data))))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletions_rank_between_their_version_and_the_next() {
        let (v1, v2) = (Version(1), Version(2));
        assert!(found_rank(v1) < deleted_rank(v1));
        assert!(deleted_rank(v1) < found_rank(v2));
        assert!(
            0 < found_rank(v1),
            "a cached not-found never outranks an item"
        );
    }

    #[test]
    fn cache_entries_round_trip() {
        let item = Item {
            owner: Subject::new("alice").unwrap(),
            id: ItemId::new("x").unwrap(),
            data: ItemData::parse(r#"{"k":"v"}"#).unwrap(),
            version: Version(42),
        };
        let decoded = decode_entry(&encode_entry(Some(&item))).unwrap().unwrap();
        assert_eq!(decoded, (Version(42), item.data.clone()));
        assert_eq!(decode_entry(&encode_entry(None)), Some(None));
        assert_eq!(decode_entry(b""), None);
        assert_eq!(decode_entry(b"F123"), None);
        assert_eq!(decode_entry(b"Nx"), None);
    }
}
