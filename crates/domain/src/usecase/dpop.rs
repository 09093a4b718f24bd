//! The stateful half of checking a DPoP proof: after the [`ProofVerifier`] accepts it, its
//! `jti` must not have been seen for the same key within the `iat` window, on any replica
//! (RFC 9449 §11.1). The record lives in an [`EphemeralStore`] every replica shares; when that
//! store fails, an optional in-process store takes over, so an outage of the shared one costs
//! cross-replica replay detection, not availability (the operator chooses, as for the limiter).

use crate::cause::Chain;
use crate::clock::Clock;
use crate::dpop::{ProofRejection, ProofRequest, ProofVerifier, VerifiedProof};
use crate::encoding::to_hex;
use crate::ephemeral::{EphemeralError, EphemeralStore};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// Verifies proofs and refuses replays.
pub struct DpopGuard {
    verifier: Arc<dyn ProofVerifier>,
    replays: Arc<dyn EphemeralStore>,
    fallback: Option<Arc<dyn EphemeralStore>>,
    clock: Arc<dyn Clock>,
}

impl DpopGuard {
    /// A guard recording seen proofs in `replays`. With a `fallback`, a failing `replays` is
    /// replaced by it for that check (and logged); without, the proof is refused as
    /// [`ProofRejection::ReplayCheckUnavailable`].
    pub fn new(
        verifier: Arc<dyn ProofVerifier>,
        replays: Arc<dyn EphemeralStore>,
        fallback: Option<Arc<dyn EphemeralStore>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            verifier,
            replays,
            fallback,
            clock,
        }
    }

    /// The accepted proof algorithms, for metadata documents and challenges.
    pub fn algorithms(&self) -> &[&'static str] {
        self.verifier.algorithms()
    }

    /// The proof's key and id if it is valid for `request` and seen for the first time.
    pub async fn check(&self, request: &ProofRequest<'_>) -> Result<VerifiedProof, ProofRejection> {
        let now = self.clock.unix_seconds();
        let proof = self.verifier.verify(request, now)?;
        let key = replay_key(&proof);
        let ttl = remembered_for(&proof, now, self.verifier.window());
        let first = match self.replays.put_new(&key, Vec::new(), ttl).await {
            Ok(first) => first,
            Err(error) => self.fall_back(&key, ttl, error).await?,
        };
        if first {
            Ok(proof)
        } else {
            Err(ProofRejection::Replayed)
        }
    }

    async fn fall_back(
        &self,
        key: &str,
        ttl: Duration,
        error: EphemeralError,
    ) -> Result<bool, ProofRejection> {
        let Some(fallback) = &self.fallback else {
            tracing::warn!(error = %Chain(&error), "DPoP replay store unavailable: proof refused");
            return Err(ProofRejection::ReplayCheckUnavailable(error));
        };
        tracing::warn!(
            error = %Chain(&error),
            "DPoP replay store unavailable: checking replays in this process only"
        );
        fallback
            .put_new(key, Vec::new(), ttl)
            .await
            .map_err(ProofRejection::ReplayCheckUnavailable)
    }
}

/// The record key: a hash of the key thumbprint and `jti`, so neither a long `jti` nor its
/// characters reach the store, and two keys choosing the same `jti` never collide.
fn replay_key(proof: &VerifiedProof) -> String {
    let mut hasher = Sha256::new();
    hasher.update(proof.jkt.as_bytes());
    hasher.update([0]);
    hasher.update(proof.jti.as_bytes());
    format!("dpop-jti:{}", to_hex(&hasher.finalize()))
}

/// How long the record must live: until the proof's `iat` leaves the window (the proof could
/// be accepted until then), plus a second for rounding; never less than a second.
fn remembered_for(proof: &VerifiedProof, now: u64, window: Duration) -> Duration {
    let acceptable_until = proof.issued_at.saturating_add(window.as_secs());
    Duration::from_secs(acceptable_until.saturating_sub(now).saturating_add(1))
}

#[cfg(test)]
#[path = "dpop_tests.rs"]
mod tests;
