//! The resource server's [`TokenVerifier`]: keys from the issuer's JWKS (found through RFC 8414
//! discovery), strict RFC 9068 / RFC 8725 validation.
//!
//! The key set is loaded in the background and refreshed periodically. A token with an unknown
//! `kid` triggers at most one refetch per cool-down, shared by all concurrent requests, so a
//! flood of random `kid`s cannot turn into a flood of requests to the issuer. When the issuer is
//! unreachable the last good set keeps serving, up to a maximum staleness.

use crate::jwks::JwkSet;
use async_trait::async_trait;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use portcullis_domain::clock::{Clock, SystemClock};
use portcullis_domain::identity::{ClientId, Subject};
use portcullis_domain::scope::ScopeSet;
use portcullis_domain::token::{TokenRejection, TokenVerifier, VerifiedToken};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Largest JWKS or discovery document read from the issuer.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// How the verifier checks tokens and talks to the issuer.
#[derive(Clone, Debug)]
pub struct VerifierConfig {
    /// The issuer identifier; `iss` must equal it exactly, and discovery is fetched from it.
    pub issuer: String,
    /// The audience `aud` must contain.
    pub audience: String,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`; capped at 60 s.
    pub leeway: Duration,
    /// Tokens longer than this are refused before any decoding.
    pub max_token_bytes: usize,
    /// How often the key set is refreshed.
    pub refresh_interval: Duration,
    /// Least time between two refetches caused by unknown `kid`s.
    pub unknown_kid_cooldown: Duration,
    /// How long a key set stays usable without a successful refresh.
    pub max_staleness: Duration,
    /// Timeout of each HTTP request to the issuer.
    pub fetch_timeout: Duration,
}

impl VerifierConfig {
    /// Strict defaults for the given issuer and audience.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway: Duration::from_secs(30),
            max_token_bytes: 8 * 1024,
            refresh_interval: Duration::from_secs(300),
            unknown_kid_cooldown: Duration::from_secs(30),
            max_staleness: Duration::from_secs(6 * 3600),
            fetch_timeout: Duration::from_secs(5),
        }
    }
}

/// Why the key set could not be fetched; logged, never shown to callers.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The HTTP request failed or timed out.
    #[error("request to {url} failed: {source}")]
    Http {
        /// What was requested.
        url: String,
        /// Why it failed.
        source: reqwest::Error,
    },
    /// The issuer answered, but not with a usable document.
    #[error("bad document from {url}: {reason}")]
    BadDocument {
        /// What was requested.
        url: String,
        /// What was wrong.
        reason: String,
    },
}

struct LoadedKeys {
    by_kid: HashMap<String, DecodingKey>,
    fetched_at: Instant,
}

struct Inner {
    config: VerifierConfig,
    validation: Validation,
    http: reqwest::Client,
    keys: RwLock<Option<Arc<LoadedKeys>>>,
    /// Serialises fetches and remembers when the last one was attempted (single flight).
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    clock: Arc<dyn Clock>,
}

/// The JWKS-backed verifier. Cheap to clone.
#[derive(Clone)]
pub struct JwksVerifier {
    inner: Arc<Inner>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    client_id: String,
    jti: String,
    exp: u64,
    iat: u64,
    #[serde(default)]
    scope: String,
}

impl JwksVerifier {
    /// A verifier with no keys yet; call [`JwksVerifier::start`] to load them.
    pub fn new(mut config: VerifierConfig) -> Result<Self, FetchError> {
        config.leeway = config.leeway.min(Duration::from_secs(60));
        config.issuer = config.issuer.trim_end_matches('/').to_string();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = config.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(config.fetch_timeout)
            .connect_timeout(config.fetch_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|source| FetchError::Http {
                url: config.issuer.clone(),
                source,
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                validation,
                http,
                keys: RwLock::new(None),
                last_fetch: tokio::sync::Mutex::new(None),
                clock: Arc::new(SystemClock),
            }),
        })
    }

    /// Loads the key set in the background: retries every second until the first success,
    /// then refreshes every `refresh_interval`. The task ends when the verifier is dropped.
    pub fn start(&self) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let verifier = JwksVerifier { inner };
                let loaded = verifier.refresh().await.is_ok();
                let wait = if loaded {
                    verifier.inner.config.refresh_interval
                } else {
                    Duration::from_secs(1)
                };
                drop(verifier);
                tokio::time::sleep(wait).await;
            }
        })
    }

    /// Fetches the key set now, replacing the current one on success.
    pub async fn refresh(&self) -> Result<(), FetchError> {
        let mut last = self.inner.last_fetch.lock().await;
        *last = Some(Instant::now());
        self.fetch_and_store().await
    }

    async fn fetch_and_store(&self) -> Result<(), FetchError> {
        match self.fetch().await {
            Ok(keys) => {
                tracing::debug!(keys = keys.by_kid.len(), "issuer key set loaded");
                *self.inner.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(keys));
                Ok(())
            }
            Err(error) => {
                tracing::warn!(%error, "fetching the issuer key set failed");
                Err(error)
            }
        }
    }

    async fn fetch(&self) -> Result<LoadedKeys, FetchError> {
        let config = &self.inner.config;
        let discovery_url = format!("{}/.well-known/oauth-authorization-server", config.issuer);
        let discovery: Discovery = self.get_json(&discovery_url).await?;
        if discovery.issuer != config.issuer {
            // RFC 8414 §3.3: the document must name the issuer it was fetched from.
            return Err(FetchError::BadDocument {
                url: discovery_url,
                reason: "issuer in the document differs from the configured issuer".into(),
            });
        }
        let set: JwkSet = self.get_json(&discovery.jwks_uri).await?;
        let by_kid = set
            .keys
            .iter()
            .filter(|k| k.is_rs256_signing_key())
            .filter_map(|k| {
                DecodingKey::from_rsa_components(&k.n, &k.e)
                    .ok()
                    .map(|key| (k.kid.clone(), key))
            })
            .collect::<HashMap<_, _>>();
        if by_kid.is_empty() {
            return Err(FetchError::BadDocument {
                url: discovery.jwks_uri,
                reason: "no usable RS256 keys".into(),
            });
        }
        Ok(LoadedKeys {
            by_kid,
            fetched_at: Instant::now(),
        })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, FetchError> {
        let http_error = |source| FetchError::Http {
            url: url.to_string(),
            source,
        };
        let bad = |reason: String| FetchError::BadDocument {
            url: url.to_string(),
            reason,
        };
        let mut response = self
            .inner
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(http_error)?;
        if !response.status().is_success() {
            return Err(bad(format!("status {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(http_error)? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(bad("document too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))
    }

    fn current_keys(&self) -> Option<Arc<LoadedKeys>> {
        let keys = self
            .inner
            .keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        (keys.fetched_at.elapsed() <= self.inner.config.max_staleness).then_some(keys)
    }

    /// Refetches for an unknown `kid`, unless a fetch happened within the cool-down. Callers
    /// that arrive while a fetch runs wait for it instead of starting their own.
    async fn refetch_for_unknown_kid(&self) {
        let mut last = self.inner.last_fetch.lock().await;
        if last.is_some_and(|at| at.elapsed() < self.inner.config.unknown_kid_cooldown) {
            return;
        }
        *last = Some(Instant::now());
        let _ = self.fetch_and_store().await;
    }

    async fn key_for(&self, kid: &str) -> Result<DecodingKey, TokenRejection> {
        if let Some(keys) = self.current_keys() {
            if let Some(key) = keys.by_kid.get(kid) {
                return Ok(key.clone());
            }
        }
        self.refetch_for_unknown_kid().await;
        let keys = self.current_keys().ok_or(TokenRejection::KeysUnavailable)?;
        keys.by_kid
            .get(kid)
            .cloned()
            .ok_or(TokenRejection::UnknownKey)
    }
}

#[async_trait]
impl TokenVerifier for JwksVerifier {
    async fn verify(&self, token: &str) -> Result<VerifiedToken, TokenRejection> {
        let config = &self.inner.config;
        if token.len() > config.max_token_bytes {
            return Err(TokenRejection::TooLarge);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            ErrorKind::InvalidAlgorithmName => TokenRejection::AlgorithmNotAllowed,
            _ => TokenRejection::Malformed,
        })?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenRejection::AlgorithmNotAllowed);
        }
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(crate::ACCESS_TOKEN_TYPE)
                || t.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(TokenRejection::WrongType);
        }
        // `jku`, `x5u`, `jwk` and `x5c` are never looked at: keys come from the issuer only.
        let kid = header.kid.as_deref().ok_or(TokenRejection::UnknownKey)?;
        let key = self.key_for(kid).await?;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.inner.validation)
            .map_err(|e| rejection(e.kind()))?;
        let claims = data.claims;
        let now = self.inner.clock.unix_seconds();
        if claims.iat > now + config.leeway.as_secs() {
            return Err(TokenRejection::NotYetValid);
        }
        let invalid = |_| TokenRejection::InvalidClaims;
        if claims.jti.is_empty() {
            return Err(TokenRejection::InvalidClaims);
        }
        Ok(VerifiedToken {
            subject: Subject::new(claims.sub).map_err(invalid)?,
            client_id: ClientId::new(claims.client_id).map_err(invalid)?,
            scope: ScopeSet::parse(&claims.scope).map_err(invalid)?,
            expires_at: claims.exp,
            token_id: claims.jti,
        })
    }

    fn is_ready(&self) -> bool {
        self.current_keys().is_some()
    }
}

fn rejection(kind: &ErrorKind) -> TokenRejection {
    match kind {
        ErrorKind::InvalidSignature => TokenRejection::BadSignature,
        ErrorKind::ExpiredSignature => TokenRejection::Expired,
        ErrorKind::ImmatureSignature => TokenRejection::NotYetValid,
        ErrorKind::InvalidIssuer => TokenRejection::WrongIssuer,
        ErrorKind::InvalidAudience => TokenRejection::WrongAudience,
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidSubject | ErrorKind::Json(_) => {
            TokenRejection::InvalidClaims
        }
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            TokenRejection::AlgorithmNotAllowed
        }
        _ => TokenRejection::Malformed,
    }
}
