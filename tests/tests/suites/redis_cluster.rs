//! The Redis limiter on a three-master Redis Cluster (redis-server processes on loopback).

use portcullis_domain::ratelimit::{RateLimitKey, RateLimitPolicy, RateLimiter};
use portcullis_ratelimit::RedisRateLimiter;
use portcullis_tests::start_redis_cluster;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn the_limiter_works_on_a_cluster_and_keeps_a_subjects_keys_in_one_slot() {
    let cluster = start_redis_cluster().await;
    let client = redis::cluster::ClusterClient::new(cluster.urls.clone()).unwrap();
    let connection = client.get_async_connection().await.unwrap();
    let limiter = Arc::new(RedisRateLimiter::new(
        connection.clone(),
        "rl:",
        Duration::from_secs(2),
    ));
    // Several windows in one script call: on a cluster this fails with CROSSSLOT unless all of a
    // subject's keys hash to one slot.
    portcullis_domain::testkit::rate_limiter::run(limiter.clone()).await;
    let policy = RateLimitPolicy::parse("10/s,100/min,1000/h").unwrap();
    for subject in ["alice", "bob", "carol", "dave"] {
        let decision = limiter
            .check(&RateLimitKey::new("sub", subject), &policy, 1)
            .await
            .expect("a multi-window decision on the cluster");
        assert!(decision.allowed);
    }
    let mut admin = connection.clone();
    let slots: Vec<i64> = futures_slots(
        &mut admin,
        &[
            "rl:{sub:alice}:1",
            "rl:{sub:alice}:60",
            "rl:{sub:alice}:3600",
        ],
    )
    .await;
    assert!(
        slots.windows(2).all(|w| w[0] == w[1]),
        "one slot per subject: {slots:?}"
    );
}

async fn futures_slots(
    connection: &mut redis::cluster_async::ClusterConnection,
    keys: &[&str],
) -> Vec<i64> {
    let mut slots = Vec::new();
    for key in keys {
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(connection)
            .await
            .unwrap();
        slots.push(slot);
    }
    slots
}
