//! What a verifier is configured with, and the defaults the data API's settings share.

use portcullis_domain::duration_text::parse;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::time::Duration;

/// The defaults of [`VerifierConfig`] that are settings of the data API, written once, as its
/// command line shows them (`DATA_API_TOKEN_LEEWAY` and so on).
pub mod defaults {
    /// Default [`VerifierConfig::leeway`](super::VerifierConfig::leeway).
    pub const LEEWAY: &str = "30s";
    /// Default [`VerifierConfig::refresh_interval`](super::VerifierConfig::refresh_interval).
    pub const REFRESH_INTERVAL: &str = "5m";
    /// Default [`VerifierConfig::min_refresh_interval`](super::VerifierConfig::min_refresh_interval).
    pub const MIN_REFRESH_INTERVAL: &str = "30s";
    /// Default [`VerifierConfig::unknown_kid_cooldown`](super::VerifierConfig::unknown_kid_cooldown).
    pub const UNKNOWN_KID_COOLDOWN: &str = "30s";
    /// Default [`VerifierConfig::max_staleness`](super::VerifierConfig::max_staleness).
    pub const MAX_STALENESS: &str = "6h";
    /// Default [`VerifierConfig::token_cache_capacity`](super::VerifierConfig::token_cache_capacity).
    pub const TOKEN_CACHE_CAPACITY: u64 = 100_000;
}

/// How the verifier checks tokens and talks to the issuer.
#[derive(Clone, Debug)]
pub struct VerifierConfig {
    /// The issuer identifier; `iss` must equal it exactly, and discovery is fetched from it.
    pub issuer: String,
    /// Accepted audiences: `aud` must contain at least one of them.
    pub audiences: Vec<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`; capped at 60 s.
    pub leeway: Duration,
    /// Tokens longer than this are refused before any decoding.
    pub max_token_bytes: usize,
    /// Longest time between two refreshes of the key set (the JWKS `max-age` may shorten it).
    pub refresh_interval: Duration,
    /// Shortest time between two scheduled refreshes, whatever `max-age` says.
    pub min_refresh_interval: Duration,
    /// Least time between two refetches caused by unknown `kid`s.
    pub unknown_kid_cooldown: Duration,
    /// How long a key set stays usable without a successful refresh.
    pub max_staleness: Duration,
    /// Timeout of each HTTP request to the issuer.
    pub fetch_timeout: Duration,
    /// Verified tokens remembered; 0 turns the cache off.
    pub token_cache_capacity: u64,
    /// Certificate authorities trusted for the issuer besides the system's roots: an issuer
    /// serving HTTPS with a private CA (a cluster's own) is verified, not excused.
    pub issuer_ca: Option<CaBundle>,
}

/// Certificate authorities read from a PEM bundle, to trust beside the system's roots.
#[derive(Clone, Debug)]
pub struct CaBundle(pub(crate) Vec<CertificateDer<'static>>);

/// A PEM bundle that holds no usable certificate.
#[derive(Debug, thiserror::Error)]
pub enum CaBundleError {
    /// A PEM block could not be decoded.
    #[error("is not a PEM certificate bundle")]
    Pem(#[source] rustls::pki_types::pem::Error),
    /// No certificate at all: trusting nothing extra is surely not what was meant.
    #[error("holds no PEM certificate")]
    Empty,
}

impl CaBundle {
    /// The certificates of a PEM bundle (`-----BEGIN CERTIFICATE-----` blocks; others ignored).
    pub fn from_pem(pem: &[u8]) -> Result<Self, CaBundleError> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(CaBundleError::Pem)?;
        if certs.is_empty() {
            return Err(CaBundleError::Empty);
        }
        Ok(Self(certs))
    }
}

impl VerifierConfig {
    /// Strict defaults for the given issuer and audience.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: vec![audience.into()],
            leeway: parse(defaults::LEEWAY),
            max_token_bytes: 8 * 1024,
            refresh_interval: parse(defaults::REFRESH_INTERVAL),
            min_refresh_interval: parse(defaults::MIN_REFRESH_INTERVAL),
            unknown_kid_cooldown: parse(defaults::UNKNOWN_KID_COOLDOWN),
            max_staleness: parse(defaults::MAX_STALENESS),
            fetch_timeout: Duration::from_secs(5),
            token_cache_capacity: defaults::TOKEN_CACHE_CAPACITY,
            issuer_ca: None,
        }
    }
}
