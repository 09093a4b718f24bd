//! Sessions that end: a refresh-token family has an absolute lifetime and an idle timeout, and
//! access tokens carry the family as `sid`. The issuer's real adapters (users file, argon2,
//! key ring, in-memory refresh store) on a manual clock, so hours pass without waiting.

use base64::Engine;
use portcullis_domain::clock::ManualClock;
use portcullis_domain::scope::ScopeSet;
use portcullis_domain::secret::Secret;
use portcullis_domain::usecase::tokens::{
    ClientAuth, GrantError, IssuedTokens, TokenPolicy, TokenService,
};
use portcullis_jwt::{JwtSigner, KeyRing};
use portcullis_store::{Argon2Verifier, FileDirectory, MemoryRefreshTokenStore};
use portcullis_tests::{test_users_toml, CLI_CLIENT, PASSWORD};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const HOUR: Duration = Duration::from_secs(3600);

struct Issuer {
    tokens: TokenService,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

fn issuer(idle: Duration, absolute: Duration) -> Issuer {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    std::fs::write(
        keys.join("a.pem"),
        portcullis_jwt::generate_rsa_pem().unwrap(),
    )
    .unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(&users, test_users_toml()).unwrap();
    let ring = Arc::new(KeyRing::load(keys).unwrap());
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let tokens = TokenService::new(
        Arc::new(FileDirectory::load(&users).unwrap()),
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

/// The `sid` claim of an access token (not verified: the issuer signed it in this process).
fn sid(tokens: &IssuedTokens) -> String {
    let payload = tokens.access_token.expose().split('.').nth(1).unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&json).unwrap();
    claims["sid"]
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
