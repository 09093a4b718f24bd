//! The resource server's [`TokenVerifier`]: keys from the issuer's JWKS (found through RFC 8414
//! discovery), strict RFC 9068 / RFC 8725 validation, and a cache of verified tokens.
//!
//! The key set is loaded in the background and refreshed before its `Cache-Control: max-age`
//! runs out (within configured bounds). A token with an unknown `kid` is refused at once and
//! triggers at most one background refetch per cool-down, so a flood of random `kid`s can
//! neither become a flood of requests to the issuer nor hold requests waiting on a slow one. When the issuer is unreachable the last good set
//! keeps serving, up to a maximum staleness.

mod claims;
mod config;
mod fetch;
mod rejection;
mod token_cache;

pub use config::{defaults, CaBundle, CaBundleError, VerifierConfig};
pub use fetch::FetchError;

use crate::jwks::JwkSet;
use async_trait::async_trait;
use claims::Claims;
use fetch::{KeysByKid, VerifyingKey};
use jsonwebtoken::Validation;
use portcullis_domain::cause::Chain;
use portcullis_domain::clock::{Clock, SystemClock};
use portcullis_domain::identity::{ClientId, Subject};
use portcullis_domain::scope::ScopeSet;
use portcullis_domain::signing::SigningAlgorithm;
use portcullis_domain::token::{TokenRejection, TokenVerifier, VerifiedToken};
use rejection::{header_rejection, raw_header, rejection};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use token_cache::TokenCache;
use tracing::Instrument;

struct LoadedKeys {
    by_kid: KeysByKid,
    fetched_at: Instant,
    /// When the next scheduled refresh is due, after `fetched_at`.
    refresh_after: Duration,
    /// Set by the caller rather than fetched: never stale, never refetched.
    fixed: bool,
}

struct Inner {
    config: VerifierConfig,
    /// One validation per algorithm: a token is checked only against its key's.
    validations: HashMap<SigningAlgorithm, Validation>,
    http: reqwest::Client,
    keys: RwLock<Option<Arc<LoadedKeys>>>,
    /// Serialises fetches and remembers when the last one was attempted (single flight).
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    /// Set while a refetch for an unknown `kid` is scheduled or running.
    refetch_pending: AtomicBool,
    cache: Option<TokenCache>,
    clock: Arc<dyn Clock>,
}

/// Marks a background refetch as pending, and clears the mark however the refetch ends (a
/// panic included), so a later unknown `kid` can start another.
struct PendingRefetch(Arc<Inner>);

impl Drop for PendingRefetch {
    fn drop(&mut self) {
        self.0.refetch_pending.store(false, Ordering::Release);
    }
}

/// The JWKS-backed verifier. Cheap to clone.
#[derive(Clone)]
pub struct JwksVerifier {
    inner: Arc<Inner>,
}

impl JwksVerifier {
    /// A verifier with no keys yet; call [`JwksVerifier::start`] to load them.
    pub fn new(mut config: VerifierConfig) -> Result<Self, FetchError> {
        config.leeway = config.leeway.min(Duration::from_secs(60));
        config.issuer = config.issuer.trim_end_matches('/').to_string();
        let validations = SigningAlgorithm::ALL
            .into_iter()
            .map(|alg| {
                let mut validation = Validation::new(crate::jose_algorithm(alg));
                validation.leeway = config.leeway.as_secs();
                validation.validate_nbf = true;
                validation.set_issuer(&[&config.issuer]);
                validation.set_audience(&config.audiences);
                validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
                (alg, validation)
            })
            .collect();
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http_error = |source| FetchError::Http {
            url: config.issuer.clone(),
            source,
        };
        let mut http = reqwest::Client::builder()
            .timeout(config.fetch_timeout)
            .connect_timeout(config.fetch_timeout)
            .redirect(reqwest::redirect::Policy::none());
        for ca in config.issuer_ca.iter().flat_map(|bundle| &bundle.0) {
            http =
                http.add_root_certificate(reqwest::Certificate::from_der(ca).map_err(http_error)?);
        }
        let http = http.build().map_err(http_error)?;
        Ok(Self {
            inner: Arc::new(Inner {
                cache: (config.token_cache_capacity > 0)
                    .then(|| TokenCache::new(config.token_cache_capacity)),
                config,
                validations,
                http,
                keys: RwLock::new(None),
                last_fetch: tokio::sync::Mutex::new(None),
                refetch_pending: AtomicBool::new(false),
                clock: Arc::new(SystemClock),
            }),
        })
    }

    /// A verifier on a fixed key set that never contacts an issuer: for benchmarks, fuzzing and
    /// tests of the validation rules alone.
    pub fn with_static_keys(config: VerifierConfig, keys: &JwkSet) -> Result<Self, FetchError> {
        let verifier = Self::new(config)?;
        verifier.set_keys(keys);
        Ok(verifier)
    }

    /// Replaces the key set with `keys`, as if fetched now. For a verifier that gets its keys from
    /// somewhere other than the network (the issuer verifying its own tokens).
    pub fn set_keys(&self, keys: &JwkSet) {
        self.store(fetch::usable_keys(keys), None, true);
    }

    /// Loads the key set in the background: retries with a growing pause (1 s to 30 s) until
    /// the first success, then refreshes before each set's `max-age` runs out. The task ends
    /// when the verifier is dropped.
    pub fn start(&self) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut backoff = Duration::from_secs(1);
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let verifier = JwksVerifier { inner };
                let wait = match verifier.refresh().await {
                    Ok(()) => {
                        backoff = Duration::from_secs(1);
                        verifier.current_refresh_after()
                    }
                    Err(_) => {
                        let wait = backoff;
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                        wait
                    }
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

    fn current_refresh_after(&self) -> Duration {
        self.inner
            .keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(self.inner.config.min_refresh_interval, |k| k.refresh_after)
    }

    fn store(&self, by_kid: KeysByKid, max_age: Option<Duration>, fixed: bool) {
        let config = &self.inner.config;
        // Refresh at 80% of the issuer's max-age, within the configured bounds.
        let refresh_after = max_age
            .map_or(config.refresh_interval, |age| age.mul_f64(0.8))
            .clamp(
                config.min_refresh_interval,
                config.refresh_interval.max(config.min_refresh_interval),
            );
        let keys = LoadedKeys {
            by_kid,
            fetched_at: Instant::now(),
            refresh_after,
            fixed,
        };
        *self.inner.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(keys));
    }

    async fn fetch_and_store(&self) -> Result<(), FetchError> {
        match fetch::fetch_keys(&self.inner.http, &self.inner.config.issuer).await {
            Ok((keys, max_age)) => {
                tracing::debug!(keys = keys.len(), "issuer key set loaded");
                self.store(keys, max_age, false);
                Ok(())
            }
            Err(error) => {
                tracing::warn!(error = %Chain(&error), "fetching the issuer key set failed");
                Err(error)
            }
        }
    }

    fn current_keys(&self) -> Option<Arc<LoadedKeys>> {
        let keys = self
            .inner
            .keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        (keys.fixed || keys.fetched_at.elapsed() <= self.inner.config.max_staleness).then_some(keys)
    }

    /// Schedules a refetch for an unknown `kid` in the background, unless one is already
    /// scheduled or a fetch happened within the cool-down. Nobody waits for it: the request
    /// that noticed is answered at once, and later ones find the new key if there is one. The
    /// fetch runs inside the noticing request's span, so it joins that request's trace.
    fn refetch_for_unknown_kid(&self) {
        if self.current_keys().is_some_and(|keys| keys.fixed)
            || self.inner.refetch_pending.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let pending = PendingRefetch(self.inner.clone());
        let cooldown = self.inner.config.unknown_kid_cooldown;
        let cooling = move |last: &Option<Instant>| last.is_some_and(|at| at.elapsed() < cooldown);
        // Most unknown kids arrive during the cool-down or a fetch: no task for those.
        match self.inner.last_fetch.try_lock() {
            Ok(last) if !cooling(&last) => {}
            _ => return,
        }
        let verifier = self.clone();
        let refetch = async move {
            let _pending = pending;
            let mut last = verifier.inner.last_fetch.lock().await;
            if !cooling(&last) {
                *last = Some(Instant::now());
                let _ = verifier.fetch_and_store().await;
            }
        };
        tokio::spawn(refetch.in_current_span());
    }

    async fn key_for(&self, kid: &str) -> Result<(Arc<str>, VerifyingKey), TokenRejection> {
        let lookup = |keys: &LoadedKeys| {
            keys.by_kid
                .get_key_value(kid)
                .map(|(kid, key)| (kid.clone(), key.clone()))
        };
        let keys = self.current_keys();
        if let Some(found) = keys.as_deref().and_then(lookup) {
            return Ok(found);
        }
        self.refetch_for_unknown_kid();
        match keys {
            Some(_) => Err(TokenRejection::UnknownKey),
            None => Err(TokenRejection::KeysUnavailable),
        }
    }

    /// Full verification, without the cache.
    async fn verify_uncached(
        &self,
        token: &str,
    ) -> Result<(Arc<VerifiedToken>, Arc<str>), TokenRejection> {
        // RFC 7515 §4.1.11: extensions marked critical must be understood; none are.
        if raw_header(token).is_some_and(|h| h.get("crit").is_some()) {
            return Err(TokenRejection::CriticalHeader);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| header_rejection(token))?;
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(crate::ACCESS_TOKEN_TYPE)
                || t.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(TokenRejection::WrongType);
        }
        // `jku`, `x5u`, `jwk` and `x5c` are never looked at: keys come from the issuer only, and
        // the `kid` is nothing but a map key.
        if !SigningAlgorithm::ALL
            .into_iter()
            .any(|alg| crate::jose_algorithm(alg) == header.alg)
        {
            return Err(TokenRejection::AlgorithmNotAllowed);
        }
        let kid = header.kid.as_deref().ok_or(TokenRejection::UnknownKey)?;
        let (kid, key) = self.key_for(kid).await?;
        // The key's algorithm, never the header's, decides: a header naming another algorithm
        // is refused before any signature check.
        if header.alg != crate::jose_algorithm(key.alg) {
            return Err(TokenRejection::AlgorithmNotAllowed);
        }
        let validation = &self.inner.validations[&key.alg];
        let data = jsonwebtoken::decode::<Claims>(token, &key.key, validation)
            .map_err(|e| rejection(e.kind()))?;
        let claims = data.claims;
        // jsonwebtoken checks `exp` and `nbf` but not an `iat` in the future.
        let now = self.inner.clock.unix_seconds();
        if claims.iat > now + self.inner.config.leeway.as_secs() {
            return Err(TokenRejection::NotYetValid);
        }
        let invalid = |_| TokenRejection::InvalidClaims;
        if claims.jti.is_empty() {
            return Err(TokenRejection::InvalidClaims);
        }
        let verified = Arc::new(VerifiedToken {
            subject: Subject::new(claims.sub).map_err(invalid)?,
            client_id: ClientId::new(claims.client_id).map_err(invalid)?,
            scope: ScopeSet::parse(&claims.scope).map_err(invalid)?,
            expires_at: claims.exp,
            token_id: claims.jti,
            audience: claims.aud.into(),
            session_id: claims.sid,
            confirmation: claims.cnf.map(|cnf| cnf.jkt),
        });
        Ok((verified, kid))
    }
}

#[async_trait]
impl TokenVerifier for JwksVerifier {
    async fn verify(&self, token: &str) -> Result<Arc<VerifiedToken>, TokenRejection> {
        let config = &self.inner.config;
        if token.len() > config.max_token_bytes {
            return Err(TokenRejection::TooLarge);
        }
        let now = self.inner.clock.unix_seconds();
        let cache_key = self.inner.cache.as_ref().map(|_| TokenCache::key(token));
        if let (Some(cache), Some(key)) = (&self.inner.cache, &cache_key) {
            if let Some(entry) = cache.get(key, now) {
                let key_still_published = self
                    .current_keys()
                    .is_some_and(|keys| keys.by_kid.contains_key(&entry.kid));
                if key_still_published {
                    return Ok(entry.token);
                }
                cache.remove(key);
            }
        }
        let (verified, kid) = self.verify_uncached(token).await?;
        if let (Some(cache), Some(key)) = (&self.inner.cache, cache_key) {
            cache.insert(
                key,
                token_cache::Entry {
                    token: verified.clone(),
                    kid,
                },
            );
        }
        Ok(verified)
    }

    fn is_ready(&self) -> bool {
        self.current_keys().is_some()
    }

    fn key_set_age(&self) -> Option<Duration> {
        let keys = self.inner.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.as_ref()
            .filter(|keys| !keys.fixed)
            .map(|keys| keys.fetched_at.elapsed())
    }
}
