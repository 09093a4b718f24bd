//! The PostgreSQL item store, in a container: the item-store contract, and two data API
//! replicas sharing one database.

use portcullis_store::PgItemStore;
use portcullis_tests::{start_postgres, start_redis, Stack, StackOptions};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn postgres_passes_the_item_store_contract() {
    let postgres = start_postgres().await;
    let store = PgItemStore::connect(&postgres.url, 4, Duration::from_secs(5))
        .await
        .unwrap();
    portcullis_domain::testkit::item_store::run(Arc::new(store.clone())).await;
    // Migrations are idempotent: a second replica starting on the same database is fine.
    PgItemStore::connect(&postgres.url, 1, Duration::from_secs(5))
        .await
        .unwrap();
}

#[tokio::test]
async fn two_replicas_share_items_through_postgres_and_redis() {
    let postgres = start_postgres().await;
    let redis = start_redis().await;
    let url = postgres.url.clone();
    let options = StackOptions {
        redis_url: Some(redis.url.clone()),
        data_api: Some(Arc::new(move |config: &mut data_api::Config| {
            config.database_url = url.clone();
        })),
        ..Default::default()
    };
    let stack = Stack::start_with(options.clone()).await;
    let second =
        Stack::start_data_api(&stack.issuer, stack.dir.path().join("unused.db"), &options).await;
    stack.wait_ready(&second).await;
    let (token, _) = stack.login("alice").await;
    for round in 0..5 {
        let (writer, reader) = if round % 2 == 0 {
            (&stack.data_api, &second)
        } else {
            (&second, &stack.data_api)
        };
        let written = stack
            .http
            .put(format!("{writer}/v1/items/shared"))
            .bearer_auth(&token)
            .json(&json!({"data": {"round": round}}))
            .send()
            .await
            .unwrap();
        assert_eq!(written.status(), 200);
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
        assert_eq!(
            read["data"]["round"], round,
            "the other replica reads the write at once"
        );
    }
}
