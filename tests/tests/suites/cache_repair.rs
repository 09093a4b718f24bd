//! A write whose write-through is lost in a cache outage is never served stale afterwards, by
//! the writing replica or by another one, and the cache is repaired once it is back. Two
//! `ItemService`s (two replicas) share one store and one cache that the test can make fail.

use async_trait::async_trait;
use portcullis_cache::LocalCache;
use portcullis_domain::cache::{Cache, CacheError, CacheKey};
use portcullis_domain::cause::Cause;
use portcullis_domain::clock::ManualClock;
use portcullis_domain::identity::Subject;
use portcullis_domain::item::{ItemData, ItemId};
use portcullis_domain::store::{ItemStore, Precondition};
use portcullis_domain::usecase::items::{CachePolicy, CacheResult, ItemService};
use portcullis_store::SqliteItemStore;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How long a replica distrusts the cache after seeing it fail.
const RECOVERY_GRACE: Duration = Duration::from_millis(300);

/// A cache that fails every call while `down` is set, like Redis during an outage.
struct Flaky {
    inner: LocalCache,
    down: AtomicBool,
}

impl Flaky {
    fn check(&self) -> Result<(), CacheError> {
        if self.down.load(Ordering::SeqCst) {
            Err(CacheError(Cause::new("down")))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Cache for Flaky {
    async fn get(&self, key: &CacheKey) -> Result<Option<Arc<[u8]>>, CacheError> {
        self.check()?;
        self.inner.get(key).await
    }
    async fn put(
        &self,
        key: &CacheKey,
        version: u64,
        value: Arc<[u8]>,
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        self.check()?;
        self.inner.put(key, version, value, ttl).await
    }
    async fn lease(&self, key: &CacheKey, ttl: Duration) -> Result<bool, CacheError> {
        self.check()?;
        self.inner.lease(key, ttl).await
    }
    async fn await_fill(
        &self,
        key: &CacheKey,
        timeout: Duration,
    ) -> Result<Option<Arc<[u8]>>, CacheError> {
        self.check()?;
        self.inner.await_fill(key, timeout).await
    }
}

/// A replica whose cache entries and failures are dated by `clock`; its repair loop is paced by
/// the runtime, which the clock does not move.
fn replica(store: Arc<dyn ItemStore>, cache: Arc<Flaky>, clock: Arc<ManualClock>) -> ItemService {
    ItemService::new(
        store,
        cache,
        CachePolicy {
            recovery_grace: RECOVERY_GRACE,
            ..CachePolicy::default()
        },
        Arc::new(|task| {
            tokio::spawn(task);
        }),
        Arc::new(|duration| Box::pin(tokio::time::sleep(duration))),
        clock,
    )
}

fn data(text: &str) -> ItemData {
    ItemData::parse(&format!("\"{text}\"")).expect("json")
}

#[tokio::test]
async fn a_write_lost_in_a_cache_outage_is_never_served_stale() {
    let store: Arc<dyn ItemStore> = Arc::new(
        SqliteItemStore::connect("sqlite::memory:")
            .await
            .expect("store"),
    );
    let cache = Arc::new(Flaky {
        inner: LocalCache::new(1 << 20),
        down: AtomicBool::new(false),
    });
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let (writer, reader) = (
        replica(store.clone(), cache.clone(), clock.clone()),
        replica(store, cache.clone(), clock.clone()),
    );
    let (owner, id) = (Subject::new("alice").unwrap(), ItemId::new("doc").unwrap());

    let first = writer
        .put(&owner, &id, data("v1"), Precondition::NONE)
        .await
        .expect("first write");
    let (seen, how) = reader.get(&owner, &id).await.expect("read");
    assert_eq!(
        (seen.map(|i| i.version), how),
        (Some(first.version), CacheResult::Hit)
    );

    // The outage: the second write commits, its write-through fails; readers bypass the cache.
    cache.down.store(true, Ordering::SeqCst);
    let second = writer
        .put(&owner, &id, data("v2"), Precondition::NONE)
        .await
        .expect("the write commits even though the cache is down");
    let (seen, how) = reader
        .get(&owner, &id)
        .await
        .expect("read during the outage");
    assert_eq!(
        (seen.map(|i| i.version), how),
        (Some(second.version), CacheResult::Bypass)
    );

    // A second item written in the outage is left unread, so only the writer's repair can
    // bring its entry up to date.
    let unread = ItemId::new("unread").unwrap();
    writer
        .put(&owner, &unread, data("old"), Precondition::NONE)
        .await
        .expect("write in the outage");
    cache.down.store(false, Ordering::SeqCst);
    writer
        .put(&owner, &unread, data("old"), Precondition::NONE)
        .await
        .expect("write after the outage");
    cache.down.store(true, Ordering::SeqCst);
    writer
        .put(&owner, &unread, data("new"), Precondition::NONE)
        .await
        .expect("write in the outage");

    // Back: the cache still holds v1 until the writer's repair lands, yet no read returns it.
    cache.down.store(false, Ordering::SeqCst);
    for _ in 0..20 {
        for replica in [&writer, &reader] {
            let (seen, _) = replica
                .get(&owner, &id)
                .await
                .expect("read after the outage");
            assert_eq!(
                seen.map(|i| i.version),
                Some(second.version),
                "an acknowledged write must never be read back older"
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let unread_key = CacheKey::item(&owner, &unread);
    let mut repaired = false;
    for _ in 0..100 {
        let cached = cache.inner.get(&unread_key).await.unwrap();
        if cached.is_some_and(|bytes| bytes.ends_with(br#""new""#)) {
            repaired = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        repaired,
        "the lost write-through reached the cache within 2 s"
    );

    // After the grace period both replicas trust the cache again, and it is current.
    clock.advance(RECOVERY_GRACE);
    for replica in [&writer, &reader] {
        let (seen, how) = replica.get(&owner, &id).await.expect("read");
        assert_eq!(
            (seen.map(|i| i.version), how),
            (Some(second.version), CacheResult::Hit)
        );
        let (seen, how) = replica.get(&owner, &unread).await.expect("read");
        assert_eq!(
            (seen.map(|i| i.data.as_str().to_string()), how),
            (Some(r#""new""#.to_string()), CacheResult::Hit)
        );
    }
}
