use super::*;
use crate::cause::Cause;
use crate::clock::ManualClock;
use crate::testkit::FakeEphemeralStore;
use async_trait::async_trait;
use std::time::UNIX_EPOCH;

const START: u64 = 1_700_000_000;

/// Accepts every proof; the proof text is `jkt/jti/iat`.
struct StubVerifier;

impl ProofVerifier for StubVerifier {
    fn verify(
        &self,
        request: &ProofRequest<'_>,
        now: u64,
    ) -> Result<VerifiedProof, ProofRejection> {
        let mut parts = request.proof.split('/');
        let (Some(jkt), Some(jti), Some(iat)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ProofRejection::Malformed);
        };
        let issued_at: u64 = iat.parse().map_err(|_| ProofRejection::Malformed)?;
        if issued_at.abs_diff(now) > self.window().as_secs() {
            return Err(ProofRejection::Stale);
        }
        Ok(VerifiedProof {
            jkt: jkt.into(),
            jti: jti.into(),
            issued_at,
        })
    }

    fn algorithms(&self) -> &[&'static str] {
        &["ES256"]
    }
}

/// A shared store that is down.
struct DownStore;

#[async_trait]
impl EphemeralStore for DownStore {
    async fn put(&self, _: &str, _: Vec<u8>, _: Duration) -> Result<(), EphemeralError> {
        Err(down())
    }
    async fn put_new(&self, _: &str, _: Vec<u8>, _: Duration) -> Result<bool, EphemeralError> {
        Err(down())
    }
    async fn get(&self, _: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        Err(down())
    }
    async fn take(&self, _: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        Err(down())
    }
    async fn touch(&self, _: &str, _: Duration) -> Result<bool, EphemeralError> {
        Err(down())
    }
    async fn delete(&self, _: &str) -> Result<(), EphemeralError> {
        Err(down())
    }
}

fn down() -> EphemeralError {
    EphemeralError(Cause::new(std::io::Error::other("connection refused")))
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(START)))
}

fn guard(clock: &Arc<ManualClock>, replays: Arc<dyn EphemeralStore>, fallback: bool) -> DpopGuard {
    let fallback: Option<Arc<dyn EphemeralStore>> =
        fallback.then(|| Arc::new(FakeEphemeralStore::new(clock.clone())) as _);
    DpopGuard::new(Arc::new(StubVerifier), replays, fallback, clock.clone())
}

fn request(proof: &str) -> ProofRequest<'_> {
    ProofRequest {
        proof,
        method: "GET",
        uri: "https://api.example/v1/items",
        access_token: None,
        nonce: None,
    }
}

fn proof(jkt: &str, jti: &str, iat: u64) -> String {
    format!("{jkt}/{jti}/{iat}")
}

#[tokio::test]
async fn a_proof_is_accepted_once_and_its_replay_refused() {
    let clock = clock();
    let guard = guard(
        &clock,
        Arc::new(FakeEphemeralStore::new(clock.clone())),
        false,
    );
    let text = proof("key-a", "one", START);
    let verified = guard.check(&request(&text)).await.unwrap();
    assert_eq!(verified.jti, "one");
    clock.advance(Duration::from_secs(30));
    assert!(matches!(
        guard.check(&request(&text)).await,
        Err(ProofRejection::Replayed)
    ));
}

#[tokio::test]
async fn the_same_jti_from_another_key_is_another_proof() {
    let clock = clock();
    let guard = guard(
        &clock,
        Arc::new(FakeEphemeralStore::new(clock.clone())),
        false,
    );
    guard
        .check(&request(&proof("key-a", "one", START)))
        .await
        .unwrap();
    guard
        .check(&request(&proof("key-b", "one", START)))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_record_outlives_every_moment_the_proof_is_acceptable() {
    let clock = clock();
    let store = Arc::new(FakeEphemeralStore::new(clock.clone()));
    let guard = guard(&clock, store, false);
    // A proof dated in the future stays acceptable until iat + window.
    let future = proof("key-a", "late", START + 60);
    guard.check(&request(&future)).await.unwrap();
    clock.advance(Duration::from_secs(120));
    assert!(matches!(
        guard.check(&request(&future)).await,
        Err(ProofRejection::Replayed)
    ));
    clock.advance(Duration::from_secs(1));
    assert!(matches!(
        guard.check(&request(&future)).await,
        Err(ProofRejection::Stale)
    ));
}

#[tokio::test]
async fn a_refused_proof_is_not_recorded() {
    let clock = clock();
    let guard = guard(
        &clock,
        Arc::new(FakeEphemeralStore::new(clock.clone())),
        false,
    );
    let early = proof("key-a", "early", START + 61);
    assert!(matches!(
        guard.check(&request(&early)).await,
        Err(ProofRejection::Stale)
    ));
    clock.advance(Duration::from_secs(1));
    guard.check(&request(&early)).await.unwrap();
}

#[tokio::test]
async fn without_a_fallback_a_failing_store_refuses_the_proof() {
    let clock = clock();
    let guard = guard(&clock, Arc::new(DownStore), false);
    let rejection = guard
        .check(&request(&proof("key-a", "one", START)))
        .await
        .unwrap_err();
    assert!(matches!(
        rejection,
        ProofRejection::ReplayCheckUnavailable(_)
    ));
    assert_eq!(rejection.reason(), "dpop_replay_unavailable");
    assert!(
        std::error::Error::source(&rejection).is_some(),
        "keeps its cause"
    );
}

#[tokio::test]
async fn with_a_fallback_a_failing_store_still_refuses_replays_in_process() {
    let clock = clock();
    let guard = guard(&clock, Arc::new(DownStore), true);
    let text = proof("key-a", "one", START);
    guard.check(&request(&text)).await.unwrap();
    assert!(matches!(
        guard.check(&request(&text)).await,
        Err(ProofRejection::Replayed)
    ));
}

#[test]
fn every_rejection_has_a_distinct_reason() {
    let mut reasons = ProofRejection::REASONS.to_vec();
    reasons.sort_unstable();
    reasons.dedup();
    assert_eq!(reasons.len(), ProofRejection::REASONS.len());
    assert_eq!(ProofRejection::Replayed.reason(), "dpop_replayed");
}
