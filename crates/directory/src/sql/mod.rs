//! The SQL identity store (`ISSUER_DATABASE_URL`): users and clients in SQLite (one host) or
//! PostgreSQL (shared by every issuer replica), changed through [`DirectoryAdmin`] and read on
//! every lookup, so a change made on one replica is in force on all of them at the next login or
//! refresh, with no cache to invalidate. A lookup is one indexed row read, small next to the
//! argon2 check that follows it.
//!
//! One implementation serves both databases through sqlx's `Any` driver: the statements are
//! plain SQL both accept (`$N` parameters, `TEXT` and `BIGINT` columns). On PostgreSQL the
//! tables and their migration record live in a schema of their own, [`POSTGRES_SCHEMA`], so the
//! issuer may share a database with the data API without their migrations colliding.

mod admin;

use crate::spec::{ClientSpec, UserSpec};
use async_trait::async_trait;
use portcullis_domain::cause::Cause;
use portcullis_domain::directory::{ClientRecord, DirectoryError, UserDirectory, UserRecord};
use portcullis_domain::directory_admin::{AdminError, UserAccount};
use portcullis_domain::identity::{ClientId, Username};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The PostgreSQL schema of the identity store.
pub const POSTGRES_SCHEMA: &str = "portcullis_identity";

/// Users and clients in an SQL database.
#[derive(Debug, Clone)]
pub struct SqlDirectory {
    pool: AnyPool,
    /// Read-then-write changes lock their row with `FOR UPDATE` (PostgreSQL); SQLite has one
    /// writer at a time and no such clause.
    lock_clause: &'static str,
}

fn unavailable(error: impl std::error::Error + Send + Sync + 'static) -> AdminError {
    AdminError::Unavailable(Cause::new(error))
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> AdminError {
    AdminError::Unavailable(Cause::new(format!("stored {what} is unusable: {detail}")))
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl SqlDirectory {
    /// Connects to a `sqlite://PATH` (created if missing) or `postgres://` URL and applies
    /// pending migrations. The database must be the issuer's own: the data API's items live
    /// elsewhere.
    pub async fn connect(url: &str) -> Result<Self, AdminError> {
        sqlx::any::install_default_drivers();
        let url = match url.strip_prefix("sqlite://") {
            Some(path) if !path.contains('?') && !path.contains(":memory:") => {
                format!("sqlite://{path}?mode=rwc")
            }
            _ => url.to_owned(),
        };
        let in_memory = url.contains(":memory:");
        let postgres = url.starts_with("postgres");
        let pool = AnyPoolOptions::new()
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if postgres {
                        // Concurrent first starts may race to create it; whoever loses finds it.
                        let create = format!("CREATE SCHEMA IF NOT EXISTS {POSTGRES_SCHEMA}");
                        let _ = sqlx::query(&create).execute(&mut *connection).await;
                        let path = format!("SET search_path TO {POSTGRES_SCHEMA}");
                        sqlx::query(&path).execute(&mut *connection).await?;
                    }
                    Ok(())
                })
            })
            // An in-memory SQLite database exists per connection: keep exactly one.
            .max_connections(if in_memory { 1 } else { 5 })
            .min_connections(if in_memory { 1 } else { 0 })
            .idle_timeout((!in_memory).then_some(Duration::from_secs(600)))
            .max_lifetime((!in_memory).then_some(Duration::from_secs(3600)))
            .acquire_timeout(Duration::from_secs(5))
            .connect(&url)
            .await
            .map_err(unavailable)?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| AdminError::Unavailable(Cause::new(format!("migration failed: {e}"))))?;
        Ok(Self {
            pool,
            lock_clause: if postgres { " FOR UPDATE" } else { "" },
        })
    }

    async fn account_with_subject(&self, subject: &str) -> Result<Option<UserAccount>, AdminError> {
        let row = sqlx::query(
            "SELECT spec, disabled, sessions_not_before, subject FROM directory_users \
             WHERE subject = $1",
        )
        .bind(subject)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.map(|row| account_of(&row)).transpose()
    }

    async fn account_named(&self, username: &str) -> Result<Option<UserAccount>, AdminError> {
        let row = sqlx::query(
            "SELECT spec, disabled, sessions_not_before, subject FROM directory_users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.map(|row| account_of(&row)).transpose()
    }

    async fn client_spec(&self, client_id: &str) -> Result<Option<ClientSpec>, AdminError> {
        let row = sqlx::query("SELECT spec FROM directory_clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.map(|row| {
            let spec: String = row.try_get(0).map_err(unavailable)?;
            serde_json::from_str(&spec).map_err(|e| corrupt("client", e))
        })
        .transpose()
    }

    /// Whether `name` is taken by a user's name or subject, a client, or a deleted user's
    /// subject: they share one namespace, because a client's own tokens carry its id as their
    /// subject, and a subject once used is never given to anyone else.
    /// `retired`: whether a deleted user's subject counts too (for anything that becomes a
    /// token subject: a user's subject, a client id; a login name alone does not).
    async fn name_taken(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        name: &str,
        retired: bool,
    ) -> Result<bool, AdminError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM directory_users WHERE username = $1 OR subject = $1) \
             + (SELECT COUNT(*) FROM directory_clients WHERE client_id = $1) \
             + (SELECT COUNT(*) FROM directory_retired_subjects WHERE subject = $1 AND $2 = 1)",
        )
        .bind(name)
        .bind(i64::from(retired))
        .fetch_one(&mut **tx)
        .await
        .map_err(unavailable)?;
        Ok(row.try_get::<i64, _>(0).map_err(unavailable)? > 0)
    }

    /// Inserts `records` in one transaction: all or none.
    async fn insert(&self, records: Vec<NewRow>) -> Result<(), AdminError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        for NewRow {
            name,
            statement,
            spec,
            subject,
        } in records
        {
            // A user row: its name among names, its subject among every subject ever used; a
            // client row: its id, which is its tokens' subject, among both.
            let taken = match &subject {
                Some(subject) => {
                    Self::name_taken(&mut tx, &name, false).await?
                        || Self::name_taken(&mut tx, subject, true).await?
                }
                None => Self::name_taken(&mut tx, &name, true).await?,
            };
            if taken {
                return Err(AdminError::Duplicate(name));
            }
            let mut query = sqlx::query(statement).bind(name.as_str()).bind(spec);
            if let Some(subject) = subject {
                // Nothing from before the user existed counts (a second's margin, for the
                // logins that follow a creation at once).
                query = query.bind(subject).bind(now_seconds() - 1);
            }
            let inserted = query.execute(&mut *tx).await;
            match inserted {
                Ok(_) => {}
                // Another replica inserted the same name between the check and the insert.
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err(AdminError::Duplicate(name))
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        tx.commit().await.map_err(unavailable)
    }
}

/// One row to insert: its name (user name or client id), statement, spec and, for a user, the
/// subject.
struct NewRow {
    name: String,
    statement: &'static str,
    spec: String,
    subject: Option<String>,
}

fn account_of(row: &AnyRow) -> Result<UserAccount, AdminError> {
    let spec: String = row.try_get(0).map_err(unavailable)?;
    let disabled: i64 = row.try_get(1).map_err(unavailable)?;
    let not_before: i64 = row.try_get(2).map_err(unavailable)?;
    let subject: String = row.try_get(3).map_err(unavailable)?;
    let mut spec: UserSpec = serde_json::from_str(&spec).map_err(|e| corrupt("user", e))?;
    // The column is the subject's one home; the spec's copy is only what was written with it.
    spec.subject = Some(subject);
    let mut record = spec.validate().map_err(|e| corrupt("user", e))?;
    record.sessions_not_before = not_before.max(0) as u64;
    Ok(UserAccount {
        record,
        disabled: disabled != 0,
    })
}

fn client_of(spec: ClientSpec) -> Result<ClientRecord, AdminError> {
    spec.validate().map_err(|e| corrupt("client", e))
}

fn to_json(value: &impl serde::Serialize) -> Result<String, AdminError> {
    serde_json::to_string(value).map_err(unavailable)
}

#[async_trait]
impl UserDirectory for SqlDirectory {
    async fn user(&self, username: &Username) -> Result<Option<UserRecord>, DirectoryError> {
        let account = self
            .account_named(username.as_str())
            .await
            .map_err(|e| DirectoryError(Cause::new(e)))?;
        Ok(account.filter(|a| !a.disabled).map(|a| a.record))
    }

    async fn user_by_subject(&self, subject: &str) -> Result<Option<UserRecord>, DirectoryError> {
        let account = self
            .account_with_subject(subject)
            .await
            .map_err(|e| DirectoryError(Cause::new(e)))?;
        Ok(account.filter(|a| !a.disabled).map(|a| a.record))
    }

    async fn client(&self, client_id: &ClientId) -> Result<Option<ClientRecord>, DirectoryError> {
        let spec = self
            .client_spec(client_id.as_str())
            .await
            .map_err(|e| DirectoryError(Cause::new(e)))?;
        spec.map(client_of)
            .transpose()
            .map_err(|e| DirectoryError(Cause::new(e)))
    }
}
