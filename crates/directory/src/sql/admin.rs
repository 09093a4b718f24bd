//! The writable side of the SQL identity store: every change in one transaction, read-then-write
//! changes on a locked row.

use super::{
    account_of, client_of, corrupt, now_seconds, to_json, unavailable, NewRow, SqlDirectory,
};
use crate::spec::{ClientSpec, UserSpec};
use async_trait::async_trait;
use portcullis_domain::directory::{ClientRecord, UserRecord};
use portcullis_domain::directory_admin::{
    AdminError, ClientChange, DirectoryAdmin, UserAccount, UserChange,
};
use portcullis_domain::identity::{ClientId, Username};
use sqlx::Row;

#[async_trait]
impl DirectoryAdmin for SqlDirectory {
    async fn account(&self, username: &Username) -> Result<Option<UserAccount>, AdminError> {
        self.account_named(username.as_str()).await
    }

    async fn create_user(&self, user: UserRecord) -> Result<(), AdminError> {
        self.create_all(vec![user], Vec::new()).await
    }

    async fn update_user(&self, username: &Username, change: UserChange) -> Result<(), AdminError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let select = format!(
            "SELECT spec, disabled, sessions_not_before, subject FROM directory_users \
             WHERE username = $1{}",
            self.lock_clause
        );
        let row = sqlx::query(&select)
            .bind(username.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| AdminError::NotFound(format!("user {username}")))?;
        let account = account_of(&row)?;
        let mut spec = UserSpec::from(&account.record);
        let mut disabled = account.disabled;
        let mut not_before = account.record.sessions_not_before as i64;
        match change {
            UserChange::Password(hash) => {
                spec.password_hash = hash.expose().to_owned();
                not_before = now_seconds();
            }
            UserChange::Rehash(hash) => spec.password_hash = hash.expose().to_owned(),
            UserChange::Enabled(enabled) => {
                // Re-enabling does not bring back the sessions that disabling ended.
                if enabled && disabled {
                    not_before = now_seconds();
                }
                disabled = !enabled;
            }
            UserChange::Scopes(scopes) => {
                spec.scopes = scopes.iter().map(|s| s.as_str().to_owned()).collect();
            }
            UserChange::Profile { name, email } => {
                spec.name = name;
                spec.email = email;
            }
        }
        spec.clone()
            .validate()
            .map_err(|e| AdminError::Invalid(e.to_string()))?;
        sqlx::query(
            "UPDATE directory_users SET spec = $2, disabled = $3, sessions_not_before = $4 \
             WHERE username = $1",
        )
        .bind(username.as_str())
        .bind(to_json(&spec)?)
        .bind(i64::from(disabled))
        .bind(not_before)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn delete_user(&self, username: &Username) -> Result<(), AdminError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let retired = sqlx::query(
            "INSERT INTO directory_retired_subjects (subject) \
             SELECT subject FROM directory_users WHERE username = $1",
        )
        .bind(username.as_str())
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        if retired.rows_affected() == 0 {
            return Err(AdminError::NotFound(format!("user {username}")));
        }
        sqlx::query("DELETE FROM directory_users WHERE username = $1")
            .bind(username.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn users(&self, after: Option<&str>, limit: u32) -> Result<Vec<UserAccount>, AdminError> {
        let rows = sqlx::query(
            "SELECT spec, disabled, sessions_not_before, subject FROM directory_users \
             WHERE username > $1 ORDER BY username LIMIT $2",
        )
        .bind(after.unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(account_of).collect()
    }

    async fn create_client(&self, client: ClientRecord) -> Result<(), AdminError> {
        self.create_all(Vec::new(), vec![client]).await
    }

    async fn create_all(
        &self,
        users: Vec<UserRecord>,
        clients: Vec<ClientRecord>,
    ) -> Result<(), AdminError> {
        let mut records = Vec::with_capacity(users.len() + clients.len());
        for user in &users {
            records.push(NewRow {
                name: user.username.to_string(),
                statement: "INSERT INTO directory_users \
                    (username, spec, subject, sessions_not_before) VALUES ($1, $2, $3, $4)",
                spec: to_json(&UserSpec::from(user))?,
                subject: Some(user.subject.to_string()),
            });
        }
        for client in &clients {
            records.push(NewRow {
                name: client.client_id.to_string(),
                statement: "INSERT INTO directory_clients (client_id, spec) VALUES ($1, $2)",
                spec: to_json(&ClientSpec::from(client))?,
                subject: None,
            });
        }
        self.insert(records).await
    }

    async fn update_client(
        &self,
        client_id: &ClientId,
        change: ClientChange,
    ) -> Result<(), AdminError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let select = format!(
            "SELECT spec FROM directory_clients WHERE client_id = $1{}",
            self.lock_clause
        );
        let row = sqlx::query(&select)
            .bind(client_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| AdminError::NotFound(format!("client {client_id}")))?;
        let stored: String = row.try_get(0).map_err(unavailable)?;
        let mut spec: ClientSpec =
            serde_json::from_str(&stored).map_err(|e| corrupt("client", e))?;
        match change {
            ClientChange::Secret(hash) if spec.secret_hash.is_some() => {
                spec.secret_hash = Some(hash.expose().to_owned());
            }
            ClientChange::Secret(_) => {
                return Err(AdminError::Invalid(format!(
                    "client {client_id} is public: it has no secret to rotate"
                )))
            }
            ClientChange::Scopes(scopes) => {
                spec.scopes = scopes.iter().map(|s| s.as_str().to_owned()).collect();
            }
        }
        spec.clone()
            .validate()
            .map_err(|e| AdminError::Invalid(e.to_string()))?;
        sqlx::query("UPDATE directory_clients SET spec = $2 WHERE client_id = $1")
            .bind(client_id.as_str())
            .bind(to_json(&spec)?)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn delete_client(&self, client_id: &ClientId) -> Result<(), AdminError> {
        let deleted = sqlx::query("DELETE FROM directory_clients WHERE client_id = $1")
            .bind(client_id.as_str())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        match deleted.rows_affected() {
            0 => Err(AdminError::NotFound(format!("client {client_id}"))),
            _ => Ok(()),
        }
    }

    async fn clients(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ClientRecord>, AdminError> {
        let rows = sqlx::query(
            "SELECT spec FROM directory_clients WHERE client_id > $1 ORDER BY client_id LIMIT $2",
        )
        .bind(after.unwrap_or_default())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let spec: String = row.try_get(0).map_err(unavailable)?;
                client_of(serde_json::from_str(&spec).map_err(|e| corrupt("client", e))?)
            })
            .collect()
    }
}
