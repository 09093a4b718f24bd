//! The PostgreSQL item store: shared by every data API replica. Each write is one transaction
//! that locks its owner's usage row first, so its precondition and the owner's quota are
//! judged atomically with it, across replicas.

use crate::queries;
use crate::rows::{self, unavailable, Current};
use async_trait::async_trait;
use portcullis_domain::cause::Cause;
use portcullis_domain::identity::Subject;
use portcullis_domain::item::{Item, ItemData, ItemId, Version};
use portcullis_domain::store::{ItemStore, Listed, Precondition, Quota, StoreError, Usage};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};
use std::time::Duration;

/// Items in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgItemStore {
    pool: PgPool,
}

impl PgItemStore {
    /// Connects to a `postgres://` URL (waiting at most `acquire_timeout` for a connection) and
    /// applies pending migrations.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout)
            .connect(url)
            .await
            .map_err(unavailable)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(Cause::new(format!("migration failed: {e}"))))?;
        Ok(Self { pool })
    }
}

impl PgItemStore {
    /// Starts a write transaction holding the owner's usage row locked (so one owner's writes
    /// are judged one at a time, across replicas), and reads what a write is judged by. (The
    /// SQLite store's twin needs no row lock: one process writes, under its own lock. Versions
    /// differ too: a sequence here, a counter row there.)
    async fn begin_write(
        &self,
        owner: &Subject,
        id: &ItemId,
    ) -> Result<(Transaction<'static, Postgres>, Usage, Option<Current>), StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query(
            "INSERT INTO owner_usage (owner, items, bytes) VALUES ($1, 0, 0) \
             ON CONFLICT (owner) DO NOTHING",
        )
        .bind(owner.as_str())
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        let row = sqlx::query("SELECT items, bytes FROM owner_usage WHERE owner = $1 FOR UPDATE")
            .bind(owner.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(unavailable)?;
        let usage = Usage {
            items: rows::count(row.get(0)),
            bytes: rows::count(row.get(1)),
        };
        let current = queries::current(&mut tx, owner, id).await?;
        Ok((tx, usage, current))
    }
}

#[async_trait]
impl ItemStore for PgItemStore {
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
        let (mut tx, usage, current) = self.begin_write(owner, id).await?;
        let bytes = data.as_str().len() as u64;
        rows::judge(&precondition, quota, usage, current, Some(bytes))?;
        let version: i64 = sqlx::query_scalar(
            "INSERT INTO items (owner, id, data, version) \
             VALUES ($1, $2, $3, nextval('item_versions')) \
             ON CONFLICT (owner, id) DO UPDATE SET data = EXCLUDED.data, version = EXCLUDED.version \
             RETURNING version",
        )
        .bind(owner.as_str())
        .bind(id.as_str())
        .bind(data.as_str())
        .fetch_one(&mut *tx)
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
