//! DPoP at the issuer (RFC 9449): at the token endpoint (§5) the request's proof is checked once,
//! before any grant runs, and its key thumbprint is what the grant binds the tokens to; at
//! UserInfo (§7) a bound token must come with a proof by its key.

use crate::oauth_error::OAuthError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::{HeaderMap, HeaderValue};
use portcullis_domain::cause::{Cause, Chain};
use portcullis_domain::dpop::{ProofRejection, ProofRequest};
use portcullis_domain::ephemeral::{EphemeralError, EphemeralStore};
use portcullis_domain::usecase::dpop::DpopGuard;
use rand::RngCore;
use std::sync::Arc;
use std::time::Duration;

/// How long one server nonce is handed out and accepted; then clients are sent the next.
const NONCE_LIFETIME: Duration = Duration::from_secs(300);
/// Where the current nonce lives in the store every replica shares.
const NONCE_KEY: &str = "dpop-nonce";

/// The issuer's DPoP proof checks: at the token endpoint and at UserInfo.
pub struct IssuerProofs {
    guard: DpopGuard,
    /// `htu` of the token endpoint, as clients address it.
    token_url: String,
    /// Present when proofs must carry a server nonce.
    nonces: Option<Arc<dyn EphemeralStore>>,
}

impl IssuerProofs {
    /// Checks proofs sent to `token_url` with `guard`; with `nonces`, against a server nonce
    /// kept there.
    pub fn new(
        guard: DpopGuard,
        token_url: String,
        nonces: Option<Arc<dyn EphemeralStore>>,
    ) -> Self {
        Self {
            guard,
            token_url,
            nonces,
        }
    }

    /// The proof algorithms accepted, for discovery.
    pub fn algorithms(&self) -> &[&'static str] {
        self.guard.algorithms()
    }

    /// The key thumbprint of the one `DPoP` proof in `headers` for `method` on `url`, made
    /// for `access_token` (`ath`): what a bound token presented to a resource of the issuer
    /// (UserInfo) must come with. Replays are refused like at the token endpoint.
    pub async fn resource_proof_key(
        &self,
        headers: &HeaderMap,
        method: &str,
        url: &str,
        access_token: &str,
    ) -> Result<String, ProofRejection> {
        let request = ProofRequest {
            proof: portcullis_http::dpop::proof(headers)?,
            method,
            uri: url,
            access_token: Some(access_token),
            nonce: None,
        };
        self.guard.check(&request).await.map(|proof| proof.jkt)
    }

    /// The thumbprint of the key the request's DPoP proof shows, `None` without a proof, or the
    /// RFC 9449 error to answer.
    pub async fn proof_key(&self, headers: &HeaderMap) -> Result<Option<String>, OAuthError> {
        let proof = match portcullis_http::dpop::proof(headers) {
            Ok(proof) => proof,
            Err(ProofRejection::Missing) => return Ok(None),
            Err(ProofRejection::Multiple) => {
                return Err(OAuthError::invalid_dpop_proof(
                    "send exactly one DPoP header",
                ))
            }
            Err(_) => {
                return Err(OAuthError::invalid_dpop_proof(
                    "the DPoP proof is not a JWT",
                ))
            }
        };
        let nonce = match &self.nonces {
            Some(store) => Some(current_nonce(store.as_ref()).await.map_err(|error| {
                tracing::error!(error = %Chain(&error), "DPoP nonce store unavailable");
                OAuthError::unavailable()
            })?),
            None => None,
        };
        let request = ProofRequest {
            proof,
            method: "POST",
            uri: &self.token_url,
            access_token: None,
            nonce: nonce.as_deref(),
        };
        match self.guard.check(&request).await {
            Ok(verified) => Ok(Some(verified.jkt)),
            Err(rejection) => Err(refusal(&rejection, nonce)),
        }
    }
}

/// The answer to a refused proof: a fresh nonce to retry with, 503 when the replay record could
/// not be written, `invalid_dpop_proof` otherwise (the reason is logged, not told).
fn refusal(rejection: &ProofRejection, nonce: Option<String>) -> OAuthError {
    tracing::info!(
        reason = rejection.reason(),
        "DPoP proof refused at the token endpoint"
    );
    match (
        rejection,
        nonce.and_then(|n| HeaderValue::from_str(&n).ok()),
    ) {
        (ProofRejection::NonceRequired, Some(nonce)) => OAuthError::use_dpop_nonce(nonce),
        (ProofRejection::ReplayCheckUnavailable(error), _) => {
            tracing::error!(error = %Chain(error), "DPoP replay store unavailable");
            OAuthError::unavailable()
        }
        _ => OAuthError::invalid_dpop_proof("the DPoP proof is invalid"),
    }
}

/// The nonce every replica hands out now: the stored one, or a new one if it expired (the first
/// replica to store it wins; the others read the winner's).
async fn current_nonce(store: &dyn EphemeralStore) -> Result<String, EphemeralError> {
    for _ in 0..3 {
        if let Some(nonce) = store.get(NONCE_KEY).await? {
            if let Ok(nonce) = String::from_utf8(nonce) {
                return Ok(nonce);
            }
        }
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let fresh = URL_SAFE_NO_PAD.encode(bytes);
        if store
            .put_new(NONCE_KEY, fresh.clone().into_bytes(), NONCE_LIFETIME)
            .await?
        {
            return Ok(fresh);
        }
    }
    Err(EphemeralError(Cause::new(
        "the DPoP nonce kept changing while it was read",
    )))
}
