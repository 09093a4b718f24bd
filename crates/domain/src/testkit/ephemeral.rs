//! The contract of [`EphemeralStore`]: what sessions, single-use codes and device decisions rely
//! on, run against every adapter.

use crate::ephemeral::EphemeralStore;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_millis(300);

/// Runs the whole contract against `store`.
pub async fn ephemeral_store_contract(store: &dyn EphemeralStore) {
    let key = |name: &str| format!("{}:{name}", super::unique("ephemeral"));
    let (a, b, c, d) = (key("a"), key("b"), key("c"), key("d"));

    assert_eq!(store.get(&a).await.unwrap(), None);
    store.put(&a, b"one".to_vec(), LONG).await.unwrap();
    assert_eq!(store.get(&a).await.unwrap().as_deref(), Some(&b"one"[..]));
    store.put(&a, b"two".to_vec(), LONG).await.unwrap();
    assert_eq!(
        store.get(&a).await.unwrap().as_deref(),
        Some(&b"two"[..]),
        "put replaces"
    );

    assert!(
        !store.put_new(&a, b"three".to_vec(), LONG).await.unwrap(),
        "put_new never replaces"
    );
    assert!(store.put_new(&b, b"first".to_vec(), LONG).await.unwrap());
    assert_eq!(store.get(&b).await.unwrap().as_deref(), Some(&b"first"[..]));

    // A take hands the value out once, even to concurrent callers.
    store.put(&c, b"code".to_vec(), LONG).await.unwrap();
    let takes = futures::future::join_all((0..8).map(|_| store.take(&c))).await;
    let winners = takes
        .into_iter()
        .filter(|t| t.as_ref().unwrap().is_some())
        .count();
    assert_eq!(winners, 1, "exactly one take gets a single-use value");
    assert_eq!(store.get(&c).await.unwrap(), None);

    // Touch extends a live record and never creates one.
    assert!(!store.touch(&d, LONG).await.unwrap(), "touch never creates");
    assert_eq!(store.get(&d).await.unwrap(), None);
    store.put(&d, b"session".to_vec(), SHORT).await.unwrap();
    assert!(store.touch(&d, LONG).await.unwrap());
    tokio::time::sleep(SHORT * 2).await;
    assert!(
        store.get(&d).await.unwrap().is_some(),
        "a touched record lives on"
    );

    // Records expire on their own, and an expired record is gone for every operation.
    store.put(&a, b"short".to_vec(), SHORT).await.unwrap();
    tokio::time::sleep(SHORT * 2).await;
    assert_eq!(store.get(&a).await.unwrap(), None);
    assert_eq!(store.take(&a).await.unwrap(), None);
    assert!(
        !store.touch(&a, LONG).await.unwrap(),
        "an expired record is not revived"
    );
    assert!(store.put_new(&a, b"again".to_vec(), LONG).await.unwrap());

    store.delete(&a).await.unwrap();
    store.delete(&a).await.unwrap();
    assert_eq!(store.get(&a).await.unwrap(), None, "delete is idempotent");
}
