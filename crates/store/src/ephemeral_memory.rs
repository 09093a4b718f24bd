//! The in-process adapter of the ephemeral-record port, for a single issuer replica: a moka
//! cache whose entries each expire at their own time, bounded in bytes so a flood of login
//! attempts cannot grow it without limit (the least used records go first).

use async_trait::async_trait;
use moka::ops::compute::Op;
use moka::sync::Cache;
use moka::Expiry;
use portcullis_domain::ephemeral::{EphemeralError, EphemeralStore};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most bytes of records kept by default (keys and values).
pub const DEFAULT_CAPACITY_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone)]
struct Record {
    value: Arc<Vec<u8>>,
    expires_at: Instant,
}

impl Record {
    fn new(value: Vec<u8>, ttl: Duration) -> Self {
        Self {
            value: Arc::new(value),
            expires_at: Instant::now() + ttl,
        }
    }

    fn live(self) -> Option<Vec<u8>> {
        (self.expires_at > Instant::now()).then(|| self.value.as_ref().clone())
    }
}

struct OwnExpiry;

impl Expiry<String, Record> for OwnExpiry {
    fn expire_after_create(&self, _: &String, record: &Record, now: Instant) -> Option<Duration> {
        Some(record.expires_at.saturating_duration_since(now))
    }

    fn expire_after_update(
        &self,
        _: &String,
        record: &Record,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(record.expires_at.saturating_duration_since(now))
    }
}

/// Login records in this process only: they die with it, and other replicas never see them.
#[derive(Clone)]
pub struct MemoryEphemeralStore {
    records: Cache<String, Record>,
}

impl std::fmt::Debug for MemoryEphemeralStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryEphemeralStore")
            .finish_non_exhaustive()
    }
}

impl Default for MemoryEphemeralStore {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY_BYTES)
    }
}

impl MemoryEphemeralStore {
    /// A store holding at most about `bytes` of keys and values.
    pub fn with_capacity(bytes: u64) -> Self {
        let records = Cache::builder()
            .max_capacity(bytes)
            .weigher(|key: &String, record: &Record| {
                u32::try_from(key.len() + record.value.len()).unwrap_or(u32::MAX)
            })
            .expire_after(OwnExpiry)
            .build();
        Self { records }
    }
}

#[async_trait]
impl EphemeralStore for MemoryEphemeralStore {
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), EphemeralError> {
        self.records.insert(key.to_owned(), Record::new(value, ttl));
        Ok(())
    }

    async fn put_new(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<bool, EphemeralError> {
        let entry =
            self.records
                .entry(key.to_owned())
                .and_compute_with(|existing| match existing {
                    Some(entry) if entry.value().expires_at > Instant::now() => Op::Nop,
                    _ => Op::Put(Record::new(value, ttl)),
                });
        Ok(matches!(
            entry,
            moka::ops::compute::CompResult::Inserted(_)
                | moka::ops::compute::CompResult::ReplacedWith(_)
        ))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        Ok(self.records.get(key).and_then(Record::live))
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        Ok(self.records.remove(key).and_then(Record::live))
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<bool, EphemeralError> {
        let result =
            self.records
                .entry(key.to_owned())
                .and_compute_with(|existing| match existing {
                    Some(entry) if entry.value().expires_at > Instant::now() => {
                        let mut record = entry.into_value();
                        record.expires_at = Instant::now() + ttl;
                        Op::Put(record)
                    }
                    _ => Op::Nop,
                });
        Ok(matches!(
            result,
            moka::ops::compute::CompResult::ReplacedWith(_)
        ))
    }

    async fn delete(&self, key: &str) -> Result<(), EphemeralError> {
        self.records.invalidate(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_memory_store_keeps_the_port_contract() {
        portcullis_domain::testkit::ephemeral_store_contract(&MemoryEphemeralStore::default())
            .await;
    }
}
