//! Adapters and services against a real Redis in a container (testcontainers). Needs Docker and
//! the image named by `PORTCULLIS_REDIS_IMAGE`; without them these tests fail, they never skip.

use portcullis_cache::RedisCache;
use portcullis_domain::ratelimit::{RateLimitKey, RateLimitPolicy, RateLimiter};
use portcullis_ratelimit::RedisRateLimiter;
use portcullis_redis::connect as connect_redis;
use portcullis_store::{RedisEphemeralStore, RedisRefreshTokenStore};
use portcullis_tests::{start_redis, Stack, StackOptions};
use std::sync::Arc;
use std::time::Duration;

// Worker threads, so the refresh-store contract's concurrent presentations really run in
// parallel on their own connections' tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_adapters_pass_their_port_contracts() {
    let redis = start_redis().await;
    let connection = connect_redis(&redis.url, Duration::from_secs(5))
        .await
        .expect("connect to redis");
    let limiter = RedisRateLimiter::new(connection.clone(), "test:rl:", Duration::from_secs(2));
    portcullis_domain::testkit::rate_limiter::run(Arc::new(limiter)).await;
    let cache = RedisCache::new(connection.clone(), "test:cache:", Duration::from_secs(2));
    portcullis_domain::testkit::cache::run(Arc::new(cache)).await;
    let refresh = RedisRefreshTokenStore::new(connection.clone(), "test:", Duration::from_secs(2));
    portcullis_domain::testkit::refresh_store::run(Arc::new(refresh)).await;
    let login_records = RedisEphemeralStore::new(connection, "test:login:", Duration::from_secs(2));
    portcullis_domain::testkit::ephemeral_store_contract(&login_records).await;
}

#[tokio::test]
async fn browser_logins_live_in_redis_across_issuer_restarts() {
    let redis = start_redis().await;
    let options = StackOptions {
        issuer_redis_url: Some(redis.url.clone()),
        ..Default::default()
    };
    let mut stack = Stack::start_with(options).await;
    let mut login = stack.code_login("alice").await;
    // The session, the remembered consent and the refresh family survive the process: a new
    // issuer process (another replica, or a restart) knows them all.
    stack.stop_issuer().await;
    stack.restart_issuer().await;
    let (answer, verifier) = stack.authorize_web(&mut login.browser, "alice", &[]).await;
    let code = answer
        .redirect_param("code")
        .expect("single sign-on without form or consent");
    let (status, _) = stack.exchange_code(&code, &verifier).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let refresh = login.token("refresh_token");
    let fields = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let (status, body) = stack
        .token_as(portcullis_tests::WEB_CLIENT, true, &fields)
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
}

#[tokio::test]
async fn one_decision_is_one_redis_command_and_every_key_expires() {
    let redis = start_redis().await;
    let connection = connect_redis(&redis.url, Duration::from_secs(5))
        .await
        .unwrap();
    let limiter = RedisRateLimiter::new(connection.clone(), "rl:", Duration::from_secs(2));
    let policy = RateLimitPolicy::parse("10/s,100/min").unwrap();
    let key = RateLimitKey::new("sub", "alice");
    // Load the script once, then count commands over a batch of decisions.
    limiter.check(&key, &policy, 1).await.unwrap();
    let mut admin = connection.clone();
    let calls_before = evalsha_calls(&mut admin).await;
    for _ in 0..20 {
        limiter.check(&key, &policy, 1).await.unwrap();
    }
    let calls_after = evalsha_calls(&mut admin).await;
    assert_eq!(calls_after - calls_before, 20, "one EVALSHA per decision");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("rl:*")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut admin)
            .await
            .unwrap();
        assert!(ttl > 0, "{key} has no TTL");
    }
}

async fn evalsha_calls(connection: &mut portcullis_redis::ConnectionManager) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(connection)
        .await
        .unwrap();
    info.lines()
        .find(|l| l.starts_with("cmdstat_evalsha:"))
        .and_then(|l| l.split("calls=").nth(1))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn two_data_api_replicas_share_one_limit_through_redis() {
    let redis = start_redis().await;
    let options = StackOptions {
        redis_url: Some(redis.url.clone()),
        rate_limit: Some("4/min".into()),
        ..Default::default()
    };
    let stack = Stack::start_with(options.clone()).await;
    let second =
        Stack::start_data_api(&stack.issuer, stack.dir.path().join("second.db"), &options).await;
    stack.wait_ready(&second).await;
    let (token, _) = stack.login("alice").await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let base = if i % 2 == 0 { &stack.data_api } else { &second };
        let response = stack
            .http
            .get(format!("{base}/v1/items/x"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(
        statuses,
        [404, 404, 404, 404, 429, 429],
        "the limit is shared, not per replica"
    );
}
