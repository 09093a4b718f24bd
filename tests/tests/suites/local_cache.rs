//! The local cache tier kept coherent by Redis: hot items from memory, no stale read after an
//! acknowledged write on any replica, and a tier that stops serving from memory the moment it
//! cannot prove it is up to date. Needs Docker and the Redis and PostgreSQL images; without
//! them these tests fail, they never skip.

use portcullis_cache::{start_tier, RedisCache, TierSettings};
use portcullis_redis::{connect as connect_redis, RedisSettings};
use portcullis_tests::{command_calls, start_redis, two_replicas, Stack, StackOptions};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CHANNEL: &str = "test:invalidations";

/// Round trips to Redis between two readings, from above: every `EVALSHA` (the limiter, the
/// cache's scripts) plus every `HGET` (a cache read, which inside the read script comes on top
/// of its `EVALSHA`, so a miss counts twice). `INFO commandstats` also counts the commands a
/// script runs, which is why the others are left out, and so are the tiers' heartbeats.
fn round_trips_between(before: &HashMap<String, u64>, after: &HashMap<String, u64>) -> u64 {
    ["evalsha", "hget"]
        .iter()
        .map(|name| {
            after.get(*name).copied().unwrap_or(0) - before.get(*name).copied().unwrap_or(0)
        })
        .sum()
}

async fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    for _ in 0..200 {
        if ready() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test]
async fn the_tier_on_redis_passes_the_cache_contract() {
    let redis = start_redis().await;
    let connection = connect_redis(&redis.url, Duration::from_secs(5))
        .await
        .unwrap();
    let shared = RedisCache::new(connection.clone(), "test:cache:", Duration::from_secs(2))
        .with_invalidations(CHANNEL);
    let settings = TierSettings {
        window: Duration::from_millis(50),
        max_bytes: 1 << 20,
        max_age: Duration::from_secs(60),
    };
    let redis_settings = RedisSettings::new(redis.url.clone(), "TEST", Duration::from_secs(2));
    let (tier, _tasks) = start_tier(
        Arc::new(shared),
        settings,
        redis_settings,
        connection.into(),
        CHANNEL,
    );
    wait_for("the tier is live", || tier.is_live()).await;
    portcullis_domain::testkit::cache::run(Arc::new(tier)).await;
}

#[tokio::test]
async fn a_hot_item_costs_almost_no_redis_round_trips() {
    let redis = start_redis().await;
    let stack = Stack::start_with(StackOptions {
        redis_url: Some(redis.url.clone()),
        rate_limit: Some("1000000/s".into()),
        ..Default::default()
    })
    .await;
    let (token, _) = stack.login("alice").await;
    let put = stack
        .put_item(&token, "hot", &json!({"data": {"n": 1}}))
        .await;
    assert_eq!(put.status(), 200);
    // The first reads fill the tier (once it is live).
    for _ in 0..20 {
        assert_eq!(stack.get_item(&token, "hot").await.status(), 200);
    }
    let hits = "portcullis_cache_tier_requests_total{result=\"hit\"}";
    let hits_before = stack.metric(&stack.data_api, hits).await;
    let before = command_calls(&redis.url).await;
    let reads = 300u64;
    for _ in 0..reads {
        assert_eq!(stack.get_item(&token, "hot").await.status(), 200);
    }
    let after = command_calls(&redis.url).await;
    let commands = round_trips_between(&before, &after);
    let breakdown: Vec<_> = after
        .iter()
        .map(|(name, calls)| (name, calls - before.get(name).copied().unwrap_or(0)))
        .filter(|(_, delta)| *delta > 0)
        .collect();
    println!("Redis commands during the reads: {breakdown:?}");
    let hits = stack.metric(&stack.data_api, hits).await - hits_before;
    println!(
        "{reads} reads of a hot item: {hits} served from memory, at most {commands} Redis round \
         trips ({:.3} per read)",
        commands as f64 / reads as f64
    );
    assert!(hits >= reads - 5, "the tier served {hits} of {reads} reads");
    assert!(
        commands * 10 < reads,
        "{commands} Redis round trips for {reads} reads: well below one per read expected"
    );
}

async fn version_on(stack: &Stack, base: &str, token: &str, id: &str) -> u64 {
    let answer = stack
        .http
        .get(format!("{base}/v1/items/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = answer.status();
    let read: serde_json::Value = answer.json().await.unwrap();
    read["data"]["n"]
        .as_u64()
        .unwrap_or_else(|| panic!("a written item, not {status} {read}"))
}

#[tokio::test]
async fn a_write_acknowledged_on_one_replica_is_never_read_stale_from_anothers_memory() {
    let (stack, second, _redis, _postgres) = two_replicas().await;
    let (token, _) = stack.login("alice").await;
    let (writer, reader) = (stack.data_api.clone(), second);
    let put = |n: u64| {
        let (http, token, writer) = (stack.http.clone(), token.clone(), writer.clone());
        async move {
            let answer = http
                .put(format!("{writer}/v1/items/hot"))
                .bearer_auth(&token)
                .json(&json!({"data": {"n": n}}))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200);
        }
    };
    put(0).await;
    // Readers keep the item hot in the reading replica's memory the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (http, token, stop) = (stack.http.clone(), token.clone(), stop.clone());
            let url = format!("{reader}/v1/items/hot");
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let _ = http.get(&url).bearer_auth(&token).send().await;
                }
            })
        })
        .collect();
    let hits = "portcullis_cache_tier_requests_total{result=\"hit\"}";
    let mut stale = Vec::new();
    for n in 1..=30u64 {
        put(n).await;
        let seen = version_on(&stack, &reader, &token, "hot").await;
        if seen != n {
            stale.push((n, seen));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for task in readers {
        task.await.unwrap();
    }
    let served_from_memory = stack.metric(&reader, hits).await;
    println!("reading replica: {served_from_memory} reads served from memory");
    assert!(
        stale.is_empty(),
        "stale reads after acknowledged writes: {stale:?}"
    );
    assert!(
        served_from_memory > 30,
        "the reading replica must really serve from memory for this to test anything"
    );
}

#[tokio::test]
async fn a_cut_subscription_stops_memory_reads_at_once_and_recovers_without_a_restart() {
    let (stack, second, redis, _postgres) = two_replicas().await;
    let redis_url = redis.url.clone();
    let (token, _) = stack.login("alice").await;
    let (writer, reader) = (stack.data_api.clone(), second);
    let mut admin = connect_redis(&redis_url, Duration::from_secs(5))
        .await
        .unwrap();
    let hits = "portcullis_cache_tier_requests_total{result=\"hit\"}";
    for round in 1..=5u64 {
        let answer = stack
            .http
            .put(format!("{writer}/v1/items/cut"))
            .bearer_auth(&token)
            .json(&json!({"data": {"n": round * 10}}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        // The reader holds the value in memory...
        let before = stack.metric(&reader, hits).await;
        for _ in 0..5 {
            assert_eq!(version_on(&stack, &reader, &token, "cut").await, round * 10);
        }
        let reader_hits = stack.metric(&reader, hits).await - before;
        assert!(
            reader_hits > 0,
            "round {round}: the reader must serve from memory"
        );
        // ...when every subscription is cut, so the next invalidation reaches nobody.
        let killed: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(&mut admin)
            .await
            .unwrap();
        assert!(killed >= 2, "both replicas subscribe ({killed} killed)");
        let answer = stack
            .http
            .put(format!("{writer}/v1/items/cut"))
            .bearer_auth(&token)
            .json(&json!({"data": {"n": round * 10 + 1}}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(
            version_on(&stack, &reader, &token, "cut").await,
            round * 10 + 1,
            "round {round}: a replica that missed the invalidation must not serve its copy"
        );
        // It resubscribes by itself and serves from memory again.
        let mut recovered = false;
        for _ in 0..100 {
            let before = stack.metric(&reader, hits).await;
            version_on(&stack, &reader, &token, "cut").await;
            if stack.metric(&reader, hits).await > before {
                recovered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            recovered,
            "round {round}: the tier must come back without a restart"
        );
    }
}
