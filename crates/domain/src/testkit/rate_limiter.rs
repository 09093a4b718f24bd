//! The contract of [`RateLimiter`]. Uses windows of a minute or more so the suite holds on any
//! adapter whose clock cannot be controlled (Redis uses its own `TIME`).

use super::unique;
use crate::ratelimit::{RateLimitKey, RateLimitPolicy, RateLimiter};
use std::sync::Arc;
use std::time::Duration;

/// Runs every rule against `limiter`.
pub async fn run(limiter: Arc<dyn RateLimiter>) {
    allows_up_to_the_limit_then_rejects(&*limiter).await;
    keys_are_independent(&*limiter).await;
    a_rejection_charges_no_window(&*limiter).await;
    cost_is_charged(&*limiter).await;
    looking_charges_nothing_and_reset_forgets(&*limiter).await;
    concurrent_checks_never_exceed_the_limit(limiter).await;
}

fn policy(spec: &str) -> RateLimitPolicy {
    RateLimitPolicy::parse(spec).expect("valid policy")
}

async fn allows_up_to_the_limit_then_rejects(limiter: &dyn RateLimiter) {
    let key = RateLimitKey::new("sub", &unique("limit"));
    let p = policy("5/min");
    for i in 0..5u64 {
        let d = limiter.check(&key, &p, 1).await.expect("limiter answers");
        assert!(d.allowed, "request {i} must be allowed");
        assert_eq!(d.windows[0].remaining, 4 - i, "remaining after request {i}");
        assert_eq!(d.windows[0].limit, 5);
        assert!(d.windows[0].reset <= Duration::from_secs(60));
        assert_eq!(d.retry_after, None);
    }
    let d = limiter.check(&key, &p, 1).await.expect("limiter answers");
    assert!(!d.allowed, "the sixth request must be rejected");
    assert_eq!(d.windows[0].remaining, 0);
    let wait = d.retry_after.expect("a rejection says when to retry");
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(120),
        "{wait:?}"
    );
}

async fn keys_are_independent(limiter: &dyn RateLimiter) {
    let p = policy("1/min");
    let a = RateLimitKey::new("sub", &unique("a"));
    let b = RateLimitKey::new("sub", &unique("b"));
    assert!(limiter.check(&a, &p, 1).await.expect("answers").allowed);
    assert!(!limiter.check(&a, &p, 1).await.expect("answers").allowed);
    assert!(
        limiter.check(&b, &p, 1).await.expect("answers").allowed,
        "b is not a's"
    );
}

async fn a_rejection_charges_no_window(limiter: &dyn RateLimiter) {
    let key = RateLimitKey::new("sub", &unique("atomic"));
    // The burst window rejects the third request; the sustained window must not be charged.
    let p = policy("2/min,4/hour");
    assert!(limiter.check(&key, &p, 1).await.expect("answers").allowed);
    assert!(limiter.check(&key, &p, 1).await.expect("answers").allowed);
    for _ in 0..3 {
        let d = limiter.check(&key, &p, 1).await.expect("answers");
        assert!(!d.allowed);
        assert_eq!(
            d.windows[1].remaining, 2,
            "rejections must not charge the hour window"
        );
    }
    // A policy of the hour window alone, sharing its counter, still has two left.
    let hour = policy("4/hour");
    let d = limiter.check(&key, &hour, 1).await.expect("answers");
    assert!(d.allowed);
    assert_eq!(d.windows[0].remaining, 1);
}

async fn cost_is_charged(limiter: &dyn RateLimiter) {
    let key = RateLimitKey::new("sub", &unique("cost"));
    let p = policy("10/min");
    let d = limiter.check(&key, &p, 7).await.expect("answers");
    assert!(d.allowed);
    assert_eq!(d.windows[0].remaining, 3);
    let d = limiter.check(&key, &p, 4).await.expect("answers");
    assert!(!d.allowed, "7 + 4 exceeds 10");
    let d = limiter.check(&key, &p, 3).await.expect("answers");
    assert!(d.allowed, "7 + 3 fits exactly");
    assert_eq!(d.windows[0].remaining, 0);
    let d = limiter
        .check(&key, &policy("5/min"), 6)
        .await
        .expect("answers");
    assert!(!d.allowed, "a cost above the limit never fits");
}

async fn concurrent_checks_never_exceed_the_limit(limiter: Arc<dyn RateLimiter>) {
    let key = RateLimitKey::new("sub", &unique("race"));
    let p = policy("25/min");
    let checks = (0..100).map(|_| {
        let (limiter, key, p) = (limiter.clone(), key.clone(), p.clone());
        async move { limiter.check(&key, &p, 1).await.expect("answers").allowed }
    });
    let allowed = futures::future::join_all(checks)
        .await
        .into_iter()
        .filter(|a| *a)
        .count();
    assert_eq!(
        allowed, 25,
        "exactly the limit is allowed under concurrency"
    );
}

async fn looking_charges_nothing_and_reset_forgets(limiter: &dyn RateLimiter) {
    let key = RateLimitKey::new("login", &unique("look"));
    let p = policy("3/min,10/h");
    for _ in 0..5 {
        let d = limiter.check(&key, &p, 0).await.expect("limiter answers");
        assert!(d.allowed && d.has_room(), "a look charges nothing: {d:?}");
        assert_eq!(d.windows[0].remaining, 3);
    }
    for _ in 0..3 {
        assert!(limiter.check(&key, &p, 1).await.expect("answers").allowed);
    }
    let full = limiter.check(&key, &p, 0).await.expect("answers");
    assert!(!full.has_room(), "a look sees the full window: {full:?}");
    assert!(!limiter.check(&key, &p, 1).await.expect("answers").allowed);
    limiter.reset(&key, &p).await.expect("reset");
    let d = limiter.check(&key, &p, 1).await.expect("answers");
    assert!(d.allowed, "reset forgets every window");
    assert_eq!(d.windows[0].remaining, 2);
    assert_eq!(d.windows[1].remaining, 9);
    limiter
        .reset(&RateLimitKey::new("login", &unique("never")), &p)
        .await
        .expect("resetting an unused key is fine");
}
