//! Client authentication under pressure: a flood of password logins must not starve it (client
//! secrets have their own argon2 budget), and an unknown `client_id` costs the same argon2 work
//! as a known one (counted, not timed).

use async_trait::async_trait;
use portcullis_directory::{Argon2Verifier, FileDirectory};
use portcullis_domain::clock::SystemClock;
use portcullis_domain::directory::{PasswordError, PasswordVerifier};
use portcullis_domain::secret::Secret;
use portcullis_domain::usecase::tokens::{ClientAuth, GrantError, TokenPolicy, TokenService};
use portcullis_jwt::{JwtSigner, KeyRing};
use portcullis_store::MemoryRefreshTokenStore;
use portcullis_tests::{UsersFile, PASSWORD};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A verifier whose every slot is taken by a password flood: it answers "saturated".
struct Flooded;

#[async_trait]
impl PasswordVerifier for Flooded {
    async fn verify(&self, _: &Secret, _: Option<&Secret>) -> Result<bool, PasswordError> {
        Err(PasswordError::Saturated)
    }
}

/// Counts the argon2 checks it runs.
struct Counting {
    inner: Argon2Verifier,
    checks: AtomicUsize,
}

#[async_trait]
impl PasswordVerifier for Counting {
    async fn verify(&self, secret: &Secret, hash: Option<&Secret>) -> Result<bool, PasswordError> {
        self.checks.fetch_add(1, Ordering::SeqCst);
        self.inner.verify(secret, hash).await
    }
}

fn service(client_secrets: Arc<Counting>) -> (TokenService, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    std::fs::write(
        keys.join("a.pem"),
        portcullis_jwt::generate_rsa_pem().unwrap(),
    )
    .unwrap();
    let users = UsersFile::standard().write_in(dir.path());
    let tokens = TokenService::new(
        Arc::new(FileDirectory::load(&users).unwrap()),
        Arc::new(Flooded),
        Arc::new(MemoryRefreshTokenStore::default()),
        Arc::new(JwtSigner::new(Arc::new(KeyRing::load(keys).unwrap()))),
        Arc::new(SystemClock),
        TokenPolicy {
            issuer: "http://127.0.0.1:8080".into(),
            access_ttl: Duration::from_secs(600),
            refresh_ttl: Duration::from_secs(3600),
            refresh_absolute_lifetime: Duration::from_secs(7 * 86_400),
            refresh_reuse_grace: Duration::from_secs(5),
        },
    )
    .with_client_secret_verifier(client_secrets);
    (tokens, dir)
}

fn counting() -> Arc<Counting> {
    Arc::new(Counting {
        inner: Argon2Verifier::new(1, Duration::from_secs(2)).unwrap(),
        checks: AtomicUsize::new(0),
    })
}

fn client(id: &str, secret: &str) -> ClientAuth {
    ClientAuth {
        client_id: id.into(),
        secret: Some(Secret::new(secret)),
        dpop_jkt: None,
    }
}

#[tokio::test]
async fn a_password_flood_does_not_starve_client_authentication() {
    let (tokens, _dir) = service(counting());
    let issued = tokens
        .client_credentials_grant(&client("reporting-job", PASSWORD), None)
        .await;
    assert!(issued.is_ok(), "{issued:?}");
    assert!(tokens
        .authenticate_confidential(&client("data-api", PASSWORD))
        .await
        .is_ok());
}

#[tokio::test]
async fn an_unknown_client_costs_the_same_argon2_work_as_a_known_one() {
    let secrets = counting();
    let (tokens, _dir) = service(secrets.clone());
    let known = tokens
        .client_credentials_grant(&client("reporting-job", "wrong secret"), None)
        .await;
    assert!(matches!(known, Err(GrantError::InvalidClient)), "{known:?}");
    assert_eq!(secrets.checks.load(Ordering::SeqCst), 1);
    let unknown = tokens
        .client_credentials_grant(&client("no-such-client", "wrong secret"), None)
        .await;
    assert!(
        matches!(unknown, Err(GrantError::InvalidClient)),
        "{unknown:?}"
    );
    assert_eq!(
        secrets.checks.load(Ordering::SeqCst),
        2,
        "the unknown client's secret was checked against a dummy hash too"
    );
}
