//! The [`ProofVerifier`] adapter: DPoP proofs (RFC 9449 §4.3) checked with `jsonwebtoken`.
//!
//! Everything the proof's header decides is checked before the signature is: the size, `typ`,
//! an `alg` from a fixed asymmetric list, and a `jwk` that is public, of a supported type and
//! fit for that `alg`. The signature is then verified with that key only, and the claims are
//! compared with the request. Nothing here keeps state: replays are the
//! [`DpopGuard`](portcullis_domain::usecase::dpop::DpopGuard)'s business.

mod htu;
mod key;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use key::ProofKey;
use portcullis_domain::dpop::{
    ProofRejection, ProofRequest, ProofVerifier, VerifiedProof, PROOF_WINDOW,
};
use portcullis_domain::signing::SigningAlgorithm;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The largest proof accepted, in bytes; a proof is a small header with one public key and a
/// few claims, so anything bigger is refused before it is decoded.
pub const MAX_PROOF_BYTES: usize = 8 * 1024;
/// The longest `jti` accepted; RFC 9449 asks for at least 96 random bits, which fit in far less.
const MAX_JTI_CHARS: usize = 256;
/// The `typ` header of a proof (RFC 9449 §4.2).
const PROOF_TYPE: &str = "dpop+jwt";

/// The proof algorithms accepted, strongest-first: asymmetric only, never `none` or HMAC.
pub const PROOF_ALGORITHMS: [&str; 4] = SigningAlgorithm::NAMES;

/// Verifies DPoP proofs. Cheap to share.
#[derive(Debug, Clone)]
pub struct DpopProofVerifier {
    window: Duration,
}

impl Default for DpopProofVerifier {
    fn default() -> Self {
        Self {
            window: PROOF_WINDOW,
        }
    }
}

impl DpopProofVerifier {
    /// A verifier accepting proofs whose `iat` is within `window` of the clock, either way.
    pub fn with_window(window: Duration) -> Self {
        Self { window }
    }
}

/// The claims of a proof; `iat` as a whole number of seconds.
#[derive(Deserialize)]
struct ProofClaims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<u64>,
    ath: Option<String>,
    nonce: Option<String>,
}

impl ProofVerifier for DpopProofVerifier {
    fn verify(
        &self,
        request: &ProofRequest<'_>,
        now: u64,
    ) -> Result<VerifiedProof, ProofRejection> {
        let proof = request.proof;
        if proof.is_empty() {
            return Err(ProofRejection::Missing);
        }
        if proof.len() > MAX_PROOF_BYTES {
            return Err(ProofRejection::TooLarge);
        }
        let header = header(proof)?;
        if header.get("typ").and_then(Value::as_str) != Some(PROOF_TYPE) {
            return Err(ProofRejection::WrongType);
        }
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let algorithm = algorithm(alg)?;
        if header.contains_key("crit") {
            // No extension is understood, so none may be critical (RFC 7515 §4.1.11).
            return Err(ProofRejection::Malformed);
        }
        let Some(Value::Object(jwk)) = header.get("jwk") else {
            return Err(ProofRejection::Malformed);
        };
        let key = ProofKey::read(jwk, alg)?;
        let claims = signed_claims(proof, jwk, algorithm)?;
        self.check_claims(request, claims, now, key.thumbprint())
    }

    fn algorithms(&self) -> &[&'static str] {
        &PROOF_ALGORITHMS
    }

    fn window(&self) -> Duration {
        self.window
    }
}

impl DpopProofVerifier {
    fn check_claims(
        &self,
        request: &ProofRequest<'_>,
        claims: ProofClaims,
        now: u64,
        jkt: String,
    ) -> Result<VerifiedProof, ProofRejection> {
        let (Some(jti), Some(htm), Some(htu), Some(iat)) =
            (claims.jti, claims.htm, claims.htu, claims.iat)
        else {
            return Err(ProofRejection::Malformed);
        };
        if jti.is_empty() || jti.chars().count() > MAX_JTI_CHARS {
            return Err(ProofRejection::Malformed);
        }
        if htm != request.method {
            return Err(ProofRejection::WrongMethod);
        }
        match (htu::normalise(&htu), htu::normalise(request.uri)) {
            (Some(proof_uri), Some(request_uri)) if proof_uri == request_uri => {}
            _ => return Err(ProofRejection::WrongUri),
        }
        if iat.abs_diff(now) > self.window.as_secs() {
            return Err(ProofRejection::Stale);
        }
        if let Some(token) = request.access_token {
            let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()));
            match claims.ath {
                None => return Err(ProofRejection::MissingAccessTokenHash),
                Some(ath) if ath != expected => return Err(ProofRejection::WrongAccessTokenHash),
                Some(_) => {}
            }
        }
        if let Some(nonce) = request.nonce {
            if claims.nonce.as_deref() != Some(nonce) {
                return Err(ProofRejection::NonceRequired);
            }
        }
        Ok(VerifiedProof {
            jkt,
            jti,
            issued_at: iat,
        })
    }
}

/// The proof's protected header as a JSON object.
fn header(proof: &str) -> Result<Map<String, Value>, ProofRejection> {
    let mut parts = proof.split('.');
    let (Some(encoded), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ProofRejection::Malformed);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| ProofRejection::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(header)) => Ok(header),
        _ => Err(ProofRejection::Malformed),
    }
}

/// The `jsonwebtoken` algorithm for an accepted `alg`.
fn algorithm(alg: &str) -> Result<Algorithm, ProofRejection> {
    SigningAlgorithm::from_name(alg)
        .map(crate::jose_algorithm)
        .ok_or(ProofRejection::AlgorithmNotAllowed)
}

/// The claims, once the signature verifies with the proof's own `jwk` and `algorithm`.
fn signed_claims(
    proof: &str,
    jwk: &Map<String, Value>,
    algorithm: Algorithm,
) -> Result<ProofClaims, ProofRejection> {
    let jwk: Jwk = serde_json::from_value(Value::Object(jwk.clone()))
        .map_err(|_| ProofRejection::UnsupportedKey)?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| ProofRejection::UnsupportedKey)?;
    let mut validation = Validation::new(algorithm);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims::<&str>(&[]);
    match jsonwebtoken::decode::<ProofClaims>(proof, &key, &validation) {
        Ok(data) => Ok(data.claims),
        Err(error) => Err(match error.kind() {
            ErrorKind::InvalidSignature => ProofRejection::BadSignature,
            ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidRsaKey(_) => {
                ProofRejection::UnsupportedKey
            }
            ErrorKind::InvalidAlgorithm => ProofRejection::AlgorithmNotAllowed,
            _ => ProofRejection::Malformed,
        }),
    }
}

#[cfg(test)]
mod tests;
