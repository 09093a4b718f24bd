//! An in-memory [`EphemeralStore`] on an injected clock, so login-record tests expire sessions,
//! codes and device grants by advancing a [`ManualClock`](crate::clock::ManualClock) instead of
//! sleeping.

use crate::clock::Clock;
use crate::ephemeral::{EphemeralError, EphemeralStore};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Records in a map, each expiring at a time of the injected clock.
#[derive(Debug)]
pub struct FakeEphemeralStore {
    clock: Arc<dyn Clock>,
    records: Mutex<HashMap<String, (Vec<u8>, SystemTime)>>,
}

impl FakeEphemeralStore {
    /// A store timed by `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            records: Mutex::new(HashMap::new()),
        }
    }

    fn live<R>(
        &self,
        key: &str,
        f: impl FnOnce(&mut HashMap<String, (Vec<u8>, SystemTime)>, bool) -> R,
    ) -> R {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.clock.now();
        let live = records.get(key).is_some_and(|(_, expires)| *expires > now);
        if !live {
            records.remove(key);
        }
        f(&mut records, live)
    }
}

#[async_trait]
impl EphemeralStore for FakeEphemeralStore {
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), EphemeralError> {
        let expires = self.clock.now() + ttl;
        self.live(key, |records, _| {
            records.insert(key.to_owned(), (value, expires))
        });
        Ok(())
    }

    async fn put_new(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<bool, EphemeralError> {
        let expires = self.clock.now() + ttl;
        Ok(self.live(key, |records, live| {
            if !live {
                records.insert(key.to_owned(), (value, expires));
            }
            !live
        }))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        Ok(self.live(key, |records, _| records.get(key).map(|(v, _)| v.clone())))
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        Ok(self.live(key, |records, _| records.remove(key).map(|(v, _)| v)))
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<bool, EphemeralError> {
        let expires = self.clock.now() + ttl;
        Ok(self.live(key, |records, live| {
            if let Some(record) = records.get_mut(key) {
                record.1 = expires;
            }
            live
        }))
    }

    async fn delete(&self, key: &str) -> Result<(), EphemeralError> {
        self.live(key, |records, _| records.remove(key));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    #[tokio::test]
    async fn the_fake_keeps_the_port_contract() {
        super::super::ephemeral_store_contract(&FakeEphemeralStore::new(Arc::new(SystemClock)))
            .await;
    }
}
