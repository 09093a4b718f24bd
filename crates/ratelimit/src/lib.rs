//! Adapters of the rate-limit port: [`RedisRateLimiter`] shares limits across replicas in one
//! atomic round trip; [`LocalRateLimiter`] keeps them in process (the embedded default, and the
//! fallback when Redis is unreachable). Both apply the domain's sliding-window arithmetic, and
//! both hand out charged slices of a limit, which [`LeasingLimiter`] spends in memory.

mod fallback;
mod leased;
mod local;
mod redis_limiter;

pub use fallback::FallbackLimiter;
pub use leased::{LeasingLimiter, DEFAULT_LEASE_FRACTION};
pub use local::LocalRateLimiter;
pub use redis_limiter::{RedisRateLimiter, LEASE_SCRIPT, LIMITER_SCRIPT};
