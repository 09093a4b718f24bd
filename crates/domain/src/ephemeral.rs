//! Short-lived records every issuer replica must see alike: browser sessions, authorization
//! codes, remembered consents and device grants. One small port with the few atomic operations
//! those records need (a single-use take, a first-writer-wins put, an expiry extension that never
//! resurrects), so Redis and an in-process map can both implement it exactly.

use crate::cause::Cause;
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
#[error("ephemeral record store unavailable")]
pub struct EphemeralError(#[source] pub Cause);

/// Keeps byte values under string keys, each for a time to live.
#[async_trait]
pub trait EphemeralStore: Send + Sync {
    /// Stores `value` under `key` for `ttl`, replacing any earlier value.
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), EphemeralError>;

    /// Stores `value` only if `key` holds nothing; whether it was stored. The first of several
    /// concurrent writers wins (a device grant's decision).
    async fn put_new(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<bool, EphemeralError>;

    /// The value under `key`, if it has not expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError>;

    /// Removes and returns the value: of concurrent callers at most one gets it (single-use
    /// authorization codes).
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError>;

    /// Gives an existing value `ttl` to live from now; `false` if there is none. Never creates
    /// one, so a session ended by logout cannot be revived by a request that read it before.
    async fn touch(&self, key: &str, ttl: Duration) -> Result<bool, EphemeralError>;

    /// Removes the value, if any.
    async fn delete(&self, key: &str) -> Result<(), EphemeralError>;
}

/// JSON records on an [`EphemeralStore`]: what the login records are stored as.
pub(crate) struct JsonRecords<'a>(pub &'a dyn EphemeralStore);

impl JsonRecords<'_> {
    pub(crate) async fn put<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), EphemeralError> {
        self.0.put(key, encode(value)?, ttl).await
    }

    pub(crate) async fn put_new<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<bool, EphemeralError> {
        self.0.put_new(key, encode(value)?, ttl).await
    }

    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, EphemeralError> {
        self.0
            .get(key)
            .await?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    pub(crate) async fn take<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, EphemeralError> {
        self.0
            .take(key)
            .await?
            .map(|bytes| decode(&bytes))
            .transpose()
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, EphemeralError> {
    serde_json::to_vec(value).map_err(|e| EphemeralError(Cause::new(e)))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, EphemeralError> {
    serde_json::from_slice(bytes).map_err(|e| EphemeralError(Cause::new(e)))
}
