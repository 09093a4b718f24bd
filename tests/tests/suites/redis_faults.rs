//! The limiter across replicas and under Redis faults, with a real Redis in a container: exact
//! shared limits, a steady rate under the limit never rejected, and each configured degradation
//! mode followed while Redis hangs or is gone, with recovery after it returns.

use data_api::Args;
use portcullis_domain::ratelimit::{RateLimitKey, RateLimitPolicy, RateLimiter};
use portcullis_http::ratelimit::FailureMode;
use portcullis_ratelimit::RedisRateLimiter;
use portcullis_redis::connect as connect_redis;
use portcullis_tests::{start_redis, start_redis_on_fixed_port, Stack, StackOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test]
async fn limiter_instances_on_one_redis_never_exceed_the_limit_together() {
    let redis = start_redis().await;
    let mut limiters = Vec::new();
    for _ in 0..4 {
        let connection = connect_redis(&redis.url, Duration::from_secs(5))
            .await
            .unwrap();
        limiters.push(Arc::new(RedisRateLimiter::new(
            connection,
            "rl:",
            Duration::from_secs(2),
        )));
    }
    let policy = RateLimitPolicy::parse("50/min,1000/h").unwrap();
    let key = RateLimitKey::new("sub", "burst");
    let checks = (0..200).map(|i| {
        let (limiter, policy, key) = (limiters[i % 4].clone(), policy.clone(), key.clone());
        tokio::spawn(async move { limiter.check(&key, &policy, 1).await.unwrap().allowed })
    });
    let mut allowed = 0;
    for check in checks {
        allowed += usize::from(check.await.unwrap());
    }
    assert_eq!(allowed, 50, "four replicas share one limit exactly");
}

#[tokio::test]
async fn a_steady_rate_under_the_limit_is_never_rejected_on_redis() {
    let redis = start_redis().await;
    let connection = connect_redis(&redis.url, Duration::from_secs(5))
        .await
        .unwrap();
    let limiter = RedisRateLimiter::new(connection, "rl:", Duration::from_secs(2));
    let policy = RateLimitPolicy::parse("10/s").unwrap();
    let key = RateLimitKey::new("sub", "steady");
    let mut ticker = tokio::time::interval(Duration::from_millis(125));
    for i in 0..24 {
        ticker.tick().await;
        assert!(
            limiter.check(&key, &policy, 1).await.unwrap().allowed,
            "request {i} (8/s under 10/s)"
        );
    }
}

fn with_mode(redis_url: &str, mode: FailureMode) -> StackOptions {
    StackOptions {
        redis_url: Some(redis_url.to_string()),
        data_api: Some(Arc::new(move |config: &mut Args| {
            config.rate_limit_failure = mode;
            config.redis_breaker_cooldown = Duration::from_millis(500);
        })),
        ..Default::default()
    }
}

/// Sends `n` reads, asserting none hangs; returns the statuses and the slowest answer.
async fn reads(stack: &Stack, token: &str, n: usize) -> (Vec<u16>, Duration) {
    let mut statuses = Vec::new();
    let mut slowest = Duration::ZERO;
    for _ in 0..n {
        let started = Instant::now();
        let response = tokio::time::timeout(
            Duration::from_secs(5),
            stack
                .http
                .get(stack.item_url("kept"))
                .bearer_auth(token)
                .send(),
        )
        .await
        .expect("no request may hang on a broken Redis")
        .unwrap();
        slowest = slowest.max(started.elapsed());
        statuses.push(response.status().as_u16());
    }
    (statuses, slowest)
}

async fn decisions(stack: &Stack, decision: &str) -> u64 {
    let series = format!("portcullis_ratelimit_decisions_total{{decision=\"{decision}\"}}");
    stack.metric(&stack.data_api, &series).await
}

#[tokio::test]
async fn a_hanging_redis_degrades_to_local_limits_and_recovers() {
    let redis = start_redis().await;
    let stack = Stack::start_with(with_mode(&redis.url, FailureMode::Local)).await;
    let (token, _) = stack.login("alice").await;
    let put = stack
        .put_item(
            &token,
            "kept",
            &serde_json::json!({"data": "written before the fault"}),
        )
        .await;
    assert_eq!(put.status(), 200);

    redis.container.pause().await.expect("pause redis");
    let (statuses, slowest) = reads(&stack, &token, 20).await;
    println!("redis paused: statuses {statuses:?}, slowest {slowest:?}");
    assert!(
        statuses.iter().all(|s| *s == 200),
        "reads served from the store: {statuses:?}"
    );
    // Units the replica leased before the fault were charged to Redis then, so they are still
    // spent (at most one slice less one); every read after them is the local fallback's.
    let slice = (100.0 * portcullis_ratelimit::DEFAULT_LEASE_FRACTION) as u64;
    let fallback = decisions(&stack, "fallback").await;
    assert!(
        fallback >= 20 - slice,
        "local fallback decided ({fallback} of 20 reads)"
    );
    let bypassed = stack
        .metric(
            &stack.data_api,
            r#"portcullis_cache_requests_total{result="bypass"}"#,
        )
        .await;
    assert!(
        bypassed >= 1,
        "reads went around the hanging cache to the store"
    );
    let breaker = stack
        .metric(
            &stack.data_api,
            r#"portcullis_circuit_breaker_state{dependency="redis_ratelimit"}"#,
        )
        .await;
    assert_eq!(
        breaker, 1,
        "the breaker opened instead of waiting on every call"
    );
    let ready = stack
        .http
        .get(format!("{}/readyz", stack.data_api))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ready.status(),
        200,
        "an absorbed Redis outage does not make the replica unready"
    );

    redis.container.unpause().await.expect("unpause redis");
    let allowed_before = decisions(&stack, "allowed").await;
    let mut recovered = false;
    for _ in 0..50 {
        let (statuses, _) = reads(&stack, &token, 1).await;
        assert_eq!(statuses, [200]);
        let breaker = stack
            .metric(
                &stack.data_api,
                r#"portcullis_circuit_breaker_state{dependency="redis_ratelimit"}"#,
            )
            .await;
        if breaker == 0 && decisions(&stack, "allowed").await > allowed_before {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "decisions come from Redis again after it returns"
    );
}

#[tokio::test]
async fn fail_closed_answers_503_problems_while_redis_is_down_then_recovers() {
    let redis = start_redis_on_fixed_port().await;
    let stack = Stack::start_with(with_mode(&redis.url, FailureMode::Closed)).await;
    let (token, _) = stack.login("alice").await;
    redis.container.stop().await.expect("stop redis");
    let (statuses, slowest) = reads(&stack, &token, 10).await;
    println!("redis stopped, closed mode: statuses {statuses:?}, slowest {slowest:?}");
    assert!(statuses.iter().all(|s| *s == 503), "{statuses:?}");
    let response = stack.get_item(&token, "kept").await;
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert!(response.headers().contains_key("retry-after"));

    redis.container.start().await.expect("start redis");
    let mut recovered = false;
    for _ in 0..100 {
        let (statuses, _) = reads(&stack, &token, 1).await;
        if statuses == [404] {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "requests pass again once Redis is back");
}

#[tokio::test]
async fn fail_open_lets_requests_through_and_counts_them() {
    let redis = start_redis().await;
    let stack = Stack::start_with(with_mode(&redis.url, FailureMode::Open)).await;
    let (token, _) = stack.login("alice").await;
    redis.container.pause().await.expect("pause redis");
    let (statuses, _) = reads(&stack, &token, 10).await;
    assert!(statuses.iter().all(|s| *s == 404), "{statuses:?}");
    assert!(decisions(&stack, "fallback").await >= 10);
    redis.container.unpause().await.expect("unpause redis");
}

#[tokio::test]
async fn shadow_mode_counts_but_never_rejects() {
    let redis = start_redis().await;
    let options = StackOptions {
        redis_url: Some(redis.url.clone()),
        rate_limit: Some("2/min".into()),
        data_api: Some(Arc::new(|config: &mut Args| {
            config.rate_limit_shadow = true
        })),
        ..Default::default()
    };
    let stack = Stack::start_with(options).await;
    let (token, _) = stack.login("alice").await;
    let (statuses, _) = reads(&stack, &token, 5).await;
    assert_eq!(statuses, [404; 5], "shadow mode never rejects");
    assert_eq!(
        decisions(&stack, "shadow").await,
        3,
        "it records what it would have limited"
    );
}
