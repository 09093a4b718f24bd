//! The contract of [`RefreshTokenStore`].

use super::unique;
use crate::identity::{ClientId, Subject};
use crate::refresh::{
    new_refresh_token, FamilyId, RefreshGrant, RefreshTokenHash, RefreshTokenStore, RotateError,
};
use crate::scope::ScopeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

fn grant(subject: &str, client: &ClientId, expires_at: SystemTime) -> RefreshGrant {
    RefreshGrant {
        family: FamilyId::generate(),
        subject: Subject::new(subject).expect("subject"),
        client_id: client.clone(),
        scope: ScopeSet::parse("items:read").expect("scope"),
        audience: vec!["data-api".into()],
        expires_at,
    }
}

fn hash() -> RefreshTokenHash {
    RefreshTokenHash::of(&new_refresh_token())
}

/// Runs every rule against `store`.
pub async fn run(store: Arc<dyn RefreshTokenStore>) {
    let now = SystemTime::now();
    let later = now + Duration::from_secs(3600);
    let client = ClientId::new(unique("client")).expect("client");
    let other_client = ClientId::new(unique("other")).expect("client");

    // Rotation carries the grant over and kills the presented token.
    let first = hash();
    let g = grant(&unique("alice"), &client, later);
    store.issue(first, g.clone()).await.expect("issue");
    let second = hash();
    let carried = store
        .rotate(&first, &client, second, later, now)
        .await
        .expect("rotate");
    assert_eq!(carried.family, g.family);
    assert_eq!(carried.subject, g.subject);
    assert_eq!(carried.scope, g.scope);

    // Reusing the rotated token revokes the family, including the live successor.
    let reused = store.rotate(&first, &client, hash(), later, now).await;
    assert!(
        matches!(&reused, Err(RotateError::Reused { family, .. }) if *family == g.family),
        "reuse must be detected: {reused:?}"
    );
    let after = store.rotate(&second, &client, hash(), later, now).await;
    assert!(
        matches!(after, Err(RotateError::Invalid)),
        "family revoked: {after:?}"
    );

    // Unknown, expired and foreign-client tokens are invalid and change nothing.
    assert!(matches!(
        store.rotate(&hash(), &client, hash(), later, now).await,
        Err(RotateError::Invalid)
    ));
    let expiring = hash();
    store
        .issue(
            expiring,
            grant(&unique("bob"), &client, now + Duration::from_secs(1)),
        )
        .await
        .expect("issue");
    let when_expired = now + Duration::from_secs(2);
    assert!(matches!(
        store
            .rotate(&expiring, &client, hash(), later, when_expired)
            .await,
        Err(RotateError::Invalid)
    ));
    let owned = hash();
    store
        .issue(owned, grant(&unique("carol"), &client, later))
        .await
        .expect("issue");
    assert!(matches!(
        store
            .rotate(&owned, &other_client, hash(), later, now)
            .await,
        Err(RotateError::Invalid)
    ));
    store
        .rotate(&owned, &client, hash(), later, now)
        .await
        .expect("the rightful client still can rotate");

    // Revocation kills the family.
    let revocable = hash();
    store
        .issue(revocable, grant(&unique("dave"), &client, later))
        .await
        .expect("issue");
    let successor = hash();
    store
        .rotate(&revocable, &client, successor, later, now)
        .await
        .expect("rotate");
    assert!(
        !store
            .revoke(&successor, &other_client)
            .await
            .expect("revoke"),
        "another client's revocation changes nothing"
    );
    let next = hash();
    store
        .rotate(&successor, &client, next, later, now)
        .await
        .expect("still valid after a foreign revocation attempt");
    assert!(store.revoke(&next, &client).await.expect("revoke"));
    assert!(matches!(
        store.rotate(&next, &client, hash(), later, now).await,
        Err(RotateError::Invalid)
    ));
    assert!(
        !store.revoke(&hash(), &client).await.expect("unknown token"),
        "unknown is not an error"
    );

    // Of concurrent rotations of one token, exactly one wins.
    let contested = hash();
    store
        .issue(contested, grant(&unique("erin"), &client, later))
        .await
        .expect("issue");
    let attempts = (0..16).map(|_| {
        let (store, client) = (store.clone(), client.clone());
        async move { store.rotate(&contested, &client, hash(), later, now).await }
    });
    let results = futures::future::join_all(attempts).await;
    let winners = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(
        winners, 1,
        "exactly one concurrent rotation wins: {results:?}"
    );
    // The first loser is caught as reuse (revoking the family); later ones may find the family
    // already revoked. None of them may succeed.
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(RotateError::Reused { .. }))),
        "reuse is detected: {results:?}"
    );
    assert!(
        results
            .iter()
            .all(|r| r.is_ok()
                || matches!(r, Err(RotateError::Reused { .. } | RotateError::Invalid))),
        "{results:?}"
    );
}
