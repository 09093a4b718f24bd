//! Refresh-token rotation, reuse, scope narrowing and the session's lifetimes.

use super::*;

#[tokio::test]
async fn a_refresh_rotates_the_token_within_the_same_session() {
    let issuer = issuer();
    let login = issuer.login(None).await;
    let first = login.refresh_token.as_ref().unwrap();
    let issued = issuer.refresh_as("app", first, None).await.unwrap();
    let second = issued.refresh_token.as_ref().unwrap();
    assert_ne!(second.expose(), first.expose());
    assert_eq!(issuer.sid(&issued), issuer.sid(&login));
    assert_eq!(issued.scope, login.scope);
    issuer.clock.advance(GRACE);
    let third = issuer.refresh(second, None).await.unwrap();
    assert_ne!(third.expose(), second.expose());
}

#[tokio::test]
async fn reuse_after_the_grace_window_revokes_the_whole_family() {
    let issuer = issuer();
    let login = issuer.login(None).await;
    let first = login.refresh_token.as_ref().unwrap();
    let second = issuer.refresh(first, None).await.unwrap();
    issuer.clock.advance(GRACE);
    let reused = issuer.refresh(first, None).await;
    assert!(
        matches!(&reused, Err(GrantError::RefreshReused { subject }) if subject.as_str() == "alice"),
        "{reused:?}"
    );
    let successor = issuer.refresh(&second, None).await;
    assert!(
        matches!(successor, Err(GrantError::InvalidGrant)),
        "family revoked"
    );
    assert!(!issuer
        .service
        .session_active(&issuer.sid(&login))
        .await
        .unwrap());
}

#[tokio::test]
async fn a_retry_within_the_grace_window_gets_the_same_successor() {
    let issuer = issuer();
    let login = issuer.login(None).await;
    let first = login.refresh_token.as_ref().unwrap();
    let second = issuer.refresh(first, None).await.unwrap();
    issuer.clock.advance(GRACE - Duration::from_secs(1));
    let retried = issuer.refresh(first, None).await.unwrap();
    assert_eq!(retried.expose(), second.expose());
    assert!(issuer
        .service
        .session_active(&issuer.sid(&login))
        .await
        .unwrap());
    issuer.refresh(&second, None).await.unwrap();
}

#[tokio::test]
async fn a_refresh_may_narrow_the_scope_but_never_widen_the_family() {
    let issuer = issuer();
    let login = issuer.login(Some("items:read")).await;
    assert_eq!(login.scope, scopes("items:read"));
    let token = login.refresh_token.unwrap();
    // alice and the client may have items:write, but this session was never granted it.
    for wide in ["items:read items:write", "admin", "not-the-clients"] {
        let refused = issuer.refresh(&token, Some(wide)).await;
        assert!(matches!(refused, Err(GrantError::InvalidScope)), "{wide}");
    }
    // The refused requests spent nothing: the token still rotates (no reuse).
    issuer.refresh(&token, None).await.unwrap();

    let token = issuer.login(None).await.refresh_token.unwrap();
    let narrowed = issuer.refresh_as("app", &token, Some("items:read")).await;
    let narrowed = narrowed.unwrap();
    assert_eq!(narrowed.scope, scopes("items:read"));
    assert_eq!(issuer.claims(&narrowed).scope, scopes("items:read"));
    let next = narrowed.refresh_token.as_ref().unwrap();
    let full = issuer.refresh_as("app", next, None).await.unwrap();
    assert_eq!(
        full.scope,
        scopes("items:read items:write"),
        "the family kept its scope"
    );
}

#[tokio::test]
async fn a_removed_users_refresh_is_refused_without_spending_the_token() {
    let issuer = issuer();
    let token = issuer.login(None).await.refresh_token.unwrap();
    issuer
        .directory
        .remove_user(&Username::new("alice").unwrap());
    let refused = issuer.refresh(&token, None).await;
    assert!(
        matches!(refused, Err(GrantError::InvalidGrant)),
        "{refused:?}"
    );
    // A user restored with fewer scopes gets only those: today's directory decides.
    let reduced = UserRecord {
        scopes: scopes("items:read"),
        ..alice()
    };
    issuer.directory.put_user(reduced);
    let issued = issuer.refresh_as("app", &token, None).await.unwrap();
    assert_eq!(issued.scope, scopes("items:read"));
}

#[tokio::test]
async fn another_clients_refresh_is_refused_and_changes_nothing() {
    let issuer = issuer();
    let token = issuer.login(None).await.refresh_token.unwrap();
    let refused = issuer.refresh_as("other", &token, None).await;
    assert!(
        matches!(refused, Err(GrantError::InvalidGrant)),
        "{refused:?}"
    );
    issuer.refresh(&token, None).await.unwrap();
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_however_actively_used() {
    let issuer = issuer();
    let login = issuer.login(None).await;
    let sid = issuer.sid(&login);
    let mut token = login.refresh_token.unwrap();
    let step = IDLE - Duration::from_secs(600);
    let mut elapsed = Duration::ZERO;
    while elapsed + step < ABSOLUTE {
        issuer.clock.advance(step);
        elapsed += step;
        token = issuer.refresh(&token, None).await.unwrap();
    }
    assert!(issuer.service.session_active(&sid).await.unwrap());
    issuer.clock.advance(ABSOLUTE - elapsed);
    let refused = issuer.refresh(&token, None).await;
    assert!(
        matches!(refused, Err(GrantError::InvalidGrant)),
        "{refused:?}"
    );
    assert!(!issuer.service.session_active(&sid).await.unwrap());
}

#[tokio::test]
async fn an_idle_session_ends_after_the_refresh_lifetime() {
    let issuer = issuer();
    let token = issuer.login(None).await.refresh_token.unwrap();
    issuer.clock.advance(IDLE - Duration::from_secs(1));
    let token = issuer.refresh(&token, None).await.unwrap();
    issuer.clock.advance(IDLE);
    let refused = issuer.refresh(&token, None).await;
    assert!(
        matches!(refused, Err(GrantError::InvalidGrant)),
        "{refused:?}"
    );
}

#[tokio::test]
async fn revoking_ends_the_session_only_for_the_owning_client() {
    let issuer = issuer();
    let login = issuer.login(None).await;
    let token = login.refresh_token.as_ref().unwrap();
    issuer
        .service
        .revoke(&auth("other", None), token)
        .await
        .unwrap();
    assert!(issuer
        .service
        .session_active(&issuer.sid(&login))
        .await
        .unwrap());
    issuer
        .service
        .revoke(&auth("app", None), token)
        .await
        .unwrap();
    assert!(!issuer
        .service
        .session_active(&issuer.sid(&login))
        .await
        .unwrap());
    let refused = issuer.refresh(token, None).await;
    assert!(
        matches!(refused, Err(GrantError::InvalidGrant)),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_password_change_ends_the_families_that_logged_in_before_it() {
    let issuer = issuer();
    let before = issuer.login(None).await.refresh_token.unwrap();
    issuer.clock.advance(Duration::from_secs(10));
    let changed_at = crate::clock::unix_seconds(issuer.clock.now());
    issuer.directory.put_user(UserRecord {
        sessions_not_before: changed_at,
        ..alice()
    });
    let refused = issuer.refresh(&before, None).await;
    assert!(
        matches!(refused, Err(GrantError::InvalidGrant)),
        "{refused:?}"
    );
    // Times are whole seconds; a login in the change's own second counts as before it.
    issuer.clock.advance(Duration::from_secs(1));
    let after = issuer.login(None).await.refresh_token.unwrap();
    issuer
        .refresh(&after, None)
        .await
        .expect("a login after the change refreshes");
}
