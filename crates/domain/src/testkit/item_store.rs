//! The contract of [`ItemStore`].

use super::unique;
use crate::identity::Subject;
use crate::item::{ItemData, ItemId};
use crate::store::{ItemStore, Precondition, StoreError};
use std::sync::Arc;

fn data(json: &str) -> ItemData {
    ItemData::parse(json).expect("valid json")
}

fn id(value: &str) -> ItemId {
    ItemId::new(value).expect("valid id")
}

/// Runs every rule against `store`.
pub async fn run(store: Arc<dyn ItemStore>) {
    let alice = Subject::new(unique("alice")).expect("subject");
    let bob = Subject::new(unique("bob")).expect("subject");
    let x = id("x");

    assert_eq!(store.get(&alice, &x).await.expect("get"), None);
    let v1 = store
        .put(&alice, &x, data(r#"{"n":1}"#), Precondition::None)
        .await
        .expect("create");
    assert_eq!(v1.data.as_str(), r#"{"n":1}"#);
    assert_eq!(store.get(&alice, &x).await.expect("get"), Some(v1.clone()));

    // Owners have separate namespaces.
    assert_eq!(
        store.get(&bob, &x).await.expect("get"),
        None,
        "bob cannot see alice's x"
    );
    let bob_x = store
        .put(&bob, &x, data(r#""bob""#), Precondition::None)
        .await
        .expect("bob's own x");
    assert_eq!(
        store.get(&alice, &x).await.expect("get"),
        Some(v1.clone()),
        "untouched"
    );
    assert_ne!(
        bob_x.version, v1.version,
        "versions are unique across the store"
    );

    // Versions only grow, and preconditions are checked with the write.
    let v2 = store
        .put(
            &alice,
            &x,
            data(r#"{"n":2}"#),
            Precondition::Matches(v1.version),
        )
        .await
        .expect("conditional update");
    assert!(v2.version > v1.version);
    let stale = store
        .put(
            &alice,
            &x,
            data(r#"{"n":3}"#),
            Precondition::Matches(v1.version),
        )
        .await;
    assert!(
        matches!(stale, Err(StoreError::PreconditionFailed)),
        "stale If-Match"
    );
    assert_eq!(
        store.get(&alice, &x).await.expect("get"),
        Some(v2.clone()),
        "nothing changed"
    );
    let created = store.put(&alice, &x, data("0"), Precondition::Absent).await;
    assert!(
        matches!(created, Err(StoreError::PreconditionFailed)),
        "If-None-Match: *"
    );
    let missing = store
        .put(&alice, &id("nope"), data("0"), Precondition::Exists)
        .await;
    assert!(
        matches!(missing, Err(StoreError::PreconditionFailed)),
        "If-Match: * on absent"
    );
    assert_eq!(store.get(&alice, &id("nope")).await.expect("get"), None);
    let missing = store
        .put(
            &alice,
            &id("nope"),
            data("0"),
            Precondition::Matches(v2.version),
        )
        .await;
    assert!(
        matches!(missing, Err(StoreError::PreconditionFailed)),
        "If-Match on absent"
    );

    // Delete honours preconditions and reports whether anything was there.
    let refused = store
        .delete(&alice, &x, Precondition::Matches(v1.version))
        .await;
    assert!(matches!(refused, Err(StoreError::PreconditionFailed)));
    assert_eq!(
        store
            .delete(&alice, &x, Precondition::Matches(v2.version))
            .await
            .expect("delete"),
        Some(v2.version),
        "a delete answers the version it removed"
    );
    assert_eq!(
        store
            .delete(&alice, &x, Precondition::None)
            .await
            .expect("delete again"),
        None
    );
    assert_eq!(store.get(&alice, &x).await.expect("get"), None);
    assert!(
        store.get(&bob, &x).await.expect("get").is_some(),
        "bob's x survives"
    );

    // A re-created item never reuses an old version.
    let again = store
        .put(&alice, &x, data("1"), Precondition::Absent)
        .await
        .expect("re-create");
    assert!(again.version > v2.version);

    // Lists are per owner, in id order, paged by cursor.
    for name in ["c", "a", "b", "d"] {
        store
            .put(&alice, &id(name), data("true"), Precondition::None)
            .await
            .expect("put");
    }
    let first = store.list(&alice, None, 2).await.expect("list");
    let names: Vec<&str> = first.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    let rest = store.list(&alice, Some(&id("b")), 10).await.expect("list");
    let names: Vec<&str> = rest.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(names, ["c", "d", "x"]);
    assert!(rest.iter().all(|i| i.owner == alice), "only alice's items");
    let bobs = store.list(&bob, None, 10).await.expect("list");
    assert_eq!(bobs.len(), 1);

    // Large documents survive byte for byte.
    let big = format!("\"{}\"", "é".repeat(200_000));
    let stored = store
        .put(&alice, &id("big"), data(&big), Precondition::None)
        .await
        .expect("big");
    let read = store
        .get(&alice, &id("big"))
        .await
        .expect("get")
        .expect("present");
    assert_eq!(read.data.as_str(), big);
    assert_eq!(read.version, stored.version);
}
