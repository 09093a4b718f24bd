//! Adapters of the rate-limit port: [`RedisRateLimiter`] shares limits across replicas in one
//! atomic round trip; [`LocalRateLimiter`] keeps them in process (the embedded default, and the
//! fallback when Redis is unreachable). Both apply the domain's sliding-window arithmetic.

mod fallback;
mod local;
mod redis_limiter;

pub use fallback::FallbackLimiter;
pub use local::LocalRateLimiter;
pub use redis_limiter::{RedisRateLimiter, LIMITER_SCRIPT};
