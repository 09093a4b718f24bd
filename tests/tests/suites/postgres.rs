//! The PostgreSQL item store, in a container: the item-store contract, and two data API
//! replicas sharing one database.

use portcullis_store::PgItemStore;
use portcullis_tests::{
    start_postgres, start_redis, two_replicas, PostgresContainer, RedisContainer, Stack,
    StackOptions,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn postgres_passes_the_item_store_contract() {
    let postgres = start_postgres().await;
    let store = PgItemStore::connect(&postgres.url, None, 4, Duration::from_secs(5))
        .await
        .unwrap();
    portcullis_domain::testkit::item_store::run(Arc::new(store.clone())).await;
    // Migrations are idempotent: a second replica starting on the same database is fine.
    PgItemStore::connect(&postgres.url, None, 1, Duration::from_secs(5))
        .await
        .unwrap();
}

#[tokio::test]
async fn two_replicas_share_items_through_postgres_and_redis() {
    let (stack, second, _redis, _postgres) = two_replicas().await;
    let (token, _) = stack.login("alice").await;
    let replicas = [stack.data_api.clone(), second.clone()];

    // Readers hammer both replicas (filling the cache from the store all the time) while one
    // writer alternates replicas: after every write returns, both replicas serve it.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|i| {
            let (http, token, stop) = (stack.http.clone(), token.clone(), stop.clone());
            let url = format!("{}/v1/items/shared", replicas[i % 2]);
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = http.get(&url).bearer_auth(&token).send().await;
                }
            })
        })
        .collect();
    let mut stale = 0;
    for round in 0..20 {
        let writer = &replicas[round % 2];
        let written = stack
            .http
            .put(format!("{writer}/v1/items/shared"))
            .bearer_auth(&token)
            .json(&json!({"data": {"round": round}}))
            .send()
            .await
            .unwrap();
        assert_eq!(written.status(), 200);
        for reader in &replicas {
            let read: serde_json::Value = stack
                .http
                .get(format!("{reader}/v1/items/shared"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if read["data"]["round"] != round {
                stale += 1;
            }
        }
    }
    let deleted = stack
        .http
        .delete(format!("{}/v1/items/shared", replicas[0]))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    for reader in &replicas {
        let gone = stack
            .http
            .get(format!("{reader}/v1/items/shared"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(gone.status(), 404, "no replica serves a deleted item");
    }
    // Owner isolation through the shared cache: bob never sees alice's item, warm or cold.
    let (bob, _) = stack.login("bob").await;
    let write = stack
        .http
        .put(format!("{}/v1/items/private", replicas[0]))
        .bearer_auth(&token)
        .json(&json!({"data": "alice only"}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 200);
    for reader in &replicas {
        let peek = stack
            .http
            .get(format!("{reader}/v1/items/private"))
            .bearer_auth(&bob)
            .send()
            .await
            .unwrap();
        assert_eq!(peek.status(), 404, "bob never sees alice's cached item");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        reader.await.unwrap();
    }
    assert_eq!(
        stale, 0,
        "reads after a returned write never see the old value"
    );
}

#[tokio::test]
async fn a_stampede_across_two_replicas_costs_one_store_query() {
    let (stack, second, redis, _postgres) = two_replicas().await;
    let (token, _) = stack.login("alice").await;
    let put = stack
        .http
        .put(format!("{}/v1/items/hot", stack.data_api))
        .bearer_auth(&token)
        .json(&json!({"data": "cold in every cache"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    // Empty the shared cache: the item is now cold for both replicas.
    let mut admin = portcullis_redis::connect(&redis.url, Duration::from_secs(5))
        .await
        .unwrap();
    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut admin)
        .await
        .unwrap();
    let replicas = [stack.data_api.clone(), second.clone()];
    let statuses = stack.concurrent_reads(&replicas, &token, "hot", 400).await;
    assert!(statuses.iter().all(|&status| status == 200), "{statuses:?}");
    let series = r#"portcullis_store_queries_total{op="get"}"#;
    let queries =
        stack.metric(&replicas[0], series).await + stack.metric(&replicas[1], series).await;
    assert_eq!(
        queries, 1,
        "400 concurrent cold reads through two replicas cost one store query"
    );
}

/// One replica on PostgreSQL and Redis whose cache freshness lasts one second.
async fn short_lived_cache(
    stale_while_revalidate: Duration,
) -> (Stack, RedisContainer, PostgresContainer) {
    let postgres = start_postgres().await;
    let redis = start_redis().await;
    let url = postgres.url.clone();
    let options = StackOptions {
        redis_url: Some(redis.url.clone()),
        data_api: Some(Arc::new(move |config: &mut data_api::Args| {
            config.database_url = url.clone();
            config.cache_ttl = Duration::from_secs(1);
            config.cache_stale_while_revalidate = stale_while_revalidate;
            config.cache_stale_if_error = Duration::from_secs(300);
        })),
        ..Default::default()
    };
    (Stack::start_with(options).await, redis, postgres)
}

async fn cache_results(stack: &Stack, result: &str) -> u64 {
    let series = format!("portcullis_cache_requests_total{{result=\"{result}\"}}");
    stack.metric(&stack.data_api, &series).await
}

#[tokio::test]
async fn a_stale_item_is_served_while_one_background_refresh_runs() {
    let (stack, _redis, _postgres) = short_lived_cache(Duration::from_secs(30)).await;
    let (token, _) = stack.login("alice").await;
    let put = stack.put_item(&token, "aging", &json!({"data": 1})).await;
    assert_eq!(put.status(), 200);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let queries = r#"portcullis_store_queries_total{op="get"}"#;
    let before = stack.metric(&stack.data_api, queries).await;
    let stale = stack.get_item(&token, "aging").await;
    assert_eq!(stale.status(), 200, "the stale copy is served at once");
    assert_eq!(cache_results(&stack, "stale").await, 1);
    let mut refreshed = false;
    for _ in 0..50 {
        if stack.metric(&stack.data_api, queries).await == before + 1 {
            refreshed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refreshed, "one background refresh loaded the item");
    // The query is counted when it starts; its cache fill lands a moment later. Reads until then
    // are stale and join the refresh in flight rather than starting another.
    let hits = cache_results(&stack, "hit").await;
    let mut fresh_again = false;
    for _ in 0..50 {
        let read = stack.get_item(&token, "aging").await;
        assert_eq!(read.status(), 200);
        if cache_results(&stack, "hit").await > hits {
            fresh_again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fresh_again, "fresh again after the refresh");
    assert_eq!(
        stack.metric(&stack.data_api, queries).await,
        before + 1,
        "one refresh, however many stale reads came meanwhile"
    );
}

#[tokio::test]
async fn a_stale_item_is_served_while_the_store_is_down() {
    let (stack, _redis, postgres) = short_lived_cache(Duration::ZERO).await;
    let (token, _) = stack.login("alice").await;
    let put = stack
        .put_item(&token, "kept", &json!({"data": "survives the outage"}))
        .await;
    assert_eq!(put.status(), 200);
    postgres.container.stop().await.expect("stop postgres");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let stale = stack.get_item(&token, "kept").await;
    assert_eq!(stale.status(), 200, "stale-if-error");
    let body: serde_json::Value = stale.json().await.unwrap();
    assert_eq!(body["data"], "survives the outage");
    assert_eq!(cache_results(&stack, "stale").await, 1);
    let uncached = stack.get_item(&token, "never-read").await;
    assert_eq!(
        uncached.status(),
        503,
        "nothing stale to serve: an intended 503 problem"
    );
    assert_eq!(
        uncached.headers()["content-type"],
        "application/problem+json"
    );
}

/// A database from before quotas keeps its items, and its owners' usage is counted from them;
/// writes made by an older replica during a rolling upgrade (which knows nothing of sizes or
/// usage) are counted too, by the database's own trigger.
#[tokio::test]
async fn upgrading_counts_existing_items_and_older_writers_towards_quotas() {
    use portcullis_domain::identity::Subject;
    use portcullis_domain::item::{ItemData, ItemId};
    use portcullis_domain::store::{ItemStore, Precondition, Quota, StoreError};
    let postgres = start_postgres().await;
    // The container's own database is migrated already (its readiness probe connects a store).
    let server = sqlx::PgPool::connect(&postgres.url).await.unwrap();
    sqlx::query("CREATE DATABASE before_quotas")
        .execute(&server)
        .await
        .unwrap();
    let (server_url, _) = postgres.url.rsplit_once('/').unwrap();
    let url = format!("{server_url}/before_quotas");
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let mut first_only = sqlx::migrate!("../crates/store/migrations/postgres");
    first_only.migrations = first_only.migrations[..1].to_vec().into();
    first_only.run(&pool).await.unwrap();
    let old_writer = |id: &'static str, data: &'static str| {
        sqlx::query(
            "INSERT INTO items (owner, id, data, version) \
             VALUES ('old', $1, $2, nextval('item_versions'))",
        )
        .bind(id)
        .bind(data)
        .execute(&pool)
    };
    old_writer("a", "\"12345\"").await.unwrap();
    old_writer("b", "[1,2]").await.unwrap();

    let store = PgItemStore::connect(&url, None, 4, Duration::from_secs(5))
        .await
        .unwrap();
    let owner = Subject::new("old").unwrap();
    let listed = store.list(&owner, None, 10, 1 << 20).await.unwrap();
    assert_eq!(listed.items.len(), 2, "nothing stored is lost");
    // An older replica still writing after the upgrade: 1 more byte, a third item.
    old_writer("c", "1").await.unwrap();
    let quota = Quota {
        max_items: 4,
        max_bytes: 14,
    };
    let put = |id: &'static str, json: &'static str| {
        let (store, owner) = (store.clone(), owner.clone());
        async move {
            let data = ItemData::parse(json).unwrap();
            let id = ItemId::new(id).unwrap();
            store
                .put(&owner, &id, data, Precondition::NONE, quota)
                .await
        }
    };
    assert!(
        matches!(put("d", "[1]").await, Err(StoreError::QuotaExceeded { .. })),
        "13 bytes counted, + 3 > 14"
    );
    put("d", "1").await.expect("14 bytes, 4 items");
    assert!(matches!(
        put("e", "1").await,
        Err(StoreError::QuotaExceeded { .. })
    ));
}
