//! Decorators that put a circuit breaker and latency metrics around a shared dependency's port
//! (the Redis limiter and cache), so every adapter degrades and is measured the same way.

use crate::metrics::Metrics;
use async_trait::async_trait;
use portcullis_domain::breaker::{BreakerState, CircuitBreaker};
use portcullis_domain::cache::{Cache, CacheError, CacheKey};
use portcullis_domain::cause::Cause;
use portcullis_domain::quota::{QuotaGrant, QuotaRefund, QuotaSource};
use portcullis_domain::ratelimit::{
    RateLimitDecision, RateLimitError, RateLimitKey, RateLimitPolicy, RateLimiter,
};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Default consecutive failures that open a Redis breaker (`*_REDIS_BREAKER_THRESHOLD`).
pub const DEFAULT_BREAKER_THRESHOLD: u32 = 5;
/// Default time an open Redis breaker fails fast before probing (`*_REDIS_BREAKER_COOLDOWN`).
pub const DEFAULT_BREAKER_COOLDOWN: &str = "2s";

/// When a dependency's breaker opens and how long it stays open: one setting pair per service,
/// shared by every guard of its Redis.
#[derive(Clone, Copy, Debug)]
pub struct BreakerSettings {
    /// Consecutive failures that open the breaker.
    pub threshold: u32,
    /// How long an open breaker fails fast before letting a probe through.
    pub cooldown: Duration,
}

/// A breaker plus the metrics of one dependency.
#[derive(Clone)]
pub struct Guard {
    name: &'static str,
    breaker: Arc<CircuitBreaker>,
    metrics: Arc<Metrics>,
}

impl Guard {
    /// Opens after `threshold` consecutive failures for `cool_down`; `name` labels the metrics
    /// (`portcullis_circuit_breaker_state{dependency}`, `portcullis_redis_call_duration_seconds`).
    pub fn new(
        name: &'static str,
        threshold: u32,
        cool_down: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        let guard = Self {
            name,
            breaker: Arc::new(CircuitBreaker::new(threshold, cool_down)),
            metrics,
        };
        guard.publish_state();
        guard
    }

    /// [`Guard::new`] with a service's breaker settings.
    pub fn with_settings(
        name: &'static str,
        breaker: BreakerSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self::new(name, breaker.threshold, breaker.cooldown, metrics)
    }

    /// The breaker's state, for readiness detail.
    pub fn state(&self) -> BreakerState {
        self.breaker.state()
    }

    fn publish_state(&self) {
        self.metrics
            .breaker_state
            .with_label_values(&[self.name])
            .set(self.breaker.state().as_gauge());
    }

    /// Runs `call` unless the breaker is open; records its latency and outcome.
    async fn call<T, E>(
        &self,
        op: &'static str,
        open_error: E,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        if !self.breaker.allow() {
            self.publish_state();
            return Err(open_error);
        }
        let started = Instant::now();
        let span = tracing::debug_span!(
            "redis",
            otel.kind = "client",
            db.system.name = "redis",
            db.operation.name = op,
            error = tracing::field::Empty,
        );
        let result = call.instrument(span.clone()).await;
        if result.is_err() {
            span.record("error", true);
        }
        self.metrics
            .redis_duration
            .with_label_values(&[op])
            .observe(started.elapsed().as_secs_f64());
        match &result {
            Ok(_) => self.breaker.record_success(),
            Err(_) => self.breaker.record_failure(),
        }
        self.publish_state();
        result
    }
}

/// A [`RateLimiter`] behind a [`Guard`].
pub struct GuardedLimiter<L: ?Sized = dyn RateLimiter> {
    inner: Arc<L>,
    guard: Guard,
}

impl<L: ?Sized> GuardedLimiter<L> {
    /// Guards `inner`.
    pub fn new(inner: Arc<L>, guard: Guard) -> Self {
        Self { inner, guard }
    }
}

fn open_limiter() -> RateLimitError {
    RateLimitError(Cause::new("circuit open: the limiter's backend is failing"))
}

#[async_trait]
impl<L: RateLimiter + ?Sized> RateLimiter for GuardedLimiter<L> {
    async fn check(
        &self,
        key: &RateLimitKey,
        policy: &RateLimitPolicy,
        cost: u64,
    ) -> Result<RateLimitDecision, RateLimitError> {
        self.guard
            .call(
                "ratelimit",
                open_limiter(),
                self.inner.check(key, policy, cost),
            )
            .await
    }

    async fn reset(
        &self,
        key: &RateLimitKey,
        policy: &RateLimitPolicy,
    ) -> Result<(), RateLimitError> {
        self.guard
            .call("ratelimit", open_limiter(), self.inner.reset(key, policy))
            .await
    }
}

/// Takes of quota slices go through the same breaker as single decisions: a lease spent in
/// memory then makes no guarded call at all, so neither the breaker nor the Redis latency
/// histogram counts decisions that never reached Redis.
#[async_trait]
impl<L: QuotaSource + ?Sized> QuotaSource for GuardedLimiter<L> {
    async fn take(
        &self,
        key: &RateLimitKey,
        policy: &RateLimitPolicy,
        cost: u64,
        slice: u64,
        refund: Option<&QuotaRefund>,
    ) -> Result<QuotaGrant, RateLimitError> {
        self.guard
            .call(
                "ratelimit_lease",
                open_limiter(),
                self.inner.take(key, policy, cost, slice, refund),
            )
            .await
    }
}

/// A [`Cache`] behind a [`Guard`].
pub struct GuardedCache {
    inner: Arc<dyn Cache>,
    guard: Guard,
}

impl GuardedCache {
    /// Guards `inner`.
    pub fn new(inner: Arc<dyn Cache>, guard: Guard) -> Self {
        Self { inner, guard }
    }
}

fn open_cache() -> CacheError {
    CacheError(Cause::new("circuit open: the cache backend is failing"))
}

#[async_trait]
impl Cache for GuardedCache {
    async fn get(&self, key: &CacheKey) -> Result<Option<Arc<[u8]>>, CacheError> {
        self.guard
            .call("cache_get", open_cache(), self.inner.get(key))
            .await
    }

    async fn get_expiring(
        &self,
        key: &CacheKey,
    ) -> Result<Option<(Arc<[u8]>, Duration)>, CacheError> {
        self.guard
            .call("cache_get", open_cache(), self.inner.get_expiring(key))
            .await
    }

    async fn put(
        &self,
        key: &CacheKey,
        version: u64,
        value: Arc<[u8]>,
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        self.guard
            .call(
                "cache_put",
                open_cache(),
                self.inner.put(key, version, value, ttl),
            )
            .await
    }

    async fn lease(&self, key: &CacheKey, ttl: Duration) -> Result<bool, CacheError> {
        self.guard
            .call("cache_lease", open_cache(), self.inner.lease(key, ttl))
            .await
    }

    async fn await_fill(
        &self,
        key: &CacheKey,
        timeout: Duration,
    ) -> Result<Option<Arc<[u8]>>, CacheError> {
        self.guard
            .call(
                "cache_await_fill",
                open_cache(),
                self.inner.await_fill(key, timeout),
            )
            .await
    }

    /// Not guarded: waiting for other replicas' memory tiers is owed whether or not the backend
    /// answers (a failed write-through leaves old values there too).
    async fn settle(&self) {
        self.inner.settle().await;
    }
}
