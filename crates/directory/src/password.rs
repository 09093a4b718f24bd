//! argon2id password and client-secret checks, bounded so a login flood cannot exhaust the host.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, PasswordVerifier as _};
use async_trait::async_trait;
use portcullis_domain::directory::{PasswordError, PasswordVerifier};
use portcullis_domain::secret::Secret;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// argon2id's cost: memory in KiB and passes (one lane). Stored hashes made with less are
/// re-made with these at the owner's next successful login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashParams {
    /// Memory per hash, KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
}

impl HashParams {
    /// OWASP's minimum for argon2id (19 MiB, t=2, p=1), the `argon2` crate's defaults.
    pub const OWASP_MINIMUM: Self = Self {
        memory_kib: argon2::Params::DEFAULT_M_COST,
        iterations: argon2::Params::DEFAULT_T_COST,
    };

    fn hasher(self) -> Result<Argon2<'static>, PasswordError> {
        let params = argon2::Params::new(self.memory_kib, self.iterations, 1, None)
            .map_err(|_| PasswordError::InvalidHash)?;
        Ok(Argon2::new(
            Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        ))
    }

    /// Whether a hash made with `stored` costs less than these (so should be re-made).
    fn weaker(self, stored: &PasswordHash<'_>) -> bool {
        let cost = |name: &str| stored.params.get_decimal(name).unwrap_or(0);
        cost("m") < self.memory_kib || cost("t") < self.iterations
    }
}

/// Hashes a secret with argon2id at OWASP's minimum, giving the PHC string the users file
/// stores.
pub fn hash_password(secret: &str) -> Result<String, PasswordError> {
    hash_password_with(secret, HashParams::OWASP_MINIMUM)
}

/// Hashes a secret with argon2id at `params`.
pub fn hash_password_with(secret: &str, params: HashParams) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    params
        .hasher()?
        .hash_password(secret.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| PasswordError::InvalidHash)
}

/// Verifies argon2id hashes on the blocking pool, at most `concurrency` at a time; a caller that
/// waits longer than `queue_timeout` for a slot is told the service is saturated.
#[derive(Clone)]
pub struct Argon2Verifier {
    slots: Arc<Semaphore>,
    queue_timeout: Duration,
    dummy_hash: Arc<str>,
    params: HashParams,
}

impl std::fmt::Debug for Argon2Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Verifier")
            .field("available", &self.slots.available_permits())
            .finish_non_exhaustive()
    }
}

impl Argon2Verifier {
    /// A verifier running at most `concurrency` hashes at once (each holds 19 MiB).
    pub fn new(concurrency: usize, queue_timeout: Duration) -> Result<Self, PasswordError> {
        Self::with_params(concurrency, queue_timeout, HashParams::OWASP_MINIMUM)
    }

    /// Like [`Argon2Verifier::new`], upgrading hashes weaker than `params` (see
    /// [`PasswordVerifier::upgrade`]).
    pub fn with_params(
        concurrency: usize,
        queue_timeout: Duration,
        params: HashParams,
    ) -> Result<Self, PasswordError> {
        // Unknown users are checked against this, so they cost exactly what a real user costs.
        let dummy_hash = hash_password_with("portcullis-dummy-password", params)?;
        Ok(Self {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            queue_timeout,
            dummy_hash: dummy_hash.into(),
            params,
        })
    }

    async fn slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, PasswordError> {
        tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| PasswordError::Saturated)?
            .map_err(|_| PasswordError::Saturated)
    }
}

#[async_trait]
impl PasswordVerifier for Argon2Verifier {
    async fn verify(&self, secret: &Secret, hash: Option<&Secret>) -> Result<bool, PasswordError> {
        // The permit moves into the blocking task: if the request is cancelled, the hash still
        // runs to the end, and its slot stays taken until it does.
        let slot = self.slot().await?;
        let known = hash.is_some();
        let hash: Arc<str> = hash.map_or_else(|| self.dummy_hash.clone(), |h| h.expose().into());
        let secret = secret.clone();
        let matches = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let parsed = PasswordHash::new(&hash).map_err(|_| PasswordError::InvalidHash)?;
            if parsed.algorithm != Algorithm::Argon2id.ident() {
                return Err(PasswordError::InvalidHash);
            }
            Ok(Argon2::default()
                .verify_password(secret.expose().as_bytes(), &parsed)
                .is_ok())
        })
        .await
        .map_err(|_| PasswordError::Saturated)??;
        Ok(known && matches)
    }

    async fn upgrade(
        &self,
        secret: &Secret,
        hash: &Secret,
    ) -> Result<Option<Secret>, PasswordError> {
        let weaker = PasswordHash::new(hash.expose()).is_ok_and(|h| self.params.weaker(&h));
        if !weaker {
            return Ok(None);
        }
        let slot = self.slot().await?;
        let (secret, params) = (secret.clone(), self.params);
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            hash_password_with(secret.expose(), params).map(|hash| Some(Secret::new(hash)))
        })
        .await
        .map_err(|_| PasswordError::Saturated)?
    }
}

/// Whether `phc` is a well-formed argon2id PHC string; used to refuse a bad users file at
/// start-up rather than at the first login.
pub fn is_argon2id_phc(phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| h.algorithm == Algorithm::Argon2id.ident())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_right_and_wrong_passwords() {
        let verifier = Argon2Verifier::new(2, Duration::from_secs(30)).unwrap();
        let hash = Secret::new(hash_password("correct horse").unwrap());
        assert!(hash.expose().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verifier
            .verify(&Secret::new("correct horse"), Some(&hash))
            .await
            .unwrap());
        assert!(!verifier
            .verify(&Secret::new("wrong"), Some(&hash))
            .await
            .unwrap());
        assert!(!verifier
            .verify(&Secret::new("correct horse"), None)
            .await
            .unwrap());
        let dummy = Secret::new("portcullis-dummy-password");
        assert!(
            !verifier.verify(&dummy, None).await.unwrap(),
            "the dummy never logs anyone in"
        );
    }

    #[tokio::test]
    async fn refuses_non_argon2id_hashes() {
        let verifier = Argon2Verifier::new(1, Duration::from_secs(30)).unwrap();
        let argon2i = "$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$Zm9vYmFyYmF6cXV4";
        let result = verifier
            .verify(&Secret::new("x"), Some(&Secret::new(argon2i)))
            .await;
        assert!(matches!(result, Err(PasswordError::InvalidHash)));
        let garbage = verifier
            .verify(&Secret::new("x"), Some(&Secret::new("plain")))
            .await;
        assert!(matches!(garbage, Err(PasswordError::InvalidHash)));
    }

    #[tokio::test]
    async fn hashes_weaker_than_configured_are_made_again_stronger_ones_are_kept() {
        let stronger = HashParams {
            memory_kib: HashParams::OWASP_MINIMUM.memory_kib + 1024,
            iterations: 3,
        };
        let verifier = Argon2Verifier::with_params(1, Duration::from_secs(30), stronger).unwrap();
        let secret = Secret::new("correct horse");
        let old = Secret::new(hash_password("correct horse").unwrap());
        let upgraded = verifier
            .upgrade(&secret, &old)
            .await
            .unwrap()
            .expect("re-made");
        assert!(
            upgraded.expose().contains("m=20480,t=3,p=1"),
            "{}",
            upgraded.expose()
        );
        assert!(verifier.verify(&secret, Some(&upgraded)).await.unwrap());
        assert!(verifier
            .upgrade(&secret, &upgraded)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn a_saturated_verifier_says_so_instead_of_queueing_forever() {
        let verifier = Argon2Verifier::new(1, Duration::from_millis(1)).unwrap();
        let _held = verifier.slots.clone().acquire_owned().await.unwrap();
        let result = verifier.verify(&Secret::new("x"), None).await;
        assert!(matches!(result, Err(PasswordError::Saturated)));
    }
}
