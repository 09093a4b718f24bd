//! A memory tier in front of the shared cache, kept coherent by Redis.
//!
//! Every replica keeps hot entries in its own memory and serves them without a Redis round trip,
//! but only while it can *prove* it has applied every invalidation of every write acknowledged
//! before the read began. The proof is built from two facts Redis gives for free: it runs
//! commands one at a time, and it delivers a channel's messages to a subscriber in the order it
//! ran the `PUBLISH`es.
//!
//! - Every write to the shared cache publishes the key it changed, in the same script that
//!   changes it ([`crate::RedisCache::with_invalidations`]).
//! - Each replica publishes a heartbeat stamped with the time it *sent* it, on its own monotonic
//!   clock, every fifth of the coherence window `W`, and reads its own heartbeats back on its
//!   subscription. When a heartbeat sent at `t` comes back, every write Redis ran before it
//!   reached Redis (in particular every write that ran before `t`) has already been delivered
//!   and applied, because its invalidation came first on the same subscription.
//! - The tier serves from memory only while the newest heartbeat seen was sent less than `W`
//!   ago, and a writer waits `W` after its write reached Redis (or failed to) before it
//!   acknowledges ([`Cache::settle`]).
//!
//! So a read that starts after a write was acknowledged, on any replica, starts more than `W`
//! after the write ran: either the replica has seen a heartbeat sent after the write (so the
//! invalidation is applied), or it is not live and asks Redis. Only durations measured on each
//! replica's own clock are compared, never two clocks. Filling memory from Redis races with
//! invalidations arriving on the other connection; an epoch per stripe of keys, read before the
//! Redis read and checked after the insert, drops any fill an invalidation overtook.

use async_trait::async_trait;
use portcullis_domain::cache::{Cache, CacheError, CacheKey};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many epoch counters the keys are spread over: an invalidation holds back fills of the
/// keys of its stripe only, for the moment it takes to apply.
const STRIPES: usize = 1024;

/// How a read met the memory tier, for the `portcullis_cache_tier_requests_total{result}` counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TierResult {
    /// Served from this replica's memory.
    Hit,
    /// The tier was live but did not hold the key: read from the shared cache.
    Miss,
    /// The tier could not prove it is up to date (no recent heartbeat): read from the shared
    /// cache.
    Unproven,
}

impl TierResult {
    /// Every result, so its counter can be exported at 0 from the start.
    pub const ALL: [Self; 3] = [Self::Hit, Self::Miss, Self::Unproven];

    /// The metric label.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Unproven => "unproven",
        }
    }
}

/// Called once per read with how the tier served it.
pub type TierObserver = Arc<dyn Fn(TierResult) + Send + Sync>;

/// What the read path and the subscription share.
pub(crate) struct LocalTier {
    /// Each copy with the moment its entry in the shared cache expires.
    entries: moka::sync::Cache<String, (Arc<[u8]>, Instant)>,
    window: Duration,
    started: Instant,
    /// When the newest own heartbeat seen on the subscription was sent, in nanoseconds since
    /// `started` plus one; 0 = none since the subscription (re)started.
    confirmed: AtomicU64,
    /// Bumped when the subscription restarts: fills begun before it are dropped.
    generation: AtomicU64,
    epochs: Vec<AtomicU64>,
    /// This replica's name in its heartbeats.
    pub(crate) instance: String,
}

/// The point a fill started from; the fill is kept only if nothing moved since.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Ticket {
    generation: u64,
    epoch: u64,
}

impl LocalTier {
    pub(crate) fn new(max_bytes: u64, window: Duration, max_age: Duration) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, (value, _): &(Arc<[u8]>, Instant)| {
                (key.len() + value.len()).try_into().unwrap_or(u32::MAX)
            })
            .time_to_live(max_age)
            .build();
        Self {
            entries,
            window,
            started: Instant::now(),
            confirmed: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            epochs: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            instance: format!("{:016x}", rand::random::<u64>()),
        }
    }

    /// Now on the tier's clock, never 0.
    pub(crate) fn now_ns(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1
    }

    /// Whether a heartbeat sent less than a window ago has come back.
    fn live(&self) -> bool {
        let confirmed = self.confirmed.load(Ordering::SeqCst);
        let window = u64::try_from(self.window.as_nanos()).unwrap_or(u64::MAX);
        confirmed != 0 && self.now_ns().saturating_sub(confirmed) < window
    }

    fn stripe(&self, key: &str) -> &AtomicU64 {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        &self.epochs[(hasher.finish() as usize) % STRIPES]
    }

    fn ticket(&self, key: &str) -> Ticket {
        Ticket {
            generation: self.generation.load(Ordering::SeqCst),
            epoch: self.stripe(key).load(Ordering::SeqCst),
        }
    }

    /// A copy still held and not past its entry's expiry.
    fn copy(&self, key: &str) -> Option<Arc<[u8]>> {
        self.entries
            .get(key)
            .filter(|(_, expires)| Instant::now() < *expires)
            .map(|(value, _)| value)
    }

    /// Keeps a value read from the shared cache for as long as its entry there lives, unless an
    /// invalidation of its stripe or a restart of the subscription came in since `ticket`:
    /// insert first, check after, so an invalidation applied between the two is seen by the
    /// check.
    fn admit(&self, key: &str, value: Arc<[u8]>, lifetime: Duration, ticket: Ticket) {
        if !self.live() || lifetime.is_zero() {
            return;
        }
        self.entries
            .insert(key.to_owned(), (value, Instant::now() + lifetime));
        if self.ticket(key) != ticket {
            self.entries.invalidate(key);
        }
    }

    /// Drops `key`: a write changed it somewhere.
    pub(crate) fn invalidate(&self, key: &str) {
        self.stripe(key).fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate(key);
    }

    /// Records that the own heartbeat sent at `sent_ns` came back.
    pub(crate) fn confirm(&self, sent_ns: u64) {
        self.confirmed.fetch_max(sent_ns, Ordering::SeqCst);
    }

    /// Forgets everything: the subscription (re)started, so invalidations may have been missed.
    pub(crate) fn reset(&self) {
        self.confirmed.store(0, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate_all();
    }

    pub(crate) fn window(&self) -> Duration {
        self.window
    }
}

/// The cache port with a coherent memory tier in front of `remote` (the shared Redis cache).
/// Build it with [`crate::invalidations::start`], which also starts the subscription and the
/// heartbeats that keep it live.
pub struct TieredCache {
    remote: Arc<dyn Cache>,
    tier: Arc<LocalTier>,
    observer: Option<TierObserver>,
}

impl std::fmt::Debug for TieredCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TieredCache")
            .field("window", &self.tier.window)
            .field("live", &self.tier.live())
            .finish_non_exhaustive()
    }
}

impl TieredCache {
    pub(crate) fn new(remote: Arc<dyn Cache>, tier: Arc<LocalTier>) -> Self {
        Self {
            remote,
            tier,
            observer: None,
        }
    }

    /// Reports how each read met the tier (the data API counts them).
    pub fn with_observer(mut self, observer: TierObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Whether the tier serves from memory right now.
    pub fn is_live(&self) -> bool {
        self.tier.live()
    }

    fn observe(&self, result: TierResult) {
        if let Some(observer) = &self.observer {
            observer(result);
        }
    }
}

#[async_trait]
impl Cache for TieredCache {
    async fn get(&self, key: &CacheKey) -> Result<Option<Arc<[u8]>>, CacheError> {
        let live = self.tier.live();
        if live {
            if let Some(value) = self.tier.copy(key.as_str()) {
                self.observe(TierResult::Hit);
                return Ok(Some(value));
            }
        }
        self.observe(if live {
            TierResult::Miss
        } else {
            TierResult::Unproven
        });
        let ticket = self.tier.ticket(key.as_str());
        let Some((value, lifetime)) = self.remote.get_expiring(key).await? else {
            return Ok(None);
        };
        self.tier
            .admit(key.as_str(), value.clone(), lifetime, ticket);
        Ok(Some(value))
    }

    async fn put(
        &self,
        key: &CacheKey,
        version: u64,
        value: Arc<[u8]>,
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        let stored = self.remote.put(key, version, value, ttl).await;
        // The replica's own copy goes at once; the published invalidation drops the others.
        self.tier.invalidate(key.as_str());
        stored
    }

    async fn lease(&self, key: &CacheKey, ttl: Duration) -> Result<bool, CacheError> {
        self.remote.lease(key, ttl).await
    }

    async fn await_fill(
        &self,
        key: &CacheKey,
        timeout: Duration,
    ) -> Result<Option<Arc<[u8]>>, CacheError> {
        self.remote.await_fill(key, timeout).await
    }

    /// One coherence window: by then every replica has either applied this write's invalidation
    /// or stopped serving from memory (see the module documentation).
    async fn settle(&self) {
        tokio::time::sleep(self.tier.window).await;
        self.remote.settle().await;
    }
}

#[cfg(test)]
#[path = "tier_tests.rs"]
mod tests;
