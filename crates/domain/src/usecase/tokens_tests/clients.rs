//! Client authentication and the grants a client acts alone with.

use super::*;

#[tokio::test]
async fn client_credentials_grant_the_clients_own_scopes_and_no_session() {
    let issuer = issuer();
    let issued = issuer.acting_alone("svc", Some("svc-secret"), None).await;
    let issued = issued.unwrap();
    assert_eq!(issued.scope, scopes("items:read reports"));
    assert_eq!(issued.subject.as_str(), "svc");
    assert!(issued.refresh_token.is_none());
    assert_eq!(issuer.claims(&issued).session_id, None);
    let narrowed = issuer.acting_alone("svc", Some("svc-secret"), Some("reports"));
    assert_eq!(narrowed.await.unwrap().scope, scopes("reports"));
    let wide = issuer.acting_alone("svc", Some("svc-secret"), Some("items:write"));
    let wide = wide.await;
    assert!(matches!(wide, Err(GrantError::InvalidScope)), "{wide:?}");
    let public = issuer.acting_alone("public-cc", None, None).await;
    assert!(
        matches!(public, Err(GrantError::UnauthorizedClient)),
        "{public:?}"
    );
    let app = issuer.acting_alone("app", None, None).await;
    assert!(
        matches!(app, Err(GrantError::UnauthorizedClient)),
        "grant not listed"
    );
}

#[tokio::test]
async fn a_wrong_missing_or_unexpected_client_secret_is_refused() {
    let issuer = issuer();
    let cases = [
        auth("svc", Some("wrong")),
        auth("svc", None),
        auth("app", Some("anything")),
        auth("nobody", Some("svc-secret")),
    ];
    for client in &cases {
        let result = issuer.service.client_credentials_grant(client, None).await;
        assert!(
            matches!(result, Err(GrantError::InvalidClient)),
            "{client:?}"
        );
    }
    assert_eq!(
        issuer.passwords.checks(),
        2,
        "wrong secret, and the unknown client's dummy"
    );
}

#[tokio::test]
async fn a_client_may_use_only_the_grants_it_lists() {
    let issuer = issuer();
    let svc = auth("svc", Some("svc-secret"));
    let password = Secret::new(PASSWORD);
    let login = issuer
        .service
        .password_grant(&svc, "alice", &password, None);
    let login = login.await;
    assert!(
        matches!(login, Err(GrantError::UnauthorizedClient)),
        "{login:?}"
    );
    let token = issuer.login(None).await.refresh_token.unwrap();
    let refresh = issuer.service.refresh_grant(&svc, &token, None).await;
    assert!(
        matches!(refresh, Err(GrantError::UnauthorizedClient)),
        "{refresh:?}"
    );
}
