//! The shared adapters on Redis: the per-subject limiter (leasing slices of the limit, so most
//! decisions are local) and the item cache (with a memory tier kept coherent by Redis, so hot
//! items cost no round trip), each behind its circuit breaker.

use crate::config::Settings;
use portcullis_cache::{start_tier, RedisCache, TierResult};
use portcullis_domain::cache::Cache;
use portcullis_domain::ratelimit::RateLimiter;
use portcullis_http::metrics::Metrics;
use portcullis_http::resilience::{Guard, GuardedCache, GuardedLimiter};
use portcullis_ratelimit::{LeasingLimiter, RedisRateLimiter};
use portcullis_redis::{RedisConnection, RedisSettings};
use std::sync::Arc;

/// Prefix of the shared cache's keys in Redis.
pub const CACHE_PREFIX: &str = "portcullis:data:cache:";
/// The channel every replica announces cache stores on, for the memory tiers (a `portcullis:`
/// name, so an ACL user confined to `&portcullis:*` may use it).
pub const CACHE_INVALIDATIONS: &str = "portcullis:data:cache:invalidations";

/// What [`on_redis`] wires: the two adapters and the memory tier's background tasks.
pub(crate) struct SharedAdapters {
    pub limiter: Arc<dyn RateLimiter>,
    pub cache: Arc<dyn Cache>,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The limiter and the cache on `connection`. The breakers guard the Redis calls only: a
/// lease spent locally and a memory-tier hit make none, so they never wait on a breaker, and
/// the tier reads through the guarded cache.
pub(crate) fn on_redis(
    config: &Settings,
    redis: &RedisSettings,
    connection: RedisConnection,
    (limiter_guard, cache_guard): (Guard, Guard),
    metrics: &Metrics,
) -> SharedAdapters {
    let timeout = redis.call_timeout;
    let exact = Arc::new(GuardedLimiter::new(
        Arc::new(RedisRateLimiter::new(
            connection.clone(),
            "portcullis:data:rl:",
            timeout,
        )),
        limiter_guard,
    ));
    let limiter: Arc<dyn RateLimiter> = if config.rate_limit_lease > 0.0 {
        Arc::new(LeasingLimiter::new(exact, config.rate_limit_lease))
    } else {
        exact
    };
    // Stores are always announced, so a replica with the memory tier on stays coherent whatever
    // its neighbours run.
    let shared = RedisCache::new(connection.clone(), CACHE_PREFIX, timeout)
        .with_invalidations(CACHE_INVALIDATIONS);
    let shared: Arc<dyn Cache> = Arc::new(GuardedCache::new(Arc::new(shared), cache_guard));
    let Some(tier) = config.cache_tier else {
        return SharedAdapters {
            limiter,
            cache: shared,
            tasks: Vec::new(),
        };
    };
    let (tiered, tasks) = start_tier(shared, tier, redis.clone(), connection, CACHE_INVALIDATIONS);
    let counter = metrics.cache_tier_requests.clone();
    let observed = tiered.with_observer(Arc::new(move |result: TierResult| {
        counter.with_label_values(&[result.as_str()]).inc();
    }));
    SharedAdapters {
        limiter,
        cache: Arc::new(observed),
        tasks,
    }
}
