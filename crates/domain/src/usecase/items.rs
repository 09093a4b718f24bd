//! Reading and writing one's own items through the cache.
//!
//! The cache protects the store: concurrent misses share one load (per replica by single flight,
//! across replicas by a lease), stale entries are served while one refresh runs in the background
//! (stale-while-revalidate) or while the store fails (stale-if-error), and writes are versioned
//! so no reader can put back a value a write has replaced.

use super::cache_entry::{decode_entry, deleted_rank, encode_entry, found_rank};
use super::cache_repair::CacheRepair;
pub use super::item_policy::{
    CachePolicy, ItemLimits, DEFAULT_CACHE_LEASE_WAIT, DEFAULT_CACHE_NEGATIVE_TTL,
    DEFAULT_CACHE_STALE_IF_ERROR, DEFAULT_CACHE_STALE_WHILE_REVALIDATE, DEFAULT_CACHE_TTL,
    DEFAULT_MAX_BYTES_PER_OWNER, DEFAULT_MAX_ITEMS_PER_OWNER, DEFAULT_PAGE_MAX_BYTES,
    MAX_PAGE_ITEMS,
};
use crate::cache::{Cache, CacheKey};
use crate::cause::Chain;
use crate::clock::{unix_millis, Clock};
use crate::identity::Subject;
use crate::item::{Item, ItemData, ItemId};
use crate::store::{ItemStore, Precondition, StoreError};
use futures::future::{BoxFuture, FutureExt, Shared};
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// Every result, so its counter can be exported at 0 before the first read.
    pub const ALL: [Self; 4] = [Self::Hit, Self::Miss, Self::Stale, Self::Bypass];

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
    limits: ItemLimits,
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
    /// Where freshness is measured from; a manual clock in tests.
    clock: Arc<dyn Clock>,
}

/// One store load (and cache fill) that every concurrent reader of the key awaits.
type Load = Shared<BoxFuture<'static, Result<Option<Item>, StoreError>>>;

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl ItemService {
    /// Wires the service to its store and cache; `spawn` runs background refreshes and cache
    /// repairs, `sleep` paces the repairs, `clock` dates cache entries and failures (so tests
    /// can age them without sleeping).
    pub fn new(
        store: Arc<dyn ItemStore>,
        cache: Arc<dyn Cache>,
        policy: CachePolicy,
        spawn: Spawner,
        sleep: Sleeper,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let repair = Arc::new(CacheRepair::new(
            cache.clone(),
            policy.recovery_grace,
            spawn.clone(),
            sleep,
            clock.clone(),
        ));
        Self {
            loader: Loader {
                store,
                cache,
                policy,
                loads: Arc::default(),
                repair,
                clock,
            },
            spawn,
            limits: ItemLimits::default(),
        }
    }

    /// The quotas and page budget in force.
    pub fn limits(&self) -> &ItemLimits {
        &self.limits
    }

    /// Replaces the default quotas and page budget.
    pub fn with_limits(mut self, limits: ItemLimits) -> Self {
        self.limits = limits;
        self
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
        let now = self.loader.now_ms();
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
                tracing::warn!(error = %Chain(&error), "cache read failed; reading from the store");
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
                    tracing::warn!(error = %Chain(&error), "item store failed; serving a stale copy");
                    Ok((stale, CacheResult::Stale))
                }
                None => Err(error),
            },
        }
    }

    /// Creates or replaces the owner's item; once it commits, the new version is written through
    /// to the cache, where it outranks any older value a concurrent reader may still be filling,
    /// and the cache is given time to settle (see [`Cache::settle`]) before the write returns.
    pub async fn put(
        &self,
        owner: &Subject,
        id: &ItemId,
        data: ItemData,
        precondition: Precondition,
    ) -> Result<Item, StoreError> {
        let item = self
            .loader
            .store
            .put(owner, id, data, precondition, self.limits.quota)
            .await?;
        let key = CacheKey::item(owner, id);
        self.loader.fill(&key, Some(&item), true).await;
        self.loader.cache.settle().await;
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
            let entry = encode_entry(None, self.loader.now_ms() + millis(ttl));
            self.loader
                .write(&key, deleted_rank(version), entry, ttl, true)
                .await;
            self.loader.cache.settle().await;
        }
        Ok(deleted.is_some())
    }

    /// A page of the owner's items after `cursor`: at most `limit` items, ending early once it
    /// holds the page byte budget (straight from the store: lists are not cached, so they can
    /// never be stale).
    pub async fn list(
        &self,
        owner: &Subject,
        cursor: Option<&ItemId>,
        limit: usize,
    ) -> Result<ItemPage, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE_ITEMS);
        let listed = self
            .loader
            .store
            .list(owner, cursor, limit, self.limits.page_max_bytes)
            .await?;
        Ok(ItemPage {
            items: listed.items,
            next: listed.next,
        })
    }
}

impl Loader {
    fn now_ms(&self) -> u64 {
        unix_millis(self.clock.now())
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
        let loader = self.clone();
        async move {
            // Across replicas: if another replica is already loading this item, wait briefly for
            // its fill instead of querying the store too. Cache trouble means "load it myself",
            // and so does distrust of the cache's present value (waiting would return it).
            let policy = loader.policy;
            if fill && loader.repair.trusts(&key, loader.now_ms()) {
                match loader.cache.lease(&key, policy.lease_ttl).await {
                    // The lease may be free because a fill just ended it: a reader that missed
                    // before that fill and began its load after it must not load again.
                    Ok(true) => {
                        if let Some(item) = loader.fresh_in_cache(&key, &owner, &id).await {
                            return Ok(item);
                        }
                    }
                    Ok(false) => {
                        let filled = loader.cache.await_fill(&key, policy.lease_wait).await;
                        if let Some(entry) = filled.ok().flatten().and_then(|b| decode_entry(&b)) {
                            return Ok(entry.into_item(&owner, &id));
                        }
                    }
                    Err(_) => loader.repair.note_failure(),
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

    /// What the cache holds for `key` if it is still fresh (`Some(None)`: a fresh "not found").
    async fn fresh_in_cache(
        &self,
        key: &CacheKey,
        owner: &Subject,
        id: &ItemId,
    ) -> Option<Option<Item>> {
        let bytes = self.cache.get(key).await.ok().flatten()?;
        decode_entry(&bytes)
            .filter(|entry| self.now_ms() < entry.fresh_until)
            .map(|entry| entry.into_item(owner, id))
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
        let entry = encode_entry(item, self.now_ms() + millis(fresh));
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
            tracing::warn!(error = %Chain(&error), key = key.as_str(), "cache write failed");
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
