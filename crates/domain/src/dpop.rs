//! DPoP proofs (RFC 9449): what a proof must show and why one is refused, as a port both
//! services share. The issuer checks a proof at its token endpoint, the data API on every
//! request that presents a DPoP-bound token; the JOSE work lives in an adapter, the rules that
//! need state (a `jti` seen once across every replica) in [`crate::usecase::dpop::DpopGuard`].

use crate::ephemeral::EphemeralError;
use std::time::Duration;

/// How far a proof's `iat` may be from the verifier's clock, either way (RFC 9449 §11.1 leaves
/// it to the server; a minute tolerates ordinary clock skew yet keeps the replay record short).
pub const PROOF_WINDOW: Duration = Duration::from_secs(60);

/// What a request presented and what its proof must match.
#[derive(Clone, Copy, Debug)]
pub struct ProofRequest<'a> {
    /// The `DPoP` header's value: a compact JWS.
    pub proof: &'a str,
    /// The request's HTTP method, compared with `htm` exactly.
    pub method: &'a str,
    /// The request's `htu`: `scheme://authority/path`, without query or fragment.
    pub uri: &'a str,
    /// The access token presented with the proof; when present the proof's `ath` must be the
    /// base64url SHA-256 of it (RFC 9449 §4.3 check 11).
    pub access_token: Option<&'a str>,
    /// The nonce the server currently expects; when `Some`, the proof's `nonce` must equal it.
    pub nonce: Option<&'a str>,
}

/// What a valid proof establishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's public key, base64url: what a bound
    /// token's `cnf.jkt` must equal.
    pub jkt: String,
    /// The proof's unique id, remembered to refuse a replay.
    pub jti: String,
    /// The proof's `iat`, seconds since the epoch.
    pub issued_at: u64,
}

/// Why a proof was refused. `reason()` labels logs and metrics; callers answer
/// `invalid_dpop_proof` (or `use_dpop_nonce` for [`ProofRejection::NonceRequired`]).
#[derive(Debug, thiserror::Error)]
pub enum ProofRejection {
    /// No proof was presented where one is required.
    #[error("no DPoP proof")]
    Missing,
    /// Several `DPoP` headers: RFC 9449 §4.3 check 1 allows exactly one.
    #[error("more than one DPoP proof")]
    Multiple,
    /// Larger than the cap; refused before any decoding.
    #[error("DPoP proof too large")]
    TooLarge,
    /// Not a well-formed compact JWS with the required header members and claims.
    #[error("malformed DPoP proof")]
    Malformed,
    /// The `typ` header is not `dpop+jwt`.
    #[error("wrong proof type")]
    WrongType,
    /// `alg` is not one of the asymmetric algorithms the verifier accepts, or does not fit the
    /// key.
    #[error("proof algorithm not allowed")]
    AlgorithmNotAllowed,
    /// The `jwk` header carries private key members.
    #[error("private key in proof")]
    PrivateKey,
    /// The `jwk` is of a type, curve or size the verifier does not accept.
    #[error("unsupported proof key")]
    UnsupportedKey,
    /// The signature does not verify with the proof's own key.
    #[error("bad proof signature")]
    BadSignature,
    /// `htm` is not the request's method.
    #[error("proof for another method")]
    WrongMethod,
    /// `htu` is not the request's URI.
    #[error("proof for another URI")]
    WrongUri,
    /// `iat` is outside the accepted window.
    #[error("proof too old or from the future")]
    Stale,
    /// A token was presented but the proof has no `ath`.
    #[error("proof without access token hash")]
    MissingAccessTokenHash,
    /// `ath` is not the hash of the presented token.
    #[error("proof for another access token")]
    WrongAccessTokenHash,
    /// The server expects a nonce and the proof has none, or another one.
    #[error("DPoP nonce required")]
    NonceRequired,
    /// The proof's key is not the one the access token is bound to (`cnf.jkt`).
    #[error("proof key does not match the token binding")]
    WrongKey,
    /// This proof (`jti` for this key) was already used within the window.
    #[error("DPoP proof replayed")]
    Replayed,
    /// The shared replay record could not be consulted and no fallback applies.
    #[error("DPoP replay check unavailable")]
    ReplayCheckUnavailable(#[source] EphemeralError),
}

impl ProofRejection {
    /// Every reason label, so its counter can be exported at 0 before the first rejection.
    pub const REASONS: [&'static str; 18] = [
        "dpop_missing",
        "dpop_multiple",
        "dpop_too_large",
        "dpop_malformed",
        "dpop_type",
        "dpop_algorithm",
        "dpop_private_key",
        "dpop_unsupported_key",
        "dpop_signature",
        "dpop_method",
        "dpop_uri",
        "dpop_stale",
        "dpop_ath_missing",
        "dpop_ath",
        "dpop_nonce",
        "dpop_key_mismatch",
        "dpop_replayed",
        "dpop_replay_unavailable",
    ];

    /// A stable label for `portcullis_auth_failures_total{reason}`, prefixed so it never
    /// collides with a token rejection's.
    pub fn reason(&self) -> &'static str {
        let index = match self {
            Self::Missing => 0,
            Self::Multiple => 1,
            Self::TooLarge => 2,
            Self::Malformed => 3,
            Self::WrongType => 4,
            Self::AlgorithmNotAllowed => 5,
            Self::PrivateKey => 6,
            Self::UnsupportedKey => 7,
            Self::BadSignature => 8,
            Self::WrongMethod => 9,
            Self::WrongUri => 10,
            Self::Stale => 11,
            Self::MissingAccessTokenHash => 12,
            Self::WrongAccessTokenHash => 13,
            Self::NonceRequired => 14,
            Self::WrongKey => 15,
            Self::Replayed => 16,
            Self::ReplayCheckUnavailable(_) => 17,
        };
        Self::REASONS[index]
    }
}

/// Checks one proof statelessly: signature, header and claims against the request. Replay is
/// not its business (see [`crate::usecase::dpop::DpopGuard`]). Synchronous: CPU work only.
pub trait ProofVerifier: Send + Sync {
    /// The proof's key thumbprint, `jti` and `iat`, or why it must be refused. `now` is seconds
    /// since the epoch, from the caller's clock.
    fn verify(&self, request: &ProofRequest<'_>, now: u64)
        -> Result<VerifiedProof, ProofRejection>;

    /// The `alg` values accepted, for `dpop_signing_alg_values_supported` and the `algs`
    /// parameter of `WWW-Authenticate: DPoP` challenges.
    fn algorithms(&self) -> &[&'static str];

    /// How far `iat` may be from `now`, either way; a replay record must outlive it.
    fn window(&self) -> Duration {
        PROOF_WINDOW
    }
}
