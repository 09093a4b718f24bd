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
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use sqlx::{Postgres, Row, Transaction};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// Items in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgItemStore {
    pool: PgPool,
}

/// Why the PostgreSQL store could not be opened at start-up.
#[derive(Debug, thiserror::Error)]
pub enum PgConnectError {
    /// The TLS handshake failed: the server's certificate does not verify against the trusted
    /// roots (or names another host than the URL's), or the server does not offer TLS. Retrying
    /// cannot help; the configuration must change.
    #[error("TLS with PostgreSQL failed")]
    Tls(#[source] sqlx::Error),
    /// Anything else: unreachable, refused login, a failed migration.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PgItemStore {
    /// Connects to a `postgres://` URL (waiting at most `acquire_timeout` for a connection) and
    /// applies pending migrations. With `root_cert`, the connection is `sslmode=verify-full`
    /// against that PEM bundle (beside the public web roots), whatever the URL says; without
    /// it, the URL's own `sslmode` / `sslrootcert` apply.
    pub async fn connect(
        url: &str,
        root_cert: Option<&Path>,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, PgConnectError> {
        let mut options = PgConnectOptions::from_str(url).map_err(unavailable)?;
        if let Some(root) = root_cert {
            options = options.ssl_mode(PgSslMode::VerifyFull).ssl_root_cert(root);
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout)
            .connect_with(options)
            .await
            .map_err(|error| match tls_failure(&error) {
                true => PgConnectError::Tls(error),
                false => unavailable(error).into(),
            })?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(Cause::new(format!("migration failed: {e}"))))?;
        Ok(Self { pool })
    }
}

/// Whether `error` is a failed TLS handshake: sqlx reports some as TLS errors and passes
/// rustls's own (a certificate that does not verify) through as I/O errors.
fn tls_failure(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Tls(_) => true,
        sqlx::Error::Io(io) => io
            .get_ref()
            .is_some_and(|inner| inner.is::<rustls::Error>()),
        _ => false,
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
