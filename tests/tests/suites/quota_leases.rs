//! Quota leases across replicas on a real Redis: the shared limit holds within its stated bound
//! (never over the policy), slices cost far fewer round trips than requests, and the lease
//! script grants exactly what the domain's rule says. Needs Docker and the Redis image; without
//! them these tests fail, they never skip.

use portcullis_domain::quota::{grant_size, QuotaSource};
use portcullis_domain::ratelimit::{RateLimitKey, RateLimitPolicy, RateLimiter};
use portcullis_ratelimit::{LeasingLimiter, RedisRateLimiter, DEFAULT_LEASE_FRACTION};
use portcullis_redis::connect as connect_redis;
use portcullis_tests::{command_calls, start_redis};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn evalsha_calls(url: &str) -> u64 {
    command_calls(url)
        .await
        .get("evalsha")
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn leasing_on_redis_passes_the_rate_limiter_contract() {
    let redis = start_redis().await;
    for fraction in [DEFAULT_LEASE_FRACTION, 0.5] {
        let connection = connect_redis(&redis.url, Duration::from_secs(5))
            .await
            .unwrap();
        let source = RedisRateLimiter::new(connection, "lease:rl:", Duration::from_secs(2));
        let leasing = LeasingLimiter::new(Arc::new(source), fraction);
        portcullis_domain::testkit::rate_limiter::run(Arc::new(leasing)).await;
    }
}

#[tokio::test]
async fn the_lease_script_grants_what_the_domain_rule_says() {
    let redis = start_redis().await;
    let mut admin = connect_redis(&redis.url, Duration::from_secs(5))
        .await
        .unwrap();
    let connection = connect_redis(&redis.url, Duration::from_secs(5))
        .await
        .unwrap();
    let source = RedisRateLimiter::new(connection, "grid:", Duration::from_secs(2));
    let policy = RateLimitPolicy::parse("100/s,1000/min").unwrap();
    let mut checked = 0;
    for previous in [0u64, 30, 100] {
        for current in [0u64, 1, 50, 99, 100] {
            for (cost, slice) in [(1u64, 5u64), (1, 80), (7, 2), (0, 5)] {
                let key =
                    RateLimitKey::new("sub", &format!("grid-{previous}-{current}-{cost}-{slice}"));
                let (seconds, _): (u64, u64) =
                    redis::cmd("TIME").query_async(&mut admin).await.unwrap();
                // The burst window's state now: this second's slot with the given counts.
                let _: () = redis::cmd("HSET")
                    .arg(format!("grid:{{{}}}:1", key.as_str()))
                    .arg("slot")
                    .arg(seconds)
                    .arg("cur")
                    .arg(current)
                    .arg("prev")
                    .arg(previous)
                    .query_async(&mut admin)
                    .await
                    .unwrap();
                let grant = source.take(&key, &policy, cost, slice, None).await.unwrap();
                // The room before the charge: a grant's decision reports what is left after it.
                let room = grant
                    .decision
                    .windows
                    .iter()
                    .map(|w| {
                        if grant.granted > 0 {
                            w.remaining + grant.granted
                        } else {
                            w.remaining
                        }
                    })
                    .min()
                    .unwrap();
                assert_eq!(
                    grant.granted,
                    grant_size(room, cost, slice),
                    "prev {previous}, cur {current}, cost {cost}, slice {slice}: room {room}"
                );
                assert_eq!(grant.decision.allowed, grant.granted > 0);
                checked += 1;
            }
        }
    }
    println!("{checked} states: the script's grant equals grant_size");
}

/// `replicas` leasing limiters, each on its own connection, hammered from 16 tasks each for
/// `seconds`; returns what they admitted in all.
async fn hammer(url: &str, replicas: usize, policy: &RateLimitPolicy, seconds: u64) -> u64 {
    let key = RateLimitKey::new("sub", &format!("hammered-by-{replicas}"));
    let admitted = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..replicas {
        let connection = connect_redis(url, Duration::from_secs(5)).await.unwrap();
        let source = RedisRateLimiter::new(connection, "hammer:rl:", Duration::from_secs(2));
        let limiter = Arc::new(LeasingLimiter::new(
            Arc::new(source),
            DEFAULT_LEASE_FRACTION,
        ));
        for _ in 0..16 {
            let (limiter, key, policy, admitted) = (
                limiter.clone(),
                key.clone(),
                policy.clone(),
                admitted.clone(),
            );
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    if limiter.check(&key, &policy, 1).await.unwrap().allowed {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    } else {
                        tokio::task::yield_now().await;
                    }
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    admitted.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_hammering_one_limit_on_redis_never_exceed_it() {
    let redis = start_redis().await;
    let policy = RateLimitPolicy::parse("200/s,100000/min").unwrap();
    let seconds = 3;
    for replicas in [2, 4] {
        let admitted = hammer(&redis.url, replicas, &policy, seconds).await;
        // The burst window admits at most its limit per one-second slot; a run of `seconds`
        // touches at most seconds + 1 of them.
        let ceiling = 200 * (seconds + 1);
        println!(
            "{replicas} replicas, {seconds} s at 200/s: {admitted} admitted (ceiling {ceiling})"
        );
        assert!(admitted <= ceiling, "{admitted} admitted over {ceiling}");
        assert!(
            admitted >= 200 * seconds / 2,
            "{admitted} admitted: leases must not strand most of the limit"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_limit_replicas_decide_almost_every_request_in_memory() {
    let redis = start_redis().await;
    let policy = RateLimitPolicy::parse("1000000/s,60000000/min").unwrap();
    for replicas in [2, 4] {
        let before = evalsha_calls(&redis.url).await;
        let admitted = hammer(&redis.url, replicas, &policy, 2).await;
        let calls = evalsha_calls(&redis.url).await - before;
        println!(
            "{replicas} replicas under the limit: {admitted} admitted, {calls} EVALSHA = {:.4} \
             per request",
            calls as f64 / admitted as f64
        );
        assert!(
            calls * 100 < admitted,
            "{calls} round trips for {admitted} requests: leases should need far fewer"
        );
    }
}
