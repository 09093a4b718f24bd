//! The knobs of [`super::items::ItemService`]: cache lifetimes, quotas and page sizes.

use crate::duration_text::parse;
use crate::store::Quota;
use std::time::Duration;

/// Default [`CachePolicy::ttl`], as the data API's `DATA_API_CACHE_TTL` writes it.
pub const DEFAULT_CACHE_TTL: &str = "60s";
/// Default [`CachePolicy::negative_ttl`] (`DATA_API_CACHE_NEGATIVE_TTL`).
pub const DEFAULT_CACHE_NEGATIVE_TTL: &str = "5s";
/// Default [`CachePolicy::stale_while_revalidate`] (`DATA_API_CACHE_STALE_WHILE_REVALIDATE`).
pub const DEFAULT_CACHE_STALE_WHILE_REVALIDATE: &str = "30s";
/// Default [`CachePolicy::stale_if_error`] (`DATA_API_CACHE_STALE_IF_ERROR`).
pub const DEFAULT_CACHE_STALE_IF_ERROR: &str = "5m";
/// Default [`CachePolicy::lease_wait`] (`DATA_API_CACHE_LEASE_WAIT`).
pub const DEFAULT_CACHE_LEASE_WAIT: &str = "500ms";

/// Cache lifetimes.
#[derive(Clone, Copy, Debug)]
pub struct CachePolicy {
    /// How long a found item is fresh (±10% jitter, so entries filled together do not expire
    /// together).
    pub ttl: Duration,
    /// How long "not found" stays cached; short, since a create replaces it anyway.
    pub negative_ttl: Duration,
    /// After freshness ends, how long the stale item is still served while one background
    /// refresh runs.
    pub stale_while_revalidate: Duration,
    /// After freshness ends, how long the stale item is served when the store fails.
    pub stale_if_error: Duration,
    /// How long a replica that missed holds the right to load an item for everyone.
    pub lease_ttl: Duration,
    /// How long other replicas wait for that load before loading themselves.
    pub lease_wait: Duration,
    /// After a cache failure, how long this replica reads the store instead of trusting cache
    /// hits, so a write-through lost in an outage is never served stale (see `cache_repair`).
    /// It must outlast the cache's circuit-breaker cool-down on every replica.
    pub recovery_grace: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            ttl: parse(DEFAULT_CACHE_TTL),
            negative_ttl: parse(DEFAULT_CACHE_NEGATIVE_TTL),
            stale_while_revalidate: parse(DEFAULT_CACHE_STALE_WHILE_REVALIDATE),
            stale_if_error: parse(DEFAULT_CACHE_STALE_IF_ERROR),
            lease_ttl: Duration::from_secs(2),
            lease_wait: parse(DEFAULT_CACHE_LEASE_WAIT),
            recovery_grace: Duration::from_secs(5),
        }
    }
}

/// What one owner may keep and one listing may carry.
#[derive(Clone, Copy, Debug)]
pub struct ItemLimits {
    /// Per-owner quotas, enforced by the store with each write.
    pub quota: Quota,
    /// Bytes of data after which a list page ends (it always holds at least one item).
    pub page_max_bytes: usize,
}

/// Most items one list page may ask for.
pub const MAX_PAGE_ITEMS: usize = 1000;

/// Default most items per owner: far above any ordinary use, low enough that one account
/// cannot fill a database.
pub const DEFAULT_MAX_ITEMS_PER_OWNER: u64 = 10_000;
/// Default most bytes of data per owner (256 MiB).
pub const DEFAULT_MAX_BYTES_PER_OWNER: u64 = 256 * 1024 * 1024;
/// Default byte budget of a list page (1 MiB): with the one item that may cross it, a page
/// holds at most 2 MiB of data.
pub const DEFAULT_PAGE_MAX_BYTES: usize = 1024 * 1024;

impl Default for ItemLimits {
    fn default() -> Self {
        Self {
            quota: Quota {
                max_items: DEFAULT_MAX_ITEMS_PER_OWNER,
                max_bytes: DEFAULT_MAX_BYTES_PER_OWNER,
            },
            page_max_bytes: DEFAULT_PAGE_MAX_BYTES,
        }
    }
}
