use super::*;
use crate::LocalCache;
use portcullis_domain::identity::Subject;
use portcullis_domain::item::ItemId;

const HOUR: Duration = Duration::from_secs(3600);

fn key(id: &str) -> CacheKey {
    CacheKey::item(&Subject::new("alice").unwrap(), &ItemId::new(id).unwrap())
}

/// A tier in front of an in-process cache, live until `window` after its last confirm.
fn tiered(window: Duration) -> (TieredCache, Arc<LocalTier>, Arc<LocalCache>) {
    let remote = Arc::new(LocalCache::new(1 << 20));
    let tier = Arc::new(LocalTier::new(1 << 20, window, HOUR));
    (TieredCache::new(remote.clone(), tier.clone()), tier, remote)
}

fn beat(tier: &LocalTier) {
    tier.confirm(tier.now_ns());
}

#[tokio::test]
async fn the_tier_passes_the_cache_contract_while_live() {
    let (cache, tier, _) = tiered(HOUR);
    beat(&tier);
    portcullis_domain::testkit::cache::run(Arc::new(cache)).await;
}

#[tokio::test]
async fn a_live_tier_serves_from_memory_and_an_unproven_one_asks_the_shared_cache() {
    let (cache, tier, remote) = tiered(Duration::from_millis(50));
    let k = key("x");
    remote
        .put(&k, 1, Arc::from(&b"one"[..]), HOUR)
        .await
        .unwrap();
    beat(&tier);
    assert_eq!(cache.get(&k).await.unwrap().as_deref(), Some(&b"one"[..]));
    // Changed behind the tier's back (as another replica's write would, before its
    // invalidation arrives): a live tier still serves its copy...
    remote
        .put(&k, 2, Arc::from(&b"two"[..]), HOUR)
        .await
        .unwrap();
    assert_eq!(cache.get(&k).await.unwrap().as_deref(), Some(&b"one"[..]));
    // ...but once its newest heartbeat is a window old it can prove nothing and reads through.
    std::thread::sleep(Duration::from_millis(100));
    assert!(!cache.is_live());
    assert_eq!(cache.get(&k).await.unwrap().as_deref(), Some(&b"two"[..]));
}

#[tokio::test]
async fn an_invalidation_drops_the_copy() {
    let (cache, tier, remote) = tiered(HOUR);
    beat(&tier);
    let k = key("x");
    remote
        .put(&k, 1, Arc::from(&b"one"[..]), HOUR)
        .await
        .unwrap();
    cache.get(&k).await.unwrap();
    remote
        .put(&k, 2, Arc::from(&b"two"[..]), HOUR)
        .await
        .unwrap();
    tier.invalidate(k.as_str());
    assert_eq!(cache.get(&k).await.unwrap().as_deref(), Some(&b"two"[..]));
}

#[test]
fn a_fill_overtaken_by_an_invalidation_is_not_kept() {
    let tier = LocalTier::new(1 << 20, HOUR, HOUR);
    beat(&tier);
    let ticket = tier.ticket("k");
    // The value was read, then the key was invalidated before the fill landed.
    tier.invalidate("k");
    tier.admit("k", Arc::from(&b"old"[..]), HOUR, ticket);
    assert!(tier.copy("k").is_none());
    // An untouched stripe keeps its fill.
    let ticket = tier.ticket("k");
    tier.admit("k", Arc::from(&b"new"[..]), HOUR, ticket);
    assert_eq!(tier.copy("k").as_deref(), Some(&b"new"[..]));
}

#[test]
fn a_restarted_subscription_forgets_everything_and_refuses_older_fills() {
    let tier = LocalTier::new(1 << 20, HOUR, HOUR);
    beat(&tier);
    let ticket = tier.ticket("a");
    tier.admit("b", Arc::from(&b"b"[..]), HOUR, tier.ticket("b"));
    tier.reset();
    assert!(
        tier.copy("b").is_none(),
        "copies made before the restart are gone"
    );
    beat(&tier);
    tier.admit("a", Arc::from(&b"a"[..]), HOUR, ticket);
    assert!(
        tier.copy("a").is_none(),
        "a fill begun before the restart is dropped"
    );
}

#[test]
fn nothing_is_kept_while_unproven_or_past_its_entry_lifetime() {
    let tier = LocalTier::new(1 << 20, HOUR, HOUR);
    tier.admit("k", Arc::from(&b"v"[..]), HOUR, tier.ticket("k"));
    assert!(
        tier.copy("k").is_none(),
        "no heartbeat yet: nothing is kept"
    );
    beat(&tier);
    tier.admit("k", Arc::from(&b"v"[..]), Duration::ZERO, tier.ticket("k"));
    assert!(
        tier.copy("k").is_none(),
        "an entry about to expire is not kept"
    );
    tier.admit(
        "k",
        Arc::from(&b"v"[..]),
        Duration::from_millis(1),
        tier.ticket("k"),
    );
    std::thread::sleep(Duration::from_millis(5));
    assert!(tier.copy("k").is_none(), "a copy never outlives its entry");
}

#[test]
fn only_own_heartbeats_prove_anything() {
    let tier = LocalTier::new(1 << 20, HOUR, HOUR);
    let sent = tier.now_ns();
    assert!(!crate::invalidations::apply(
        &tier,
        format!("h:someone-else:{sent}").as_bytes()
    ));
    assert!(!tier.live());
    assert!(crate::invalidations::apply(
        &tier,
        format!("h:{}:{sent}", tier.instance).as_bytes()
    ));
    assert!(tier.live());
    tier.admit("k", Arc::from(&b"v"[..]), HOUR, tier.ticket("k"));
    assert!(!crate::invalidations::apply(&tier, b"i:k"));
    assert!(
        tier.copy("k").is_none(),
        "an invalidation message drops the copy"
    );
    assert!(!crate::invalidations::apply(&tier, b"\xff\xfe"));
}
