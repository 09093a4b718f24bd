//! The SQLite item store: the embedded default for one host.

use crate::queries;
use crate::rows::{self, unavailable, Current};
use async_trait::async_trait;
use portcullis_domain::cause::Cause;
use portcullis_domain::identity::Subject;
use portcullis_domain::item::{Item, ItemData, ItemId, Version};
use portcullis_domain::store::{ItemStore, Listed, Precondition, Quota, StoreError, Usage};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};
use std::str::FromStr;
use std::time::Duration;

/// Items in one SQLite file (WAL mode). Writes from this process are serialised by a lock, since
/// SQLite admits one writer at a time anyway; readers never wait for writers. One process per
/// file: replicas that share data need the PostgreSQL store.
#[derive(Debug, Clone)]
pub struct SqliteItemStore {
    pool: SqlitePool,
    write_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl SqliteItemStore {
    /// Opens (creating if missing) the database at a `sqlite://PATH` or `sqlite::memory:` URL
    /// and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(unavailable)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            // Rows wait in this channel before they are read; documents are up to 1 MiB, so
            // keep few in flight rather than sqlx's 50.
            .row_buffer_size(4);
        let in_memory = url.contains(":memory:");
        let pool = SqlitePoolOptions::new()
            // An in-memory database exists per connection: keep exactly one.
            .max_connections(if in_memory { 1 } else { 8 })
            .min_connections(if in_memory { 1 } else { 0 })
            .idle_timeout(if in_memory {
                None
            } else {
                Some(Duration::from_secs(600))
            })
            .max_lifetime(if in_memory {
                None
            } else {
                Some(Duration::from_secs(3600))
            })
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(Cause::new(format!("migration failed: {e}"))))?;
        Ok(Self {
            pool,
            write_lock: Default::default(),
        })
    }

    /// Starts a write transaction and reads what a write is judged by: the owner's usage and
    /// the item's current version and size. (The PostgreSQL store's twin differs on purpose:
    /// there replicas race, so it locks the usage row; here the process's write lock already
    /// serialises writers, and SQLite has no `FOR UPDATE`.)
    async fn begin_write(
        &self,
        owner: &Subject,
        id: &ItemId,
    ) -> Result<(Transaction<'static, Sqlite>, Usage, Option<Current>), StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let usage = sqlx::query("SELECT items, bytes FROM owner_usage WHERE owner = ?")
            .bind(owner.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?
            .map_or_else(Usage::default, |row| Usage {
                items: rows::count(row.get(0)),
                bytes: rows::count(row.get(1)),
            });
        let current = queries::current(&mut tx, owner, id).await?;
        Ok((tx, usage, current))
    }
}

#[async_trait]
impl ItemStore for SqliteItemStore {
    async fn get(&self, owner: &Subject, id: &ItemId) -> Result<Option<Item>, StoreError> {
        queries::get(&self.pool, owner, id).await
    }

    async fn put(
        &self,
        owner: &Subject,
        id: &ItemId,
        data: ItemData,
        precondition: Precondition,
        quota: Quota,
    ) -> Result<Item, StoreError> {
        let _writer = self.write_lock.lock().await;
        let (mut tx, usage, current) = self.begin_write(owner, id).await?;
        let bytes = data.as_str().len() as u64;
        rows::judge(&precondition, quota, usage, current, Some(bytes))?;
        let version: i64 = sqlx::query_scalar(
            "UPDATE version_counter SET value = value + 1 WHERE only_row = 1 RETURNING value",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(unavailable)?;
        sqlx::query(
            "INSERT INTO items (owner, id, data, version) VALUES (?, ?, ?, ?) \
             ON CONFLICT (owner, id) DO UPDATE SET data = excluded.data, version = excluded.version",
        )
        .bind(owner.as_str())
        .bind(id.as_str())
        .bind(data.as_str())
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(Item {
            owner: owner.clone(),
            id: id.clone(),
            data,
            version: rows::version(version),
        })
    }

    async fn delete(
        &self,
        owner: &Subject,
        id: &ItemId,
        precondition: Precondition,
    ) -> Result<Option<Version>, StoreError> {
        let _writer = self.write_lock.lock().await;
        let (tx, usage, current) = self.begin_write(owner, id).await?;
        queries::delete(tx, owner, id, &precondition, usage, current).await
    }

    async fn list(
        &self,
        owner: &Subject,
        after: Option<&ItemId>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Listed, StoreError> {
        queries::list(&self.pool, owner, after, limit, max_bytes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn in_memory_database_passes_the_item_store_contract() {
        let store = SqliteItemStore::connect("sqlite::memory:").await.unwrap();
        portcullis_domain::testkit::item_store::run(Arc::new(store)).await;
    }

    /// A database from before quotas keeps its items, and its owners' usage is counted from
    /// them, so the quota holds for what was stored before the upgrade.
    #[tokio::test]
    async fn upgrading_counts_existing_items_towards_quotas() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("old.db").display());
        {
            let options = SqliteConnectOptions::from_str(&url)
                .unwrap()
                .create_if_missing(true);
            let pool = SqlitePool::connect_with(options).await.unwrap();
            let mut first_only = sqlx::migrate!("./migrations/sqlite");
            first_only.migrations = first_only.migrations[..1].to_vec().into();
            first_only.run(&pool).await.unwrap();
            for (id, data) in [("a", "\"12345\""), ("b", "[1,2]")] {
                sqlx::query("INSERT INTO items (owner, id, data, version) VALUES ('old', ?, ?, 1)")
                    .bind(id)
                    .bind(data)
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        }
        let store = SqliteItemStore::connect(&url).await.unwrap();
        let owner = Subject::new("old").unwrap();
        let listed = store.list(&owner, None, 10, 1 << 20).await.unwrap();
        assert_eq!(listed.items.len(), 2, "nothing stored is lost");
        let quota = Quota {
            max_items: 3,
            max_bytes: 13,
        };
        let (c, d) = (ItemId::new("c").unwrap(), ItemId::new("d").unwrap());
        let put = |id, json| {
            let data = ItemData::parse(json).unwrap();
            store.put(&owner, id, data, Precondition::NONE, quota)
        };
        assert!(
            matches!(
                put(&c, "[1,2]").await,
                Err(StoreError::QuotaExceeded { .. })
            ),
            "12 bytes stored before the upgrade count: 12 + 5 > 13"
        );
        put(&c, "1").await.expect("13 bytes, 3 items");
        assert!(matches!(
            put(&d, "1").await,
            Err(StoreError::QuotaExceeded { .. })
        ));
    }

    #[tokio::test]
    async fn file_database_passes_the_contract_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("items.db").display());
        let store = SqliteItemStore::connect(&url).await.unwrap();
        portcullis_domain::testkit::item_store::run(Arc::new(store.clone())).await;
        let owner = Subject::new("reopen").unwrap();
        let id = ItemId::new("kept").unwrap();
        let written = store
            .put(
                &owner,
                &id,
                ItemData::parse("[1]").unwrap(),
                Precondition::NONE,
                Quota::UNLIMITED,
            )
            .await
            .unwrap();
        drop(store);
        let reopened = SqliteItemStore::connect(&url).await.unwrap();
        assert_eq!(
            reopened.get(&owner, &id).await.unwrap(),
            Some(written.clone())
        );
        let next = reopened
            .put(
                &owner,
                &id,
                ItemData::parse("[2]").unwrap(),
                Precondition::NONE,
                Quota::UNLIMITED,
            )
            .await
            .unwrap();
        assert!(
            next.version > written.version,
            "the version counter survives a reopen"
        );
    }
}
