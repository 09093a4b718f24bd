//! The grant rules of [`TokenService`], driven through its ports with in-memory fakes and a
//! manual clock: no argon2, no keys, no HTTP, no sleeping.

use super::*;
use crate::clock::ManualClock;
use crate::directory::{ClientRecord, GrantType, UserRecord};
use crate::identity::Username;
use crate::login::{LoginPolicy, LoginRecords};
use crate::refresh_memory::MemoryRefreshTokenStore;
use crate::testkit::{FakeDirectory, FakeEphemeralStore, FakePasswordVerifier, FakeSigner};
use std::time::{Duration, UNIX_EPOCH};

const ACCESS_TTL: Duration = Duration::from_secs(600);
const IDLE: Duration = Duration::from_secs(3600);
const ABSOLUTE: Duration = Duration::from_secs(8 * 3600);
const GRACE: Duration = Duration::from_secs(30);
const PASSWORD: &str = "correct horse";

struct Issuer {
    service: TokenService,
    records: Arc<LoginRecords>,
    store: Arc<FakeEphemeralStore>,
    directory: Arc<FakeDirectory>,
    passwords: Arc<FakePasswordVerifier>,
    signer: Arc<FakeSigner>,
    clock: Arc<ManualClock>,
}

fn scopes(text: &str) -> ScopeSet {
    ScopeSet::parse(text).unwrap()
}

fn alice() -> UserRecord {
    UserRecord {
        username: Username::new("alice").unwrap(),
        subject: Subject::new("alice").unwrap(),
        password_hash: FakePasswordVerifier::hash(PASSWORD),
        scopes: scopes("items:read items:write"),
        name: None,
        email: None,
        sessions_not_before: 0,
    }
}

fn client(id: &str, secret: Option<&str>, grants: &[GrantType], scope: &str) -> ClientRecord {
    ClientRecord {
        client_id: ClientId::new(id).unwrap(),
        secret_hash: secret.map(FakePasswordVerifier::hash),
        grants: grants.iter().copied().collect(),
        scopes: scopes(scope),
        audience: vec!["data-api".into()],
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        trusted: true,
        id_token_signing_alg: None,
        dpop_bound: false,
    }
}

/// `app` and `other` are public first-party clients allowed more than alice is (`admin`); `svc`
/// is a confidential client acting for itself.
fn issuer() -> Issuer {
    let directory = Arc::new(FakeDirectory::default());
    directory.put_user(alice());
    let login = [GrantType::Password, GrantType::RefreshToken];
    let all = "items:read items:write admin";
    directory.put_client(client("app", None, &login, all));
    directory.put_client(client("other", None, &login, all));
    let cc = [GrantType::ClientCredentials];
    directory.put_client(client("svc", Some("svc-secret"), &cc, "items:read reports"));
    directory.put_client(client("public-cc", None, &cc, "items:read"));
    let browser = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::DeviceCode,
    ];
    directory.put_client(client("web", None, &browser, "openid profile items:read"));
    let code_only = [GrantType::AuthorizationCode];
    directory.put_client(client("code-only", None, &code_only, "openid items:read"));
    let passwords = Arc::new(FakePasswordVerifier::default());
    let signer = Arc::new(FakeSigner::default());
    let clock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(1 << 30)));
    let policy = TokenPolicy {
        issuer: "https://issuer.test".into(),
        access_ttl: ACCESS_TTL,
        refresh_ttl: IDLE,
        refresh_absolute_lifetime: ABSOLUTE,
        refresh_reuse_grace: GRACE,
    };
    let store = Arc::new(FakeEphemeralStore::new(clock.clone()));
    let records = Arc::new(LoginRecords::new(
        store.clone(),
        clock.clone(),
        LoginPolicy {
            session_idle: IDLE,
            session_absolute: ABSOLUTE,
            device_code_lifetime: Duration::from_secs(600),
            device_poll_interval: Duration::from_secs(5),
        },
    ));
    let service = TokenService::new(
        directory.clone(),
        passwords.clone(),
        Arc::new(MemoryRefreshTokenStore::default()),
        signer.clone(),
        clock.clone(),
        policy,
    )
    .with_login(records.clone(), signer.clone());
    Issuer {
        service,
        records,
        store,
        directory,
        passwords,
        signer,
        clock,
    }
}

fn auth(client_id: &str, secret: Option<&str>) -> ClientAuth {
    ClientAuth {
        client_id: client_id.into(),
        secret: secret.map(Secret::new),
        dpop_jkt: None,
    }
}

impl Issuer {
    async fn login(&self, scope: Option<&str>) -> IssuedTokens {
        let scope = scope.map(scopes);
        let password = Secret::new(PASSWORD);
        self.service
            .password_grant(&auth("app", None), "alice", &password, scope.as_ref())
            .await
            .unwrap()
    }

    async fn refresh(&self, token: &Secret, scope: Option<&str>) -> Result<Secret, GrantError> {
        self.refresh_as("app", token, scope)
            .await
            .map(|issued| issued.refresh_token.unwrap())
    }

    async fn refresh_as(
        &self,
        client_id: &str,
        token: &Secret,
        scope: Option<&str>,
    ) -> Result<IssuedTokens, GrantError> {
        let scope = scope.map(scopes);
        self.service
            .refresh_grant(&auth(client_id, None), token, scope.as_ref())
            .await
    }

    async fn acting_alone(
        &self,
        client_id: &str,
        secret: Option<&str>,
        scope: Option<&str>,
    ) -> Result<IssuedTokens, GrantError> {
        let scope = scope.map(scopes);
        self.service
            .client_credentials_grant(&auth(client_id, secret), scope.as_ref())
            .await
    }

    fn claims(&self, issued: &IssuedTokens) -> AccessClaims {
        self.signer.claims(&issued.access_token).unwrap()
    }

    fn sid(&self, issued: &IssuedTokens) -> String {
        self.claims(issued).session_id.unwrap()
    }
}

mod browser;
mod clients;
mod device;
mod refresh;

#[tokio::test]
async fn a_login_grants_what_both_client_and_user_may_have_in_a_new_session() {
    let issuer = issuer();
    let issued = issuer.login(None).await;
    assert_eq!(issued.scope, scopes("items:read items:write"), "not admin");
    assert_eq!(issued.subject.as_str(), "alice");
    let claims = issuer.claims(&issued);
    let now = issuer.clock.unix_seconds();
    assert_eq!((claims.issued_at, claims.expires_at), (now, now + 600));
    assert_eq!(claims.audience, ["data-api"]);
    assert_eq!(claims.client_id.as_str(), "app");
    assert!(issuer
        .service
        .session_active(&issuer.sid(&issued))
        .await
        .unwrap());
}

#[tokio::test]
async fn a_wrong_password_or_unknown_user_is_refused_after_one_check_each() {
    let issuer = issuer();
    for (user, password) in [("alice", "wrong"), ("mallory", PASSWORD)] {
        let result = issuer
            .service
            .password_grant(&auth("app", None), user, &Secret::new(password), None)
            .await;
        assert!(matches!(result, Err(GrantError::InvalidGrant)), "{user}");
    }
    assert_eq!(
        issuer.passwords.checks(),
        2,
        "the unknown user cost a check too"
    );
}
