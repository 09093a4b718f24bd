//! The contract of [`Cache`].

use super::unique;
use crate::cache::{Cache, CacheKey};
use crate::identity::Subject;
use crate::item::ItemId;
use std::sync::Arc;
use std::time::Duration;

fn key(owner: &str, id: &str) -> CacheKey {
    CacheKey::item(
        &Subject::new(owner).expect("valid subject"),
        &ItemId::new(id).expect("valid id"),
    )
}

fn bytes(value: &[u8]) -> Arc<[u8]> {
    Arc::from(value)
}

const MINUTE: Duration = Duration::from_secs(60);

/// Runs every rule against `cache`.
pub async fn run(cache: Arc<dyn Cache>) {
    let owner = unique("owner");
    let k = key(&owner, "x");
    assert_eq!(cache.get(&k).await.expect("answers"), None, "starts empty");

    let value = bytes(b"\x00binary\xffvalue");
    assert!(cache.put(&k, 5, value.clone(), MINUTE).await.expect("put"));
    assert_eq!(
        cache.get(&k).await.expect("answers").as_deref(),
        Some(&*value)
    );

    let other = key(&unique("owner"), "x");
    assert_eq!(
        cache.get(&other).await.expect("answers"),
        None,
        "owners never share entries"
    );

    // Versions never move backwards: an older write is refused and changes nothing; an equal
    // one replaces (that is how a refresh renews an unchanged entry).
    assert!(!cache
        .put(&k, 4, bytes(b"older"), MINUTE)
        .await
        .expect("put"));
    assert_eq!(
        cache.get(&k).await.expect("answers").as_deref(),
        Some(&*value)
    );
    assert!(cache.put(&k, 5, bytes(b"same"), MINUTE).await.expect("put"));
    assert_eq!(
        cache.get(&k).await.expect("answers").as_deref(),
        Some(&b"same"[..])
    );
    assert!(cache
        .put(&k, 6, bytes(b"newer"), MINUTE)
        .await
        .expect("put"));
    assert_eq!(
        cache.get(&k).await.expect("answers").as_deref(),
        Some(&b"newer"[..])
    );

    // Version 0 (what a reader caches for "not found") never replaces an item.
    let fresh = key(&owner, "fresh");
    assert!(cache
        .put(&fresh, 0, bytes(b"absent"), MINUTE)
        .await
        .expect("put"));
    assert!(cache
        .put(&fresh, 1, bytes(b"created"), MINUTE)
        .await
        .expect("put"));
    assert!(!cache
        .put(&fresh, 0, bytes(b"absent"), MINUTE)
        .await
        .expect("put"));
    assert_eq!(
        cache.get(&fresh).await.expect("answers").as_deref(),
        Some(&b"created"[..])
    );

    // Concurrent writers of different versions: the newest wins, whatever the order.
    let raced = key(&owner, "raced");
    let writes = (1..=20u64).rev().map(|v| {
        let (cache, raced) = (cache.clone(), raced.clone());
        async move {
            cache
                .put(&raced, v, bytes(&v.to_be_bytes()), MINUTE)
                .await
                .expect("put")
        }
    });
    futures::future::join_all(writes).await;
    assert_eq!(
        cache.get(&raced).await.expect("answers").as_deref(),
        Some(&20u64.to_be_bytes()[..])
    );

    // One lease holder at a time; a fill ends the lease and wakes the waiters.
    let leased = key(&owner, "leased");
    let lease = Duration::from_secs(5);
    assert!(
        cache.lease(&leased, lease).await.expect("lease"),
        "the first caller loads"
    );
    assert!(
        !cache.lease(&leased, lease).await.expect("lease"),
        "the others wait"
    );
    let waiter = cache.await_fill(&leased, Duration::from_secs(5));
    let filler = async {
        runtime_free_sleep(Duration::from_millis(50)).await;
        cache
            .put(&leased, 3, bytes(b"filled"), MINUTE)
            .await
            .expect("put")
    };
    let (seen, _) = futures::join!(waiter, filler);
    assert_eq!(
        seen.expect("answers").as_deref(),
        Some(&b"filled"[..]),
        "the waiter sees the fill"
    );
    assert!(
        cache.lease(&leased, lease).await.expect("lease"),
        "the fill ended the lease"
    );
    let nothing = cache
        .await_fill(&key(&owner, "never"), Duration::from_millis(50))
        .await;
    assert_eq!(
        nothing.expect("answers"),
        None,
        "waiting ends at the timeout"
    );

    // Entries expire; an expired entry no longer blocks older versions.
    let short = key(&owner, "short");
    assert!(cache
        .put(&short, 9, bytes(b"v"), Duration::from_millis(1100))
        .await
        .expect("put"));
    // Waits out the TTL (no timing assertion: only that expiry eventually happens).
    let mut expired = false;
    for _ in 0..40 {
        runtime_free_sleep(Duration::from_millis(100)).await;
        if cache.get(&short).await.expect("answers").is_none() {
            expired = true;
            break;
        }
    }
    assert!(expired, "an entry must expire after its ttl");
    assert!(cache
        .put(&short, 1, bytes(b"after expiry"), MINUTE)
        .await
        .expect("put"));
}

/// A runtime-agnostic sleep, so the domain crate need not depend on tokio.
async fn runtime_free_sleep(duration: Duration) {
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(duration);
        let _ = tx.send(());
    });
    let _ = rx.await;
}
