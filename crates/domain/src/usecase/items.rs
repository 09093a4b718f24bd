//! Reading and writing one's own items through the cache.
//!
//! The cache protects the store: concurrent misses share one load (per replica by single flight,
//! across replicas by a lease), stale entries are served while one refresh runs in the background
//! (stale-while-revalidate) or while the store fails (stale-if-error), and writes are versioned
//! so no reader can put back a value a write has replaced.

use super::cache_repair::CacheRepair;
use crate::cache::{Cache, CacheKey};
use crate::identity::Subject;
use crate::item::{Item, ItemData, ItemId, Version};
use crate::store::{ItemStore, Precondition, StoreError};
use futures::future::{BoxFuture, FutureExt, Shared};
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How a read was served, for the `portcullis_cache_requests_total{result}` counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheResult {
    /// Served fresh from the cache.
    Hit,
    /// Loaded from the store and then cached.
    Miss,
    /// Served from a stale entry: while it is refreshed, or while the store fails.
    Stale,
    /// The cache failed; served from the store directly.
    Bypass,
}

impl CacheResult {
    /// The metric label.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Stale => "stale",
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
    /// How long a found item is fresh (±10% jitter, so entries filled together do not expire
    /// together).
    pub ttl: Duration,
    /// How long "not found" stays cached; short, since a create replaces it anyway.
    pub negative_ttl: Duration,
    /// After freshness ends, how long the stale item is still served while one background
    /// refresh runs.
    pub stale_while_revalidate: Duration,
    /// After freshness ends, how long the stale item is served when the store fails.
    pub stale_if_error: Duration,
    /// How long a replica that missed holds the right to load an item for everyone.
    pub lease_ttl: Duration,
    /// How long other replicas wait for that load before loading themselves.
    pub lease_wait: Duration,
    /// After a cache failure, how long this replica reads the store instead of trusting cache
    /// hits, so a write-through lost in an outage is never served stale (see `cache_repair`).
    /// It must outlast the cache's circuit-breaker cool-down on every replica.
    pub recovery_grace: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(5),
            stale_while_revalidate: Duration::from_secs(30),
            stale_if_error: Duration::from_secs(300),
            lease_ttl: Duration::from_secs(2),
            lease_wait: Duration::from_millis(500),
            recovery_grace: Duration::from_secs(5),
        }
    }
}

/// Runs a future in the background (the service passes its runtime's `spawn`), so the domain
/// needs no runtime of its own.
pub type Spawner = Arc<dyn Fn(BoxFuture<'static, ()>) + Send + Sync>;

/// Waits for a while (the service passes its runtime's sleep), for the same reason.
pub type Sleeper = Arc<dyn Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync>;

/// Items of one owner, read through a cache and written to the store. Every operation takes the
/// owner explicitly: there is no way to address an item without saying whose it is.
pub struct ItemService {
    loader: Loader,
    spawn: Spawner,
}

/// What loads and fills share; cheap to clone into a background refresh.
#[derive(Clone)]
struct Loader {
    store: Arc<dyn ItemStore>,
    cache: Arc<dyn Cache>,
    policy: CachePolicy,
    /// Loads in progress, by key: concurrent misses of one item share one store query.
    loads: Arc<Mutex<HashMap<CacheKey, Load>>>,
    /// Recent cache failures and write-throughs still owed to the cache.
    repair: Arc<CacheRepair>,
}

/// One store load (and cache fill) that every concurrent reader of the key awaits.
type Load = Shared<BoxFuture<'static, Result<Option<Item>, StoreError>>>;

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl ItemService {
    /// Wires the service to its store and cache; `spawn` runs background refreshes and cache
    /// repairs, `sleep` paces the repairs.
    pub fn new(
        store: Arc<dyn ItemStore>,
        cache: Arc<dyn Cache>,
        policy: CachePolicy,
        spawn: Spawner,
        sleep: Sleeper,
    ) -> Self {
        let repair = Arc::new(CacheRepair::new(
            cache.clone(),
            policy.recovery_grace,
            spawn.clone(),
            sleep,
        ));
        Self {
            loader: Loader {
                store,
                cache,
                policy,
                loads: Arc::default(),
                repair,
            },
            spawn,
        }
    }

    /// The owner's item, from the cache when possible. Cache failures never fail the read, and
    /// store failures do not either while a stale copy may still be served.
    pub async fn get(
        &self,
        owner: &Subject,
        id: &ItemId,
    ) -> Result<(Option<Item>, CacheResult), StoreError> {
        let policy = &self.loader.policy;
        let key = CacheKey::item(owner, id);
        let now = now_ms();
        let mut stale_fallback = None;
        let result = match self.loader.cache.get(&key).await {
            Ok(Some(_)) if !self.loader.repair.trusts(&key, now) => CacheResult::Miss,
            Ok(Some(bytes)) => match decode_entry(&bytes) {
                Some(entry) if now < entry.fresh_until => {
                    return Ok((entry.into_item(owner, id), CacheResult::Hit));
                }
                Some(entry) if now < entry.fresh_until + millis(policy.stale_while_revalidate) => {
                    let (loader, key, owner, id) =
                        (self.loader.clone(), key, owner.clone(), id.clone());
                    let item = entry.into_item(&owner, &id);
                    (self.spawn)(
                        async move {
                            let _ = loader.load(key, &owner, &id, true).await;
                        }
                        .boxed(),
                    );
                    return Ok((item, CacheResult::Stale));
                }
                Some(entry) => {
                    if now < entry.fresh_until + millis(policy.stale_if_error) {
                        stale_fallback = Some(entry.into_item(owner, id));
                    }
                    CacheResult::Miss
                }
                None => {
                    tracing::warn!(key = key.as_str(), "undecodable cache entry; reloading");
                    CacheResult::Miss
                }
            },
            Ok(None) => CacheResult::Miss,
            Err(error) => {
                self.loader.repair.note_failure();
                tracing::warn!(%error, "cache read failed; reading from the store");
                CacheResult::Bypass
            }
        };
        match self
            .loader
            .load(key, owner, id, result == CacheResult::Miss)
            .await
        {
            Ok(item) => Ok((item, result)),
            Err(error) => match stale_fallback {
                Some(stale) => {
                    tracing::warn!(%error, "item store failed; serving a stale copy");
                    Ok((stale, CacheResult::Stale))
                }
                None => Err(error),
            },
        }
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
        let item = self.loader.store.put(owner, id, data, precondition).await?;
        let key = CacheKey::item(owner, id);
        self.loader.fill(&key, Some(&item), true).await;
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
        let deleted = self.loader.store.delete(owner, id, precondition).await?;
        if let Some(version) = deleted {
            let key = CacheKey::item(owner, id);
            let ttl = self.loader.policy.ttl;
            let entry = encode_entry(None, now_ms() + millis(ttl));
            self.loader
                .write(&key, deleted_rank(version), entry, ttl, true)
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
        let mut items = self.loader.store.list(owner, cursor, limit + 1).await?;
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|item| item.id.clone())
        } else {
            None
        };
        Ok(ItemPage { items, next })
    }
}

impl Loader {
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
        let loader = self.clone();
        async move {
            // Across replicas: if another replica is already loading this item, wait briefly for
            // its fill instead of querying the store too. Cache trouble means "load it myself",
            // and so does distrust of the cache's present value (waiting would return it).
            let policy = loader.policy;
            if fill
                && loader.repair.trusts(&key, now_ms())
                && !loader
                    .cache
                    .lease(&key, policy.lease_ttl)
                    .await
                    .unwrap_or_else(|_| {
                        loader.repair.note_failure();
                        true
                    })
            {
                if let Ok(Some(bytes)) = loader.cache.await_fill(&key, policy.lease_wait).await {
                    if let Some(entry) = decode_entry(&bytes) {
                        return Ok(entry.into_item(&owner, &id));
                    }
                }
            }
            let item = loader.store.get(&owner, &id).await?;
            if fill {
                loader.fill(&key, item.as_ref(), false).await;
            }
            Ok(item)
        }
        .boxed()
        .shared()
    }

    /// Caches what the store said. Filled under the version read, so if a write committed
    /// meanwhile (and cached its newer version) this older fill is refused instead of
    /// resurrecting the old value. "Not found" is rank 0: it never replaces anything.
    /// `write_through` marks the fill of a write, which is retried until it lands.
    async fn fill(&self, key: &CacheKey, item: Option<&Item>, write_through: bool) {
        let policy = &self.policy;
        let (rank, fresh, lifetime) = match item {
            Some(item) => {
                let jitter = rand::rng().random_range(0.9..1.1);
                let fresh = policy.ttl.mul_f64(jitter);
                let keep = policy.stale_while_revalidate.max(policy.stale_if_error);
                (found_rank(item.version), fresh, fresh + keep)
            }
            None => (0, policy.negative_ttl, policy.negative_ttl),
        };
        let entry = encode_entry(item, now_ms() + millis(fresh));
        self.write(key, rank, entry, lifetime, write_through).await;
    }

    /// Writes an entry; when a write-through fails, owes it to the cache until it lands or
    /// every entry it could replace has expired.
    async fn write(
        &self,
        key: &CacheKey,
        rank: u64,
        entry: Arc<[u8]>,
        ttl: Duration,
        write_through: bool,
    ) {
        if let Err(error) = self.cache.put(key, rank, entry.clone(), ttl).await {
            self.repair.note_failure();
            tracing::warn!(%error, key = key.as_str(), "cache write failed");
            if write_through {
                let policy = &self.policy;
                let longest_entry = policy.ttl.mul_f64(1.1)
                    + policy.stale_while_revalidate.max(policy.stale_if_error);
                self.repair
                    .schedule(key.clone(), rank, entry, ttl, longest_entry);
            }
        }
    }
}

/// The cache version of an item's state: versions come from one strictly increasing sequence,
/// and the deletion of version `v` ranks just above `v` itself but below any later version, so
/// "newer wins" orders found items, deletions and re-creations correctly. "Not found" read from
/// the store ranks 0, below everything. Equal ranks replace each other: that is how a refresh
/// renews an unchanged item's freshness.
fn found_rank(version: Version) -> u64 {
    version.0.saturating_mul(2)
}

fn deleted_rank(version: Version) -> u64 {
    version.0.saturating_mul(2).saturating_add(1)
}

const FOUND: u8 = b'F';
const NOT_FOUND: u8 = b'N';

/// A decoded cache entry.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    found: Option<(Version, ItemData)>,
    /// Until when (ms since the epoch) the entry is fresh.
    fresh_until: u64,
}

impl Entry {
    fn into_item(self, owner: &Subject, id: &ItemId) -> Option<Item> {
        self.found.map(|(version, data)| Item {
            owner: owner.clone(),
            id: id.clone(),
            data,
            version,
        })
    }
}

/// Cache entry layout: a tag byte, the fresh-until time (8 bytes, big endian, ms), then for a
/// found item its version (8 bytes) and the JSON text. Hand-rolled because it is four fields and
/// sits on the hot read path.
fn encode_entry(item: Option<&Item>, fresh_until: u64) -> Arc<[u8]> {
    let data = item.map_or(&[][..], |item| item.data.as_str().as_bytes());
    let mut bytes = Vec::with_capacity(17 + data.len());
    bytes.push(if item.is_some() { FOUND } else { NOT_FOUND });
    bytes.extend_from_slice(&fresh_until.to_be_bytes());
    if let Some(item) = item {
        bytes.extend_from_slice(&item.version.0.to_be_bytes());
        bytes.extend_from_slice(data);
    }
    Arc::from(bytes)
}

/// `None` for an entry this version cannot read.
fn decode_entry(bytes: &[u8]) -> Option<Entry> {
    let (&tag, rest) = bytes.split_first()?;
    let (fresh_until, rest) = rest.split_at_checked(8)?;
    let fresh_until = u64::from_be_bytes(fresh_until.try_into().ok()?);
    let found = match (tag, rest) {
        (NOT_FOUND, []) => None,
        (FOUND, rest) => {
            let (version, data) = rest.split_at_checked(8)?;
            let version = Version(u64::from_be_bytes(version.try_into().ok()?));
            let data = std::str::from_utf8(data).ok()?;
            Some((version, ItemData::from_validated(data)))
        }
        _ => return None,
    };
    Some(Entry { found, fresh_until })
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
        let decoded = decode_entry(&encode_entry(Some(&item), 7)).unwrap();
        assert_eq!(decoded.found, Some((Version(42), item.data.clone())));
        assert_eq!(decoded.fresh_until, 7);
        let absent = decode_entry(&encode_entry(None, 9)).unwrap();
        assert_eq!(
            absent,
            Entry {
                found: None,
                fresh_until: 9
            }
        );
        assert_eq!(decode_entry(b""), None);
        assert_eq!(decode_entry(b"F123"), None);
        assert_eq!(decode_entry(b"N12345678x"), None);
        assert_eq!(decode_entry(b"X12345678"), None);
    }
}
