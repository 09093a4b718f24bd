//! The verified-token cache: a token that verified once is not verified again until it expires.
//!
//! Keyed by the SHA-256 of the token (a collision would be needed to reuse another token's
//! entry), bounded in entries, each entry dropped at the token's `exp` at the latest. An entry
//! also remembers the `kid` that verified it, so a hit is refused once that key has left the
//! issuer's key set.

use portcullis_domain::token::VerifiedToken;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A cached verification.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub token: Arc<VerifiedToken>,
    pub kid: Arc<str>,
}

/// Evicts each entry at its token's `exp`.
struct UntilExpiry;

impl moka::Expiry<[u8; 32], Entry> for UntilExpiry {
    fn expire_after_create(&self, _: &[u8; 32], entry: &Entry, _: Instant) -> Option<Duration> {
        let exp = UNIX_EPOCH + Duration::from_secs(entry.token.expires_at);
        Some(
            exp.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO),
        )
    }
}

/// A bounded cache of verified tokens.
#[derive(Clone)]
pub(crate) struct TokenCache {
    entries: moka::sync::Cache<[u8; 32], Entry>,
}

impl TokenCache {
    pub fn new(capacity: u64) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExpiry)
                .build(),
        }
    }

    pub fn key(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// The cached verification, if present and its token has not expired.
    pub fn get(&self, key: &[u8; 32], now_unix: u64) -> Option<Entry> {
        self.entries
            .get(key)
            .filter(|entry| now_unix < entry.token.expires_at)
    }

    pub fn insert(&self, key: [u8; 32], entry: Entry) {
        self.entries.insert(key, entry);
    }

    pub fn remove(&self, key: &[u8; 32]) {
        self.entries.invalidate(key);
    }
}
