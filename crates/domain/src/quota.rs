//! Slices of a shared limit: the port a replica leases quota through, so most rate-limit
//! decisions are made in its own memory while the limit stays shared.
//!
//! A slice is *charged before it is spent*: taking `g` units charges every window of the
//! policy as if `g` requests had been checked at that moment. Within a window's slot the
//! sliding estimate only falls (the previous slot's weight decays, nothing else moves it but new
//! charges), so units charged now still fit later in the same slot, and requests admitted from
//! a slice never exceed what the exact limiter admits. What a slice can cost is
//! under-admission, units taken and not spent, which is why unspent units are handed back with
//! the next take.

use crate::ratelimit::RateLimiter;
use crate::ratelimit::{RateLimitDecision, RateLimitError, RateLimitKey, RateLimitPolicy};
use async_trait::async_trait;
use std::time::Duration;

/// How many units to grant when `room` units still fit in every window: none if the request's
/// `cost` does not fit, else at most `slice` and at most half the room (so replicas near the
/// limit take ever smaller slices, down to exact per-request decisions), but never less than
/// `cost`. Every adapter grants by this rule (the Redis script mirrors it).
pub fn grant_size(room: u64, cost: u64, slice: u64) -> u64 {
    if cost == 0 || room < cost {
        return 0;
    }
    slice.min(room.div_ceil(2)).clamp(cost, room)
}

/// Unspent units of an earlier grant, handed back: they were charged to the slots named here
/// (one per window, in policy order), and are taken off them where those slots still count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaRefund {
    /// Units not spent.
    pub units: u64,
    /// The slot index each window was charged in.
    pub slots: Vec<u64>,
}

/// What a take gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaGrant {
    /// Units granted and charged; 0 = the request does not fit (nothing was charged).
    pub granted: u64,
    /// For a grant, the decision as if `granted` units had been checked (the windows' remaining
    /// after the charge); for a refusal, the rejection of the request's own cost, with its
    /// `retry_after`.
    pub decision: RateLimitDecision,
    /// The slot index each window was charged in, for a later refund.
    pub slots: Vec<u64>,
    /// How long the granted units may be spent: until the shortest window's slot ends.
    pub valid_for: Duration,
}

/// A limiter that can also hand out charged slices of its windows (the Redis limiter shares
/// them across replicas; the in-process one is the deterministic stand-in for tests).
#[async_trait]
pub trait QuotaSource: RateLimiter {
    /// Hands back `refund` (if any), then takes up to `slice` units for `key` under `policy`,
    /// at least `cost` if `cost` fits, by [`grant_size`]; atomically, in one call.
    async fn take(
        &self,
        key: &RateLimitKey,
        policy: &RateLimitPolicy,
        cost: u64,
        slice: u64,
        refund: Option<&QuotaRefund>,
    ) -> Result<QuotaGrant, RateLimitError>;
}

#[cfg(test)]
mod tests {
    use super::grant_size;

    #[test]
    fn grants_shrink_near_the_limit_and_always_cover_the_cost() {
        assert_eq!(
            grant_size(1000, 1, 50),
            50,
            "far from the limit: a whole slice"
        );
        assert_eq!(
            grant_size(60, 1, 50),
            30,
            "never more than half of what is left"
        );
        assert_eq!(grant_size(3, 1, 50), 2);
        assert_eq!(grant_size(1, 1, 50), 1, "the last unit is exact");
        assert_eq!(grant_size(0, 1, 50), 0, "nothing fits: refused");
        assert_eq!(grant_size(10, 7, 2), 7, "at least the cost");
        assert_eq!(
            grant_size(6, 7, 50),
            0,
            "a cost that does not fit is refused"
        );
        assert_eq!(grant_size(100, 0, 50), 0, "a look takes nothing");
    }
}
