//! The contract of [`RefreshTokenStore`].

use super::unique;
use crate::clock::unix_seconds;
use crate::identity::{ClientId, Subject};
use crate::refresh::{
    new_refresh_token, FamilyId, RefreshGrant, RefreshTokenHash, RefreshTokenStore, RotateError,
    Rotation, SealedToken, Successor,
};
use crate::scope::ScopeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(super) fn grant(subject: &str, client: &ClientId, expires_at: SystemTime) -> RefreshGrant {
    RefreshGrant {
        family: FamilyId::generate(),
        subject: Subject::new(subject).expect("subject"),
        client_id: client.clone(),
        scope: ScopeSet::parse("items:read").expect("scope"),
        audience: vec!["data-api".into()],
        expires_at,
        // Whole seconds, as every store keeps them.
        session_expires_at: UNIX_EPOCH + Duration::from_secs(unix_seconds(expires_at) + 7 * 86_400),
        dpop_jkt: None,
    }
}

fn hash() -> RefreshTokenHash {
    RefreshTokenHash::of(&new_refresh_token())
}

/// The grace the strict rules run with: none.
const NO_GRACE: Duration = Duration::ZERO;

/// A successor of `predecessor` (a token string) expiring at `expires_at`; also its token.
pub(super) fn successor_of(predecessor: &str, expires_at: SystemTime) -> (Successor, String) {
    let token = new_refresh_token();
    let successor = Successor {
        hash: RefreshTokenHash::of(&token),
        sealed: SealedToken::seal(predecessor, &token).expect("a generated token seals"),
        expires_at,
    };
    (successor, token)
}

/// A successor nobody will open: for rules where only the predecessor matters.
fn any_successor(expires_at: SystemTime) -> Successor {
    successor_of(&new_refresh_token(), expires_at).0
}

/// Runs every rule against `store`.
pub async fn run(store: Arc<dyn RefreshTokenStore>) {
    strict_rules(store.clone()).await;
    super::refresh_binding::dpop_binding(store.clone()).await;
    grace_rules(store).await;
}

fn issued_hash(token: &str) -> RefreshTokenHash {
    RefreshTokenHash::of(token)
}

/// Rotation, reuse detection, expiry, ownership and revocation with no grace window.
async fn strict_rules(store: Arc<dyn RefreshTokenStore>) {
    let now = SystemTime::now();
    let later = now + Duration::from_secs(3600);
    let client = ClientId::new(unique("client")).expect("client");
    let other_client = ClientId::new(unique("other")).expect("client");

    // Inspection shows the grant and spends nothing; rotation carries the grant over and kills
    // the presented token.
    let first_token = new_refresh_token();
    let first = issued_hash(&first_token);
    let g = grant(&unique("alice"), &client, later);
    store.issue(first, g.clone()).await.expect("issue");
    let inspected = store.inspect(&first, &client, now).await.expect("inspect");
    // Stores may keep expiry times to the second.
    assert_eq!(
        RefreshGrant {
            expires_at: g.expires_at,
            ..inspected.clone()
        },
        g
    );
    let skew = g
        .expires_at
        .duration_since(inspected.expires_at)
        .unwrap_or_default();
    assert!(skew < Duration::from_secs(1), "{inspected:?}");
    assert!(matches!(
        store.inspect(&first, &other_client, now).await,
        Err(RotateError::Invalid)
    ));
    let (second, _) = successor_of(&first_token, later);
    let carried = store
        .rotate(&first, &client, second, now, NO_GRACE)
        .await
        .expect("rotate");
    let Rotation::Rotated(carried) = carried else {
        panic!("a live token rotates: {carried:?}");
    };
    assert_eq!(carried.family, g.family);
    assert_eq!(carried.subject, g.subject);
    assert_eq!(carried.scope, g.scope);
    assert_eq!(
        carried.session_expires_at, g.session_expires_at,
        "the session's absolute end is carried unchanged"
    );
    assert!(store.family_active(&g.family, now).await.expect("answers"));
    assert!(
        !store
            .family_active(&FamilyId::generate(), now)
            .await
            .expect("answers"),
        "an unknown family is not active"
    );

    // Reusing the rotated token revokes the family, including the live successor.
    let reused = store
        .rotate(&first, &client, any_successor(later), now, NO_GRACE)
        .await;
    assert!(
        matches!(&reused, Err(RotateError::Reused { family, .. }) if *family == g.family),
        "reuse must be detected: {reused:?}"
    );
    let after = store
        .rotate(&second.hash, &client, any_successor(later), now, NO_GRACE)
        .await;
    assert!(
        matches!(after, Err(RotateError::Invalid)),
        "family revoked: {after:?}"
    );
    assert!(
        !store.family_active(&g.family, now).await.expect("answers"),
        "a family revoked for reuse is not active"
    );
    assert!(matches!(
        store.inspect(&second.hash, &client, now).await,
        Err(RotateError::Invalid)
    ));

    // Unknown, expired and foreign-client tokens are invalid and change nothing.
    assert!(matches!(
        store
            .rotate(&hash(), &client, any_successor(later), now, NO_GRACE)
            .await,
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
        store.inspect(&expiring, &client, when_expired).await,
        Err(RotateError::Invalid)
    ));
    assert!(matches!(
        store
            .rotate(
                &expiring,
                &client,
                any_successor(later),
                when_expired,
                NO_GRACE
            )
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
            .rotate(&owned, &other_client, any_successor(later), now, NO_GRACE)
            .await,
        Err(RotateError::Invalid)
    ));
    store
        .rotate(&owned, &client, any_successor(later), now, NO_GRACE)
        .await
        .expect("the rightful client still can rotate");

    // Revocation kills the family.
    let revocable = hash();
    store
        .issue(revocable, grant(&unique("dave"), &client, later))
        .await
        .expect("issue");
    let successor = any_successor(later);
    store
        .rotate(&revocable, &client, successor, now, NO_GRACE)
        .await
        .expect("rotate");
    assert!(
        !store
            .revoke(&successor.hash, &other_client)
            .await
            .expect("revoke"),
        "another client's revocation changes nothing"
    );
    let next = any_successor(later);
    store
        .rotate(&successor.hash, &client, next, now, NO_GRACE)
        .await
        .expect("still valid after a foreign revocation attempt");
    let revocable_family = store
        .inspect(&next.hash, &client, now)
        .await
        .expect("live")
        .family;
    assert!(store.revoke(&next.hash, &client).await.expect("revoke"));
    assert!(
        !store
            .family_active(&revocable_family, now)
            .await
            .expect("answers"),
        "a revoked family is not active"
    );
    assert!(matches!(
        store
            .rotate(&next.hash, &client, any_successor(later), now, NO_GRACE)
            .await,
        Err(RotateError::Invalid)
    ));
    assert!(
        !store.revoke(&hash(), &client).await.expect("unknown token"),
        "unknown is not an error"
    );

    // Without a grace window, of concurrent rotations of one token exactly one wins.
    let contested = hash();
    store
        .issue(contested, grant(&unique("erin"), &client, later))
        .await
        .expect("issue");
    let attempts = (0..16).map(|_| {
        let (store, client) = (store.clone(), client.clone());
        async move {
            store
                .rotate(&contested, &client, any_successor(later), now, NO_GRACE)
                .await
        }
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

/// Within the grace window a retired token gets its successor again; outside it, or once the
/// successor was used, it is reuse as before.
async fn grace_rules(store: Arc<dyn RefreshTokenStore>) {
    let grace = Duration::from_secs(5);
    let now = SystemTime::now();
    let later = now + Duration::from_secs(3600);
    let client = ClientId::new(unique("client")).expect("client");

    // Six tasks present one token at once (really at once: each on its own runtime worker):
    // one rotates, the others get the same successor; the family lives on.
    let token = new_refresh_token();
    let g = grant(&unique("frank"), &client, later);
    store
        .issue(issued_hash(&token), g.clone())
        .await
        .expect("issue");
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (store, client, token) = (store.clone(), client.clone(), token.clone());
            tokio::spawn(async move {
                let (successor, minted) = successor_of(&token, later);
                let rotation = store
                    .rotate(&issued_hash(&token), &client, successor, now, grace)
                    .await
                    .expect("every concurrent presentation within the grace succeeds");
                match rotation {
                    Rotation::Rotated(grant) => (minted, grant, true),
                    Rotation::Replayed { grant, sealed } => (sealed.open(&token), grant, false),
                }
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("task"));
    }
    assert_eq!(
        results.iter().filter(|(_, _, rotated)| *rotated).count(),
        1,
        "exactly one presentation rotates"
    );
    let successor = results[0].0.clone();
    assert!(
        results
            .iter()
            .all(|(t, grant, _)| *t == successor && grant.family == g.family),
        "every presentation gets the same successor of the same family"
    );
    // A retry a moment later still gets it; the successor works.
    let retried = store
        .rotate(
            &issued_hash(&token),
            &client,
            any_successor(later),
            now + Duration::from_secs(1),
            grace,
        )
        .await
        .expect("retry within the grace");
    assert!(
        matches!(&retried, Rotation::Replayed { sealed, .. } if sealed.open(&token) == successor)
    );
    let (third, _) = successor_of(&successor, later);
    store
        .rotate(&issued_hash(&successor), &client, third, now, grace)
        .await
        .expect("the successor rotates");
    // Once the successor was used, the predecessor is reuse even within the grace.
    let late = store
        .rotate(
            &issued_hash(&token),
            &client,
            any_successor(later),
            now,
            grace,
        )
        .await;
    assert!(matches!(late, Err(RotateError::Reused { .. })), "{late:?}");
    assert!(matches!(
        store.inspect(&third.hash, &client, now).await,
        Err(RotateError::Invalid)
    ));

    // After the grace window, re-presenting is reuse and revokes the family.
    let token = new_refresh_token();
    store
        .issue(issued_hash(&token), grant(&unique("grace"), &client, later))
        .await
        .expect("issue");
    let (next, _) = successor_of(&token, later);
    store
        .rotate(&issued_hash(&token), &client, next, now, grace)
        .await
        .expect("rotate");
    let outside = store
        .rotate(
            &issued_hash(&token),
            &client,
            any_successor(later),
            now + grace + Duration::from_secs(1),
            grace,
        )
        .await;
    assert!(
        matches!(outside, Err(RotateError::Reused { .. })),
        "{outside:?}"
    );
    assert!(matches!(
        store.inspect(&next.hash, &client, now).await,
        Err(RotateError::Invalid)
    ));
}
