//! The Redis adapter of the ephemeral-record port: one key per record under a prefix, each with
//! Redis's own expiry, and single commands for the atomic operations (`GETDEL` for single-use
//! takes, `SET NX` for first-writer-wins, `PEXPIRE` for touches that never recreate). No command
//! spans two keys, so the records work unchanged on Redis Cluster.

use async_trait::async_trait;
use portcullis_domain::cause::Cause;
use portcullis_domain::ephemeral::{EphemeralError, EphemeralStore};
use portcullis_redis::RedisConnection;
use std::time::Duration;

/// Login records (sessions, codes, consents, device grants) on Redis.
#[derive(Clone)]
pub struct RedisEphemeralStore {
    connection: RedisConnection,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisEphemeralStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisEphemeralStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisEphemeralStore {
    /// A store on an established connection; keys start with `prefix`; every call gives up
    /// after `timeout`.
    pub fn new(connection: impl Into<RedisConnection>, prefix: &str, timeout: Duration) -> Self {
        Self {
            connection: connection.into(),
            prefix: prefix.to_owned(),
            timeout,
        }
    }

    async fn query<T: redis::FromRedisValue>(
        &self,
        command: redis::Cmd,
    ) -> Result<T, EphemeralError> {
        let mut connection = self.connection.clone();
        match tokio::time::timeout(self.timeout, command.query_async(&mut connection)).await {
            Ok(result) => result.map_err(|e| EphemeralError(Cause::new(e))),
            Err(elapsed) => Err(EphemeralError(Cause::new(elapsed))),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

/// Redis refuses an expiry of 0 ms; the shortest is 1.
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl EphemeralStore for RedisEphemeralStore {
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), EphemeralError> {
        let mut command = redis::cmd("SET");
        command
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(millis(ttl));
        self.query::<()>(command).await
    }

    async fn put_new(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<bool, EphemeralError> {
        let mut command = redis::cmd("SET");
        command
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl));
        Ok(self.query::<Option<String>>(command).await?.is_some())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        let mut command = redis::cmd("GET");
        command.arg(self.key(key));
        self.query(command).await
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        let mut command = redis::cmd("GETDEL");
        command.arg(self.key(key));
        self.query(command).await
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<bool, EphemeralError> {
        let mut command = redis::cmd("PEXPIRE");
        command.arg(self.key(key)).arg(millis(ttl));
        Ok(self.query::<i64>(command).await? == 1)
    }

    async fn delete(&self, key: &str) -> Result<(), EphemeralError> {
        let mut command = redis::cmd("DEL");
        command.arg(self.key(key));
        self.query::<()>(command).await
    }
}
