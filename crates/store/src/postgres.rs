//! The PostgreSQL item store: shared by every data API replica. Every write is one statement,
//! so its precondition is checked atomically with it, without explicit transactions or locks.

use crate::rows;
use async_trait::async_trait;
use portcullis_domain::identity::Subject;
use portcullis_domain::item::{Item, ItemData, ItemId, Version};
use portcullis_domain::store::{ItemStore, Precondition, StoreError};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Row;
use std::time::Duration;

/// Items in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgItemStore {
    pool: PgPool,
}

fn unavailable(error: sqlx::Error) -> StoreError {
    StoreError::Unavailable(error.to_string())
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
            .map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))?;
        Ok(Self { pool })
    }
}

const UPSERT: &str = "INSERT INTO items (owner, id, data, version) \
     VALUES ($1, $2, $3, nextval('item_versions')) \
     ON CONFLICT (owner, id) DO UPDATE SET data = EXCLUDED.data, version = EXCLUDED.version \
     RETURNING version";
const CREATE: &str = "INSERT INTO items (owner, id, data, version) \
     VALUES ($1, $2, $3, nextval('item_versions')) ON CONFLICT (owner, id) DO NOTHING \
     RETURNING version";
const REPLACE: &str = "UPDATE items SET data = $3, version = nextval('item_versions') \
     WHERE owner = $1 AND id = $2 RETURNING version";
const REPLACE_VERSION: &str = "UPDATE items SET data = $3, version = nextval('item_versions') \
     WHERE owner = $1 AND id = $2 AND version = $4 RETURNING version";

#[async_trait]
impl ItemStore for PgItemStore {
    async fn get(&self, owner: &Subject, id: &ItemId) -> Result<Option<Item>, StoreError> {
        let row = sqlx::query("SELECT data, version FROM items WHERE owner = $1 AND id = $2")
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
        let (sql, expected) = match precondition {
            Precondition::None => (UPSERT, None),
            Precondition::Absent => (CREATE, None),
            Precondition::Exists => (REPLACE, None),
            Precondition::Matches(Version(v)) => {
                (REPLACE_VERSION, Some(i64::try_from(v).unwrap_or(i64::MAX)))
            }
        };
        let mut query = sqlx::query_scalar::<_, i64>(sql)
            .bind(owner.as_str())
            .bind(id.as_str())
            .bind(data.as_str());
        if let Some(expected) = expected {
            query = query.bind(expected);
        }
        let version = query
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?
            .ok_or(StoreError::PreconditionFailed)?;
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
        let deleted: Option<i64> = match precondition {
            Precondition::Absent => {
                // "Delete only if absent" deletes nothing; it only reports.
                return match self.get(owner, id).await? {
                    Some(_) => Err(StoreError::PreconditionFailed),
                    None => Ok(None),
                };
            }
            Precondition::Matches(Version(v)) => sqlx::query_scalar(
                "DELETE FROM items WHERE owner = $1 AND id = $2 AND version = $3 RETURNING version",
            )
            .bind(owner.as_str())
            .bind(id.as_str())
            .bind(i64::try_from(v).unwrap_or(i64::MAX))
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?,
            Precondition::None | Precondition::Exists => sqlx::query_scalar(
                "DELETE FROM items WHERE owner = $1 AND id = $2 RETURNING version",
            )
            .bind(owner.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?,
        };
        match (deleted, precondition) {
            (None, Precondition::Matches(_) | Precondition::Exists) => {
                Err(StoreError::PreconditionFailed)
            }
            (deleted, _) => Ok(deleted.map(rows::version)),
        }
    }

    async fn list(
        &self,
        owner: &Subject,
        after: Option<&ItemId>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let found = sqlx::query(
            "SELECT id, data, version FROM items WHERE owner = $1 AND id > $2 ORDER BY id LIMIT $3",
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
