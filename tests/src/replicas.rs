//! Two data API replicas sharing one PostgreSQL and one Redis, for the suites that check what
//! holds across replicas (read-after-write, stampedes, the memory tier).

use crate::{start_postgres, start_redis, PostgresContainer, RedisContainer, Stack, StackOptions};
use portcullis_domain::ratelimit::RateLimitPolicy;
use std::sync::Arc;
use std::time::Duration;

/// Two replicas with limits out of the way (the suites hammer the API) and the issuer in
/// front; the containers live as long as the returned handles.
pub async fn two_replicas() -> (Stack, String, RedisContainer, PostgresContainer) {
    let postgres = start_postgres().await;
    let redis = start_redis().await;
    let url = postgres.url.clone();
    let unlimited = RateLimitPolicy::parse("1000000/s").expect("policy");
    let options = StackOptions {
        redis_url: Some(redis.url.clone()),
        rate_limit: Some("1000000/s".into()),
        data_api: Some(Arc::new(move |config: &mut data_api::Args| {
            config.database_url = url.clone();
            // Every suite client is 127.0.0.1: served from memory, four readers outrun the
            // default per-IP flood limit.
            config.ip_rate_limit = unlimited.clone();
            // The longest wait for another replica's load: on a loaded two-core machine a load
            // can take longer than the default 500 ms, and a waiter would load again.
            config.cache_lease_wait = Duration::from_secs(2);
            // And a Redis call slowed past its timeout by 400 requests at once in a debug
            // build would count as cache trouble (load it myself): room for the stampede.
            config.redis_timeout = Duration::from_secs(2);
        })),
        ..Default::default()
    };
    let stack = Stack::start_with(options.clone()).await;
    let second =
        Stack::start_data_api(&stack.issuer, stack.dir.path().join("unused.db"), &options).await;
    stack.wait_ready(&second).await;
    (stack, second, redis, postgres)
}
