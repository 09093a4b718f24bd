//! The data API's cache-hit read path (`ItemService::get` on a warm Redis cache) against a local
//! Redis: throughput with 64 concurrent readers and the cost per read, next to a bare Redis `GET`
//! of the same entry on the same connection in the same run.
//!
//! Needs `redis-server` (Debian: `apt-get install redis-server`).
//! Run: `cargo bench -p portcullis-tests --bench cache_hit`.

use portcullis_cache::RedisCache;
use portcullis_domain::clock::SystemClock;
use portcullis_domain::identity::Subject;
use portcullis_domain::item::{ItemData, ItemId};
use portcullis_domain::store::Precondition;
use portcullis_domain::usecase::items::{CachePolicy, ItemService};
use portcullis_store::SqliteItemStore;
use portcullis_tests::start_local_redis_server;
use std::sync::Arc;
use std::time::{Duration, Instant};

const READERS: usize = 64;
const DURATION: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() {
    let server = start_local_redis_server().await;
    let connection = server.connection.clone();
    let store = SqliteItemStore::connect("sqlite::memory:")
        .await
        .expect("store");
    let cache = RedisCache::new(connection.clone(), "bench:", Duration::from_secs(1));
    let items = Arc::new(ItemService::new(
        Arc::new(store),
        Arc::new(cache),
        CachePolicy {
            ttl: Duration::from_secs(3600),
            ..CachePolicy::default()
        },
        Arc::new(|f| {
            tokio::spawn(f);
        }),
        Arc::new(|duration| Box::pin(tokio::time::sleep(duration))),
        Arc::new(SystemClock),
    ));
    let owner = Subject::new("alice").expect("subject");
    let id = ItemId::new("bench").expect("id");
    let data = ItemData::parse(r#"{"name":"benchmark item","tags":["a","b","c"],"count":42}"#)
        .expect("data");
    items
        .put(&owner, &id, data, Precondition::NONE)
        .await
        .expect("put");

    let run =
        |label: &'static str,
         read: Arc<dyn Fn() -> futures::future::BoxFuture<'static, ()> + Send + Sync>| async move {
            let started = Instant::now();
            let tasks: Vec<_> = (0..READERS)
                .map(|_| {
                    let read = read.clone();
                    tokio::spawn(async move {
                        let mut n = 0u64;
                        while started.elapsed() < DURATION {
                            read().await;
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            let mut total = 0;
            for task in tasks {
                total += task.await.expect("task");
            }
            let rate = total as f64 / started.elapsed().as_secs_f64();
            (label, rate)
        };
    use futures::FutureExt;
    let service = {
        let (items, owner, id) = (items.clone(), owner.clone(), id.clone());
        run(
            "ItemService::get, warm Redis cache (decode included)",
            Arc::new(move || {
                let (items, owner, id) = (items.clone(), owner.clone(), id.clone());
                async move {
                    let (item, _) = items.get(&owner, &id).await.expect("read");
                    assert!(item.is_some());
                }
                .boxed()
            }),
        )
        .await
    };
    let bare = {
        let key = portcullis_domain::cache::CacheKey::item(&owner, &id);
        let key = format!("bench:{}", key.as_str());
        let connection = connection.clone();
        run(
            "bare Redis HGET of the same entry",
            Arc::new(move || {
                let (mut connection, key) = (connection.clone(), key.clone());
                async move {
                    let value: Option<Vec<u8>> = redis::cmd("HGET")
                        .arg(&key)
                        .arg("d")
                        .query_async(&mut connection)
                        .await
                        .expect("hget");
                    assert!(value.is_some());
                }
                .boxed()
            }),
        )
        .await
    };
    drop(server);
    println!("| read path ({READERS} concurrent readers) | reads/s | µs per read (wall, per reader) | ratio |");
    println!("|---|---:|---:|---:|");
    for (label, rate) in [bare, service] {
        println!(
            "| {label} | {rate:.0} | {:.1} | {:.2} |",
            READERS as f64 * 1e6 / rate,
            rate / bare.1
        );
    }
}
