//! Sessions that end: a refresh-token family has an absolute lifetime and an idle timeout, and
//! access tokens carry the family as `sid`. The issuer's real adapters (users file, argon2,
//! key ring, in-memory refresh store) on a manual clock, so hours pass without waiting.

use async_trait::async_trait;
use base64::Engine;
use portcullis_directory::{Argon2Verifier, FileDirectory};
use portcullis_domain::clock::ManualClock;
use portcullis_domain::directory::{ClientRecord, DirectoryError, UserDirectory, UserRecord};
use portcullis_domain::identity::{ClientId, Username};
use portcullis_domain::scope::ScopeSet;
use portcullis_domain::secret::Secret;
use portcullis_domain::usecase::tokens::{
    ClientAuth, GrantError, IssuedTokens, TokenPolicy, TokenService,
};
use portcullis_jwt::{JwtSigner, KeyRing};
use portcullis_store::MemoryRefreshTokenStore;
use portcullis_tests::{UsersFile, CLI_CLIENT, PASSWORD};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The users file, except that while `widened` is set the CLI client also serves the audience
/// `reports`: an operator narrowing a client's audience between a login and a refresh.
struct Narrowing {
    file: FileDirectory,
    widened: AtomicBool,
}

#[async_trait]
impl UserDirectory for Narrowing {
    async fn user(&self, username: &Username) -> Result<Option<UserRecord>, DirectoryError> {
        self.file.user(username).await
    }

    async fn user_by_subject(&self, subject: &str) -> Result<Option<UserRecord>, DirectoryError> {
        self.file.user_by_subject(subject).await
    }

    async fn client(&self, client_id: &ClientId) -> Result<Option<ClientRecord>, DirectoryError> {
        let mut client = self.file.client(client_id).await?;
        if let Some(client) = client
            .as_mut()
            .filter(|_| self.widened.load(Ordering::SeqCst))
        {
            client.audience.push("reports".into());
        }
        Ok(client)
    }
}

const HOUR: Duration = Duration::from_secs(3600);

struct Issuer {
    tokens: TokenService,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

fn issuer(idle: Duration, absolute: Duration) -> Issuer {
    issuer_with(idle, absolute, None)
}

fn issuer_with(idle: Duration, absolute: Duration, narrowing: Option<Arc<Narrowing>>) -> Issuer {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    std::fs::write(
        keys.join("a.pem"),
        portcullis_jwt::generate_rsa_pem().unwrap(),
    )
    .unwrap();
    let users = UsersFile::standard().write_in(dir.path());
    let ring = Arc::new(KeyRing::load(keys).unwrap());
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let directory: Arc<dyn UserDirectory> = match narrowing {
        Some(narrowing) => narrowing,
        None => Arc::new(FileDirectory::load(&users).unwrap()),
    };
    let tokens = TokenService::new(
        directory,
        Arc::new(Argon2Verifier::new(2, Duration::from_secs(2)).unwrap()),
        Arc::new(MemoryRefreshTokenStore::default()),
        Arc::new(JwtSigner::new(ring)),
        clock.clone(),
        TokenPolicy {
            issuer: "http://127.0.0.1:8080".into(),
            access_ttl: Duration::from_secs(600),
            refresh_ttl: idle,
            refresh_absolute_lifetime: absolute,
            refresh_reuse_grace: Duration::from_secs(5),
        },
    );
    Issuer {
        tokens,
        clock,
        _dir: dir,
    }
}

fn cli() -> ClientAuth {
    ClientAuth {
        client_id: CLI_CLIENT.into(),
        secret: None,
        dpop_jkt: None,
    }
}

impl Issuer {
    async fn login(&self) -> IssuedTokens {
        self.tokens
            .password_grant(&cli(), "alice", &Secret::new(PASSWORD), None)
            .await
            .unwrap()
    }

    async fn refresh(&self, token: &IssuedTokens) -> Result<IssuedTokens, GrantError> {
        let refresh = token.refresh_token.as_ref().unwrap();
        self.tokens
            .refresh_grant(&cli(), refresh, None::<&ScopeSet>)
            .await
    }
}

/// The claims of an access token (not verified: the issuer signed it in this process).
fn claims(tokens: &IssuedTokens) -> serde_json::Value {
    let payload = tokens.access_token.expose().split('.').nth(1).unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

/// The `sid` claim of an access token.
fn sid(tokens: &IssuedTokens) -> String {
    claims(tokens)["sid"]
        .as_str()
        .expect("access tokens carry sid")
        .to_string()
}

#[tokio::test]
async fn an_actively_used_session_still_ends_at_its_absolute_lifetime() {
    let issuer = issuer(HOUR, 3 * HOUR);
    let mut current = issuer.login().await;
    let session = sid(&current);
    let mut refreshes = 0;
    loop {
        issuer.clock.advance(Duration::from_secs(50 * 60));
        match issuer.refresh(&current).await {
            Ok(next) => {
                assert_eq!(sid(&next), session, "one session across rotations");
                current = next;
                refreshes += 1;
            }
            Err(error) => {
                assert!(matches!(error, GrantError::InvalidGrant), "{error:?}");
                break;
            }
        }
        assert!(refreshes < 10, "the session never ended");
    }
    // Refreshed every 50 minutes: at 50, 100, 150 minutes; at 200 the three hours are over.
    assert_eq!(refreshes, 3);
    assert!(!issuer.tokens.session_active(&session).await.unwrap());
}

#[tokio::test]
async fn an_idle_session_ends_after_the_idle_timeout() {
    let issuer = issuer(HOUR, 24 * HOUR);
    let first = issuer.login().await;
    issuer.clock.advance(Duration::from_secs(59 * 60));
    let second = issuer
        .refresh(&first)
        .await
        .expect("used within the idle timeout");
    issuer.clock.advance(Duration::from_secs(61 * 60));
    assert!(matches!(
        issuer.refresh(&second).await,
        Err(GrantError::InvalidGrant)
    ));
    assert!(!issuer.tokens.session_active(&sid(&second)).await.unwrap());
}

#[tokio::test]
async fn a_refresh_follows_the_clients_current_audience() {
    let dir = tempfile::tempdir().unwrap();
    let users = UsersFile::standard().write_in(dir.path());
    let narrowing = Arc::new(Narrowing {
        file: FileDirectory::load(&users).unwrap(),
        widened: AtomicBool::new(true),
    });
    let issuer = issuer_with(HOUR, 24 * HOUR, Some(narrowing.clone()));
    let login = issuer.login().await;
    assert_eq!(
        claims(&login)["aud"],
        serde_json::json!(["data-api", "reports"])
    );
    narrowing.widened.store(false, Ordering::SeqCst);
    let refreshed = issuer.refresh(&login).await.unwrap();
    assert_eq!(
        claims(&refreshed)["aud"],
        serde_json::json!(["data-api"]),
        "an audience the client lost is not granted again"
    );
}
