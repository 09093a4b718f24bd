//! The SQLite item store: the embedded default for one host.

use crate::rows;
use async_trait::async_trait;
use portcullis_domain::identity::Subject;
use portcullis_domain::item::{Item, ItemData, ItemId, Version};
use portcullis_domain::store::{ItemStore, Precondition, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
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

fn unavailable(error: sqlx::Error) -> StoreError {
    StoreError::Unavailable(error.to_string())
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
            .busy_timeout(Duration::from_secs(5));
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
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
        Ok(Self {
            pool,
            write_lock: Default::default(),
        })
    }

    /// Starts a write transaction and checks `precondition` against the item's current version,
    /// which it returns.
    async fn begin_checked(
        &self,
        owner: &Subject,
        id: &ItemId,
        precondition: Precondition,
    ) -> Result<(sqlx::Transaction<'static, sqlx::Sqlite>, Option<i64>), StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT version FROM items WHERE owner = ? AND id = ?")
                .bind(owner.as_str())
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(unavailable)?;
        check(precondition, current.map(|v| rows::version(v).0))?;
        Ok((tx, current))
    }
}

fn check(precondition: Precondition, current: Option<u64>) -> Result<(), StoreError> {
    let holds = match precondition {
        Precondition::None => true,
        Precondition::Matches(Version(v)) => current == Some(v),
        Precondition::Exists => current.is_some(),
        Precondition::Absent => current.is_none(),
    };
    holds.then_some(()).ok_or(StoreError::PreconditionFailed)
}

#[async_trait]
impl ItemStore for SqliteItemStore {
    async fn get(&self, owner: &Subject, id: &ItemId) -> Result<Option<Item>, StoreError> {
        let row = sqlx::query("SELECT data, version FROM items WHERE owner = ? AND id = ?")
            .bind(owner.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(row.map(|row| rows::item(owner, id, row.get(0), row.get(1))))
    }

    async fn put(
        &self,
        owner: &Subject,
        id: &ItemId,
        data: ItemData,
        precondition: Precondition,
    ) -> Result<Item, StoreError> {
        let _writer = self.write_lock.lock().await;
        let (mut tx, _) = self.begin_checked(owner, id, precondition).await?;
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
        let (mut tx, current) = self.begin_checked(owner, id, precondition).await?;
        let deleted = sqlx::query("DELETE FROM items WHERE owner = ? AND id = ?")
            .bind(owner.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?
            .rows_affected();
        tx.commit().await.map_err(unavailable)?;
        Ok(current.filter(|_| deleted > 0).map(rows::version))
    }

    async fn list(
        &self,
        owner: &Subject,
        after: Option<&ItemId>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let found = sqlx::query(
            "SELECT id, data, version FROM items WHERE owner = ? AND id > ? ORDER BY id LIMIT ?",
        )
        .bind(owner.as_str())
        .bind(after.map_or("", ItemId::as_str))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        found
            .into_iter()
            .map(|row| rows::listed(owner, row.get(0), row.get(1), row.get(2)))
            .collect()
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
                Precondition::None,
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
                Precondition::None,
            )
            .await
            .unwrap();
        assert!(
            next.version > written.version,
            "the version counter survives a reopen"
        );
    }
}
