//! Browser logins through their ports: code exchange, code lifetime and replay, identity
//! scopes on refresh, and refresh-token families that end with their browser session.

use super::*;
use crate::ephemeral::EphemeralStore;
use crate::login::codes::CodeGrant;
use crate::login::pkce::CodeChallenge;
use crate::login::session::BrowserSession;
use crate::usecase::tokens::CodeExchange;

// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "https://app.test/cb";

impl Issuer {
    pub(super) async fn session(&self) -> BrowserSession {
        let alice = Subject::from(Username::new("alice").unwrap());
        self.records.start_session(&alice).await.unwrap().1
    }

    async fn code(&self, session: &BrowserSession, scope: &str) -> String {
        self.code_for("web", session, scope).await
    }

    async fn code_for(&self, client_id: &str, session: &BrowserSession, scope: &str) -> String {
        let grant = CodeGrant {
            client_id: client_id.into(),
            redirect_uri: REDIRECT.into(),
            scope: scope.split(' ').map(str::to_owned).collect(),
            nonce: Some("n".into()),
            challenge: CodeChallenge::parse(Some(CHALLENGE), Some("S256")).unwrap(),
            subject: session.subject.clone(),
            sid: session.sid.clone(),
            auth_time: session.auth_time,
            expires_at: 0,
            dpop_jkt: None,
        };
        self.records.issue_code(grant).await.unwrap()
    }

    async fn exchange(&self, code: &str) -> Result<IssuedTokens, GrantError> {
        self.exchange_as("web", code).await
    }

    async fn exchange_as(&self, client_id: &str, code: &str) -> Result<IssuedTokens, GrantError> {
        let exchange = CodeExchange {
            code,
            redirect_uri: Some(REDIRECT),
            code_verifier: Some(VERIFIER),
        };
        self.service
            .authorization_code_grant(&auth(client_id, None), exchange)
            .await
    }
}

#[tokio::test]
async fn a_code_becomes_tokens_and_an_id_token_for_its_session() {
    let issuer = issuer();
    let session = issuer.session().await;
    let code = issuer.code(&session, "openid items:read").await;
    let issued = issuer.exchange(&code).await.unwrap();
    assert_eq!(issued.scope, scopes("openid items:read"));
    let id = issuer
        .signer
        .id_claims(issued.id_token.as_ref().expect("openid was granted"))
        .unwrap();
    assert_eq!(id.audience, "web");
    assert_eq!(id.nonce.as_deref(), Some("n"));
    assert_eq!(id.session_id.as_deref(), Some(session.sid.as_str()));
    assert_eq!(id.auth_time, session.auth_time);
}

#[tokio::test]
async fn a_browser_login_keeps_its_identity_scopes_on_refresh() {
    // Found by authlib, which repeats the original scope on every refresh: alice's own scopes
    // are API scopes only, and `openid` must not be narrowed away by them.
    let issuer = issuer();
    let session = issuer.session().await;
    let code = issuer.code(&session, "openid items:read").await;
    let issued = issuer.exchange(&code).await.unwrap();
    let refreshed = issuer
        .service
        .refresh_grant(
            &auth("web", None),
            issued.refresh_token.as_ref().unwrap(),
            Some(&scopes("openid items:read")),
        )
        .await
        .unwrap();
    assert_eq!(refreshed.scope, scopes("openid items:read"));
}

#[tokio::test]
async fn a_code_lives_a_minute_and_only_once() {
    let issuer = issuer();
    let session = issuer.session().await;
    let late = issuer.code(&session, "items:read").await;
    issuer.clock.advance(Duration::from_secs(61));
    assert!(matches!(
        issuer.exchange(&late).await,
        Err(GrantError::InvalidGrant)
    ));

    let code = issuer.code(&session, "items:read").await;
    let issued = issuer.exchange(&code).await.unwrap();
    let replay = issuer.exchange(&code).await;
    assert!(
        matches!(replay, Err(GrantError::CodeReplayed { .. })),
        "{replay:?}"
    );
    let refresh = issuer
        .refresh_as("web", issued.refresh_token.as_ref().unwrap(), None)
        .await;
    assert!(
        matches!(refresh, Err(GrantError::InvalidGrant)),
        "the replay revoked the family"
    );
}

#[tokio::test]
async fn refresh_tokens_end_with_their_browser_session() {
    let issuer = issuer();
    let session = issuer.session().await;
    let code = issuer.code(&session, "items:read").await;
    let issued = issuer.exchange(&code).await.unwrap();
    let token = issued.refresh_token.unwrap();
    let next = issuer.refresh_as("web", &token, None).await.unwrap();
    issuer.records.end_session(&session.sid).await.unwrap();
    let after = issuer
        .refresh_as("web", next.refresh_token.as_ref().unwrap(), None)
        .await;
    assert!(matches!(after, Err(GrantError::InvalidGrant)), "{after:?}");

    // A code issued before the logout is dead too.
    let session = issuer.session().await;
    let code = issuer.code(&session, "items:read").await;
    issuer.records.end_session(&session.sid).await.unwrap();
    assert!(matches!(
        issuer.exchange(&code).await,
        Err(GrantError::InvalidGrant)
    ));
}

#[tokio::test]
async fn an_idle_browser_session_takes_its_families_with_it() {
    let issuer = issuer();
    let session = issuer.session().await;
    let code = issuer.code(&session, "items:read").await;
    let issued = issuer.exchange(&code).await.unwrap();
    issuer.clock.advance(IDLE - Duration::from_secs(1));
    let next = issuer
        .refresh_as("web", issued.refresh_token.as_ref().unwrap(), None)
        .await
        .expect("a refresh is activity in the session");
    issuer.clock.advance(IDLE + Duration::from_secs(1));
    let after = issuer
        .refresh_as("web", next.refresh_token.as_ref().unwrap(), None)
        .await;
    assert!(matches!(after, Err(GrantError::InvalidGrant)));
}

#[tokio::test]
async fn a_client_without_refresh_still_gets_tokens_that_logout_ends() {
    let issuer = issuer();
    let session = issuer.session().await;
    let code = issuer
        .code_for("code-only", &session, "openid items:read")
        .await;
    let issued = issuer.exchange_as("code-only", &code).await.unwrap();
    assert!(issued.refresh_token.is_none(), "the client may not refresh");
    let sid = issuer
        .claims(&issued)
        .session_id
        .expect("the access token names its family");
    assert!(issuer.service.session_active(&sid).await.unwrap());
    issuer.records.end_session(&session.sid).await.unwrap();
    assert!(
        !issuer.service.session_active(&sid).await.unwrap(),
        "logout ends it"
    );

    let session = issuer.session().await;
    let code = issuer.code_for("code-only", &session, "items:read").await;
    let issued = issuer.exchange_as("code-only", &code).await.unwrap();
    let sid = issuer.claims(&issued).session_id.unwrap();
    assert!(issuer.exchange_as("code-only", &code).await.is_err());
    assert!(
        !issuer.service.session_active(&sid).await.unwrap(),
        "a replay ends it"
    );
}

#[tokio::test]
async fn asking_whether_a_session_lives_is_no_activity_in_it() {
    let issuer = issuer();
    let session = issuer.session().await;
    let code = issuer.code(&session, "items:read").await;
    let issued = issuer.exchange(&code).await.unwrap();
    let sid = issuer.claims(&issued).session_id.unwrap();
    for _ in 0..3 {
        issuer.clock.advance(IDLE / 2);
        assert!(issuer.service.session_active(&sid).await.is_ok());
    }
    assert!(
        !issuer.service.session_active(&sid).await.unwrap(),
        "introspection kept nothing alive: the session idled out"
    );
}

#[tokio::test]
async fn a_browser_family_without_its_session_link_is_dead() {
    let issuer = issuer();
    let session = issuer.session().await;
    let code = issuer.code(&session, "items:read").await;
    let issued = issuer.exchange(&code).await.unwrap();
    let family = crate::refresh::FamilyId(issuer.claims(&issued).session_id.unwrap());
    assert!(family.is_browser());
    // The link record is lost (evicted from a full cache, say): the family must not survive it.
    issuer
        .store
        .delete(&crate::login::record_key("family-session", &family.0))
        .await
        .unwrap();
    let refresh = issuer
        .refresh_as("web", issued.refresh_token.as_ref().unwrap(), None)
        .await;
    assert!(
        matches!(refresh, Err(GrantError::InvalidGrant)),
        "{refresh:?}"
    );
    assert!(!issuer.service.session_active(&family.0).await.unwrap());
}
