//! The contract of [`ItemStore`].

use super::unique;
use crate::identity::Subject;
use crate::item::{ItemData, ItemId};
use crate::store::{EntityTags, ItemStore, Precondition, Quota, QuotaKind, StoreError};
use std::sync::Arc;

fn data(json: &str) -> ItemData {
    ItemData::parse(json).expect("valid json")
}

fn id(value: &str) -> ItemId {
    ItemId::new(value).expect("valid id")
}

const MIB: usize = 1024 * 1024;

fn names(items: &[crate::item::Item]) -> Vec<&str> {
    items.iter().map(|i| i.id.as_str()).collect()
}

/// Runs every rule against `store`.
pub async fn run(store: Arc<dyn ItemStore>) {
    let alice = Subject::new(unique("alice")).expect("subject");
    let bob = Subject::new(unique("bob")).expect("subject");
    let x = id("x");

    assert_eq!(store.get(&alice, &x).await.expect("get"), None);
    let v1 = store
        .put(
            &alice,
            &x,
            data(r#"{"n":1}"#),
            Precondition::NONE,
            Quota::UNLIMITED,
        )
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
        .put(
            &bob,
            &x,
            data(r#""bob""#),
            Precondition::NONE,
            Quota::UNLIMITED,
        )
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
            Precondition::matches(v1.version),
            Quota::UNLIMITED,
        )
        .await
        .expect("conditional update");
    assert!(v2.version > v1.version);
    let stale = store
        .put(
            &alice,
            &x,
            data(r#"{"n":3}"#),
            Precondition::matches(v1.version),
            Quota::UNLIMITED,
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
    let created = store
        .put(
            &alice,
            &x,
            data("0"),
            Precondition::absent(),
            Quota::UNLIMITED,
        )
        .await;
    assert!(
        matches!(created, Err(StoreError::PreconditionFailed)),
        "If-None-Match: *"
    );
    let missing = store
        .put(
            &alice,
            &id("nope"),
            data("0"),
            Precondition::exists(),
            Quota::UNLIMITED,
        )
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
            Precondition::matches(v2.version),
            Quota::UNLIMITED,
        )
        .await;
    assert!(
        matches!(missing, Err(StoreError::PreconditionFailed)),
        "If-Match on absent"
    );

    // Delete honours preconditions and reports whether anything was there.
    let refused = store
        .delete(&alice, &x, Precondition::matches(v1.version))
        .await;
    assert!(matches!(refused, Err(StoreError::PreconditionFailed)));
    assert_eq!(
        store
            .delete(&alice, &x, Precondition::matches(v2.version))
            .await
            .expect("delete"),
        Some(v2.version),
        "a delete answers the version it removed"
    );
    assert_eq!(
        store
            .delete(&alice, &x, Precondition::NONE)
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
        .put(
            &alice,
            &x,
            data("1"),
            Precondition::absent(),
            Quota::UNLIMITED,
        )
        .await
        .expect("re-create");
    assert!(again.version > v2.version);

    // Lists are per owner, in id order, paged by cursor.
    for name in ["c", "a", "b", "d"] {
        store
            .put(
                &alice,
                &id(name),
                data("true"),
                Precondition::NONE,
                Quota::UNLIMITED,
            )
            .await
            .expect("put");
    }
    let first = store.list(&alice, None, 2, MIB).await.expect("list");
    assert_eq!(names(&first.items), ["a", "b"]);
    assert_eq!(first.next, Some(id("b")), "more follow, after b");
    let rest = store
        .list(&alice, Some(&id("b")), 10, MIB)
        .await
        .expect("list");
    assert_eq!(names(&rest.items), ["c", "d", "x"]);
    assert_eq!(rest.next, None, "the last page says so");
    assert!(
        rest.items.iter().all(|i| i.owner == alice),
        "only alice's items"
    );
    let bobs = store.list(&bob, None, 10, MIB).await.expect("list");
    assert_eq!(bobs.items.len(), 1);

    // A page also ends at its byte budget: "a".."d" hold 4 bytes each ("true").
    let by_bytes = store.list(&alice, None, 10, 8).await.expect("list");
    assert_eq!(
        names(&by_bytes.items),
        ["a", "b"],
        "stops once 8 bytes are in"
    );
    assert_eq!(by_bytes.next, Some(id("b")));
    let one = store.list(&alice, None, 10, 1).await.expect("list");
    assert_eq!(names(&one.items), ["a"], "the first item always comes");

    if_match_lists(store.as_ref(), &alice).await;
    quotas(store.as_ref()).await;

    // Large documents survive byte for byte.
    let big = format!("\"{}\"", "é".repeat(200_000));
    let stored = store
        .put(
            &alice,
            &id("big"),
            data(&big),
            Precondition::NONE,
            Quota::UNLIMITED,
        )
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

/// `If-Match` and `If-None-Match` name lists of versions (RFC 9110 §13.1): a write holds when
/// the current version is among the `If-Match` ones and not among the `If-None-Match` ones.
async fn if_match_lists(store: &dyn ItemStore, owner: &Subject) {
    let key = id("listed");
    let v1 = store
        .put(owner, &key, data("1"), Precondition::NONE, Quota::UNLIMITED)
        .await
        .expect("create");
    let both = |tags: Vec<crate::item::Version>| Precondition {
        if_match: Some(EntityTags::Versions(tags)),
        if_none_match: None,
    };
    let refused = store
        .put(owner, &key, data("2"), both(vec![]), Quota::UNLIMITED)
        .await;
    assert!(
        matches!(refused, Err(StoreError::PreconditionFailed)),
        "a list of tags that never match"
    );
    let older = crate::item::Version(v1.version.0.saturating_sub(1));
    let v2 = store
        .put(
            owner,
            &key,
            data("2"),
            both(vec![older, v1.version]),
            Quota::UNLIMITED,
        )
        .await
        .expect("one of the listed versions is current");
    let not_v2 = Precondition {
        if_match: None,
        if_none_match: Some(EntityTags::Versions(vec![v2.version])),
    };
    let refused = store
        .put(owner, &key, data("3"), not_v2.clone(), Quota::UNLIMITED)
        .await;
    assert!(matches!(refused, Err(StoreError::PreconditionFailed)));
    let refused = store.delete(owner, &key, not_v2).await;
    assert!(matches!(refused, Err(StoreError::PreconditionFailed)));
    assert_eq!(
        store.get(owner, &key).await.expect("get"),
        Some(v2),
        "nothing changed"
    );
    let absent_only = store
        .delete(owner, &id("never-there"), Precondition::absent())
        .await
        .expect("deleting nothing holds If-None-Match: *");
    assert_eq!(absent_only, None);
}

/// Quotas are judged with each write: growth past one is refused with the quota named, and
/// nothing changes; replacing, shrinking and deleting always work.
async fn quotas(store: &dyn ItemStore) {
    let owner = Subject::new(unique("quota")).expect("subject");
    let quota = Quota {
        max_items: 2,
        max_bytes: 10,
    };
    let put = |name, json| put_within(store, &owner, name, json, quota);
    put("a", "1234").await.expect("4 bytes");
    put("b", "1234").await.expect("8 bytes, 2 items");
    let third = put("c", "1").await;
    assert!(
        matches!(
            third,
            Err(StoreError::QuotaExceeded {
                quota: QuotaKind::Items,
                limit: 2
            })
        ),
        "a third item: {third:?}"
    );
    assert_eq!(store.get(&owner, &id("c")).await.expect("get"), None);
    let grown = put("b", "1234567").await;
    assert!(
        matches!(
            grown,
            Err(StoreError::QuotaExceeded {
                quota: QuotaKind::Bytes,
                limit: 10
            })
        ),
        "11 bytes: {grown:?}"
    );
    put("b", "123456").await.expect("exactly 10 bytes");
    put("b", "1").await.expect("shrinking");
    store
        .delete(&owner, &id("a"), Precondition::NONE)
        .await
        .expect("delete");
    put("c", "123456789")
        .await
        .expect("room again after a delete");
    // Concurrent writers cannot overshoot together.
    let fresh = Subject::new(unique("quota-race")).expect("subject");
    let quota = Quota {
        max_items: 3,
        max_bytes: u64::MAX,
    };
    let names: Vec<String> = (0..8).map(|i| format!("r{i}")).collect();
    let writes = names
        .iter()
        .map(|name| put_within(store, &fresh, name, "0", quota));
    let admitted = futures::future::join_all(writes)
        .await
        .into_iter()
        .filter(Result::is_ok)
        .count();
    assert_eq!(admitted, 3, "exactly the quota's items are admitted");
    let listed = store.list(&fresh, None, 100, MIB).await.expect("list");
    assert_eq!(listed.items.len(), 3);
}

async fn put_within(
    store: &dyn ItemStore,
    owner: &Subject,
    name: &str,
    json: &str,
    quota: Quota,
) -> Result<crate::item::Item, StoreError> {
    store
        .put(owner, &id(name), data(json), Precondition::NONE, quota)
        .await
}
