//! A shared limiter with an in-process stand-in, for limits that must never switch off.

use async_trait::async_trait;
use portcullis_domain::cause::Chain;
use portcullis_domain::ratelimit::{
    RateLimitDecision, RateLimitError, RateLimitKey, RateLimitPolicy, RateLimiter,
};
use std::sync::Arc;

/// Decides on the shared limiter (Redis, behind its circuit breaker) and, when that cannot
/// decide, on an in-process one under the same policy: brute-force limits hold through a Redis
/// outage, each replica enforcing them alone. Resets go to both, so a success also clears what
/// the stand-in counted during an outage.
///
/// The data API's per-subject limit does not use this: it degrades by a configured mode (open,
/// closed, or a per-replica *share* of the policy) and counts each degraded decision, which its
/// rate-limit layer does itself.
pub struct FallbackLimiter {
    shared: Arc<dyn RateLimiter>,
    local: Arc<dyn RateLimiter>,
}

impl FallbackLimiter {
    /// `shared` decides while it can; `local` stands in when it cannot.
    pub fn new(shared: Arc<dyn RateLimiter>, local: Arc<dyn RateLimiter>) -> Self {
        Self { shared, local }
    }
}

#[async_trait]
impl RateLimiter for FallbackLimiter {
    async fn check(
        &self,
        key: &RateLimitKey,
        policy: &RateLimitPolicy,
        cost: u64,
    ) -> Result<RateLimitDecision, RateLimitError> {
        match self.shared.check(key, policy, cost).await {
            Ok(decision) => Ok(decision),
            Err(error) => {
                tracing::warn!(error = %Chain(&error), "shared limiter unavailable; deciding in process");
                self.local.check(key, policy, cost).await
            }
        }
    }

    async fn reset(
        &self,
        key: &RateLimitKey,
        policy: &RateLimitPolicy,
    ) -> Result<(), RateLimitError> {
        let shared = self.shared.reset(key, policy).await;
        self.local.reset(key, policy).await?;
        shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalRateLimiter;
    use portcullis_domain::cause::Cause;

    struct Down;

    #[async_trait]
    impl RateLimiter for Down {
        async fn check(
            &self,
            _: &RateLimitKey,
            _: &RateLimitPolicy,
            _: u64,
        ) -> Result<RateLimitDecision, RateLimitError> {
            Err(RateLimitError(Cause::new("redis is down")))
        }

        async fn reset(&self, _: &RateLimitKey, _: &RateLimitPolicy) -> Result<(), RateLimitError> {
            Err(RateLimitError(Cause::new("redis is down")))
        }
    }

    #[tokio::test]
    async fn the_limit_holds_in_process_while_the_shared_limiter_is_down() {
        let local: Arc<dyn RateLimiter> = Arc::new(LocalRateLimiter::default());
        let limiter = FallbackLimiter::new(Arc::new(Down), local.clone());
        let (key, policy) = (
            RateLimitKey::new("t", "k"),
            RateLimitPolicy::parse("2/min").unwrap(),
        );
        assert!(limiter.check(&key, &policy, 1).await.unwrap().allowed);
        assert!(limiter.check(&key, &policy, 1).await.unwrap().allowed);
        assert!(
            !limiter.check(&key, &policy, 1).await.unwrap().allowed,
            "never switched off"
        );
        assert!(
            limiter.reset(&key, &policy).await.is_err(),
            "the shared failure is reported"
        );
        assert!(
            local.check(&key, &policy, 1).await.unwrap().allowed,
            "and the stand-in's counts are cleared all the same"
        );
    }
}
