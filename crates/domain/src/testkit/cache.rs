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

/// Runs every rule against `cache`.
pub async fn run(cache: Arc<dyn Cache>) {
    let owner = unique("owner");
    let k = key(&owner, "x");
    assert_eq!(cache.get(&k).await.expect("answers"), None, "starts empty");

    let value: Arc<[u8]> = Arc::from(&b"\x00binary\xffvalue"[..]);
    cache
        .set(&k, value.clone(), Duration::from_secs(60))
        .await
        .expect("set");
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

    cache
        .set(&k, Arc::from(&b"second"[..]), Duration::from_secs(60))
        .await
        .expect("set");
    assert_eq!(
        cache.get(&k).await.expect("answers").as_deref(),
        Some(&b"second"[..])
    );

    cache.delete(&k).await.expect("delete");
    assert_eq!(cache.get(&k).await.expect("answers"), None, "deleted");
    cache
        .delete(&k)
        .await
        .expect("deleting an absent key is fine");

    let short = key(&owner, "short");
    cache
        .set(&short, Arc::from(&b"v"[..]), Duration::from_millis(1100))
        .await
        .expect("set");
    // Waits out the TTL (no timing assertion: only that expiry eventually happens).
    let mut expired = false;
    for _ in 0..40 {
        tokio_free_sleep(Duration::from_millis(100)).await;
        if cache.get(&short).await.expect("answers").is_none() {
            expired = true;
            break;
        }
    }
    assert!(expired, "an entry must expire after its ttl");
}

/// A runtime-agnostic sleep, so the domain crate need not depend on tokio.
async fn tokio_free_sleep(duration: Duration) {
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(duration);
        let _ = tx.send(());
    });
    let _ = rx.await;
}
