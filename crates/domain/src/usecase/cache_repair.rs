//! Keeping the cache honest across its own outages.
//!
//! A write commits to the store and then writes the new version through to the cache. If that
//! cache write fails (Redis down or hanging), the cache may still hold the previous version, and
//! every replica would serve it as fresh once the cache is back. Two rules close that gap:
//!
//! - the writing replica keeps each failed write-through and retries it in the background until
//!   it lands (versioned, so it can never replace anything newer) or the old entry has expired;
//! - every replica distrusts cache hits for a grace period after it last saw the cache fail,
//!   reading the store instead and refreshing the entry. The grace outlasts the time the
//!   writer needs to notice the cache is back and land its repairs.
//!
//! One gap remains: a writer cut off from the cache while other replicas still reach it leaves
//! them serving the old value until it reconnects and repairs, or the entry expires.

use super::items::{Sleeper, Spawner};
use crate::cache::{Cache, CacheKey};
use crate::cause::Chain;
use crate::clock::{unix_millis, Clock};
use futures::FutureExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long the repair loop waits between rounds.
const RETRY_EVERY: Duration = Duration::from_millis(100);
/// Failed write-throughs kept for repair, by count and by bytes (an entry holds a whole
/// document, up to 1 MiB); beyond either bound the older value may be served until it expires
/// (and a warning says so).
const MAX_PENDING: usize = 10_000;
const MAX_PENDING_BYTES: usize = 64 * 1024 * 1024;

/// A write-through that has not landed yet.
struct Pending {
    rank: u64,
    entry: Arc<[u8]>,
    ttl: Duration,
    /// After this the entry it must replace has expired anyway.
    give_up_at_ms: u64,
}

/// The write-throughs owed, and the bytes they hold.
#[derive(Default)]
struct Owed {
    by_key: HashMap<CacheKey, Pending>,
    bytes: usize,
}

impl Owed {
    fn insert(&mut self, key: CacheKey, pending: Pending) {
        self.bytes += pending.entry.len();
        if let Some(replaced) = self.by_key.insert(key, pending) {
            self.bytes -= replaced.entry.len();
        }
    }

    fn remove(&mut self, key: &CacheKey) {
        if let Some(removed) = self.by_key.remove(key) {
            self.bytes -= removed.entry.len();
        }
    }

    fn retain_until(&mut self, now_ms: u64) {
        self.by_key.retain(|_, p| p.give_up_at_ms > now_ms);
        self.bytes = self.by_key.values().map(|p| p.entry.len()).sum();
    }

    /// Whether `entry` for `key` may be added within the bounds.
    fn has_room(&self, key: &CacheKey, entry: &[u8]) -> bool {
        let replaced = self.by_key.get(key).map_or(0, |p| p.entry.len());
        (self.by_key.len() < MAX_PENDING || self.by_key.contains_key(key))
            && self.bytes - replaced + entry.len() <= MAX_PENDING_BYTES
    }
}

/// The cache's recent failures and the writes still owed to it, shared by one replica's reads,
/// writes and its repair loop.
pub(crate) struct CacheRepair {
    cache: Arc<dyn Cache>,
    grace_ms: u64,
    last_failure_ms: AtomicU64,
    pending: Mutex<Owed>,
    running: AtomicBool,
    spawn: Spawner,
    sleep: Sleeper,
    clock: Arc<dyn Clock>,
}

impl CacheRepair {
    pub(crate) fn new(
        cache: Arc<dyn Cache>,
        grace: Duration,
        spawn: Spawner,
        sleep: Sleeper,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            cache,
            grace_ms: u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
            last_failure_ms: AtomicU64::new(0),
            pending: Mutex::default(),
            running: AtomicBool::new(false),
            spawn,
            sleep,
            clock,
        }
    }

    fn now_ms(&self) -> u64 {
        unix_millis(self.clock.now())
    }

    /// Records that a cache call failed just now.
    pub(crate) fn note_failure(&self) {
        self.last_failure_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Whether a cache hit for `key` may be served: not while a write to it is still owed, nor
    /// within the grace period after a cache failure.
    pub(crate) fn trusts(&self, key: &CacheKey, now_ms: u64) -> bool {
        let since_failure = now_ms.saturating_sub(self.last_failure_ms.load(Ordering::Relaxed));
        // Every read asks: take the lock only while repairs are owed (the loop runs exactly
        // then; a write schedules its repair before it returns to its caller).
        since_failure >= self.grace_ms
            && !(self.running.load(Ordering::Acquire) && self.lock().by_key.contains_key(key))
    }

    /// Owes the cache this write until it lands or `keep_for` has passed.
    pub(crate) fn schedule(
        self: &Arc<Self>,
        key: CacheKey,
        rank: u64,
        entry: Arc<[u8]>,
        ttl: Duration,
        keep_for: Duration,
    ) {
        let give_up_at_ms = self.now_ms() + u64::try_from(keep_for.as_millis()).unwrap_or(u64::MAX);
        {
            let mut pending = self.lock();
            if !pending.has_room(&key, &entry) {
                tracing::warn!(
                    key = key.as_str(),
                    "too many cache repairs pending; this key may serve an older value until it expires"
                );
                return;
            }
            let newer = pending.by_key.get(&key).is_none_or(|p| p.rank <= rank);
            if newer {
                pending.insert(
                    key,
                    Pending {
                        rank,
                        entry,
                        ttl,
                        give_up_at_ms,
                    },
                );
            }
        }
        if !self.running.swap(true, Ordering::AcqRel) {
            let repair = self.clone();
            (self.spawn)(async move { repair.run().await }.boxed());
        }
    }

    /// Retries owed writes until none is left, stopping each round at the first failure.
    async fn run(self: Arc<Self>) {
        loop {
            (self.sleep)(RETRY_EVERY).await;
            let now = self.now_ms();
            let due: Vec<(CacheKey, u64, Arc<[u8]>, Duration)> = {
                let mut pending = self.lock();
                pending.retain_until(now);
                pending
                    .by_key
                    .iter()
                    .map(|(key, p)| (key.clone(), p.rank, p.entry.clone(), p.ttl))
                    .collect()
            };
            for (key, rank, entry, ttl) in due {
                if let Err(error) = self.cache.put(&key, rank, entry, ttl).await {
                    self.note_failure();
                    tracing::debug!(error = %Chain(&error), "cache repair deferred");
                    break;
                }
                let mut pending = self.lock();
                if pending.by_key.get(&key).is_some_and(|p| p.rank == rank) {
                    pending.remove(&key);
                }
            }
            if self.lock().by_key.is_empty() {
                self.running.store(false, Ordering::Release);
                // A write may have been scheduled between the check and the store above.
                if self.lock().by_key.is_empty() || self.running.swap(true, Ordering::AcqRel) {
                    return;
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Owed> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CacheError;
    use crate::clock::ManualClock;
    use async_trait::async_trait;
    use std::time::SystemTime;

    /// A cache in an outage: every call fails.
    struct Down;

    #[async_trait]
    impl Cache for Down {
        async fn get(&self, _: &CacheKey) -> Result<Option<Arc<[u8]>>, CacheError> {
            Err(CacheError(crate::cause::Cause::new("down")))
        }
        async fn put(
            &self,
            _: &CacheKey,
            _: u64,
            _: Arc<[u8]>,
            _: Duration,
        ) -> Result<bool, CacheError> {
            Err(CacheError(crate::cause::Cause::new("down")))
        }
        async fn lease(&self, _: &CacheKey, _: Duration) -> Result<bool, CacheError> {
            Err(CacheError(crate::cause::Cause::new("down")))
        }
        async fn await_fill(
            &self,
            _: &CacheKey,
            _: Duration,
        ) -> Result<Option<Arc<[u8]>>, CacheError> {
            Err(CacheError(crate::cause::Cause::new("down")))
        }
    }

    #[test]
    fn hits_are_distrusted_for_the_grace_period_after_a_failure_by_the_injected_clock() {
        let grace = Duration::from_secs(5);
        // Far from the system's time, so a failure dated by the system clock would show.
        let clock = Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH + grace * 1000));
        let repair = CacheRepair::new(
            Arc::new(Down),
            grace,
            Arc::new(|_| {}),
            Arc::new(|_| async {}.boxed()),
            clock.clone(),
        );
        let owner = crate::identity::Subject::new("owner").unwrap();
        let key = CacheKey::item(&owner, &crate::item::ItemId::new("doc").unwrap());
        let now = || crate::clock::unix_millis(clock.now());
        assert!(repair.trusts(&key, now()), "no failure seen yet");
        repair.note_failure();
        clock.advance(grace - Duration::from_millis(1));
        assert!(!repair.trusts(&key, now()), "within the grace period");
        clock.advance(Duration::from_millis(1));
        assert!(repair.trusts(&key, now()), "the grace period is over");
    }

    fn pending(bytes: usize) -> Pending {
        Pending {
            rank: 1,
            entry: Arc::from(vec![0u8; bytes]),
            ttl: Duration::from_secs(1),
            give_up_at_ms: u64::MAX,
        }
    }

    #[test]
    fn owed_repairs_are_bounded_by_bytes_as_well_as_count() {
        let owner = crate::identity::Subject::new("owner").unwrap();
        let key =
            |i: usize| CacheKey::item(&owner, &crate::item::ItemId::new(format!("k{i}")).unwrap());
        let mut owed = Owed::default();
        let mib = 1024 * 1024;
        for i in 0..64 {
            assert!(owed.has_room(&key(i), &vec![0; mib]));
            owed.insert(key(i), pending(mib));
        }
        assert_eq!(owed.bytes, MAX_PENDING_BYTES);
        assert!(
            !owed.has_room(&key(64), &[0; 1]),
            "64 MiB owed: no room for more"
        );
        assert!(
            owed.has_room(&key(0), &vec![0; mib]),
            "replacing an owed write fits"
        );
        owed.remove(&key(0));
        assert_eq!(owed.bytes, MAX_PENDING_BYTES - mib);
        owed.retain_until(u64::MAX);
        assert_eq!((owed.by_key.len(), owed.bytes), (0, 0));
    }
}
