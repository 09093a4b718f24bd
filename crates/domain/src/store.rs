//! The item store port: where items live durably.

use crate::cause::Cause;
use crate::identity::Subject;
use crate::item::{Item, ItemData, ItemId, Version};
use async_trait::async_trait;

/// The entity tags an `If-Match` or `If-None-Match` header names, as versions of this store.
/// Tags this API never issued are left out by the caller: they can never match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntityTags {
    /// `*`: any current version.
    Any,
    /// These versions (possibly none, for a list of tags that all fail to match).
    Versions(Vec<Version>),
}

impl EntityTags {
    fn names(&self, current: Version) -> bool {
        match self {
            Self::Any => true,
            Self::Versions(versions) => versions.contains(&current),
        }
    }
}

/// The condition a write is made under (HTTP `If-Match` / `If-None-Match`, RFC 9110 §13.1),
/// checked atomically with the write so two clients cannot both win a lost-update race.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Precondition {
    /// Holds when the item exists at a named version (strong comparison: the caller leaves weak
    /// tags out).
    pub if_match: Option<EntityTags>,
    /// Holds when the item is absent or not at a named version (weak comparison: the caller
    /// keeps weak tags in).
    pub if_none_match: Option<EntityTags>,
}

impl Precondition {
    /// Write unconditionally.
    pub const NONE: Self = Self {
        if_match: None,
        if_none_match: None,
    };

    /// Only if the item exists at exactly `version` (`If-Match: "v"`).
    pub fn matches(version: Version) -> Self {
        Self {
            if_match: Some(EntityTags::Versions(vec![version])),
            if_none_match: None,
        }
    }

    /// Only if the item exists at any version (`If-Match: *`).
    pub fn exists() -> Self {
        Self {
            if_match: Some(EntityTags::Any),
            if_none_match: None,
        }
    }

    /// Only if the item does not exist (`If-None-Match: *`): create, never overwrite.
    pub fn absent() -> Self {
        Self {
            if_match: None,
            if_none_match: Some(EntityTags::Any),
        }
    }

    /// Whether the condition holds for an item currently at `current` (`None`: absent).
    pub fn holds(&self, current: Option<Version>) -> bool {
        let matched = self
            .if_match
            .as_ref()
            .is_none_or(|tags| current.is_some_and(|c| tags.names(c)));
        let none_matched = self
            .if_none_match
            .as_ref()
            .is_none_or(|tags| current.is_none_or(|c| !tags.names(c)));
        matched && none_matched
    }
}

/// How much one owner may keep: enforced by the store atomically with each write, so
/// concurrent writers cannot overshoot it together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Most items an owner may have.
    pub max_items: u64,
    /// Most bytes of `data` (JSON text) an owner may have in all.
    pub max_bytes: u64,
}

impl Quota {
    /// No limits: for tests of other rules.
    pub const UNLIMITED: Self = Self {
        max_items: u64::MAX,
        max_bytes: u64::MAX,
    };

    /// Judges a write that takes an owner from `usage` to `after`. Only growth is refused: an
    /// owner over a quota that was lowered can still shrink or replace items.
    pub fn admits(&self, usage: Usage, after: Usage) -> Result<(), StoreError> {
        if after.items > usage.items && after.items > self.max_items {
            return Err(StoreError::QuotaExceeded {
                quota: QuotaKind::Items,
                limit: self.max_items,
            });
        }
        if after.bytes > usage.bytes && after.bytes > self.max_bytes {
            return Err(StoreError::QuotaExceeded {
                quota: QuotaKind::Bytes,
                limit: self.max_bytes,
            });
        }
        Ok(())
    }
}

/// What an owner keeps now: the figures quotas are checked against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Items.
    pub items: u64,
    /// Bytes of `data`.
    pub bytes: u64,
}

/// Which quota a write would break, for the caller's problem report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaKind {
    /// The number of items.
    Items,
    /// The bytes of all items' data.
    Bytes,
}

impl QuotaKind {
    /// The name callers see.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Items => "items",
            Self::Bytes => "bytes",
        }
    }
}

/// One page of a listing, and where the next one starts.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Listed {
    /// The items, in id order.
    pub items: Vec<Item>,
    /// The id to list after for the next page; `None` on the last page. Usually the last item's
    /// id, but not always: a page whose items were all deleted meanwhile is empty and still
    /// says where to go on.
    pub next: Option<ItemId>,
}

/// Why the store refused or failed a request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The write's precondition did not hold; nothing was changed.
    #[error("precondition failed")]
    PreconditionFailed,
    /// The write would take the owner over a quota; nothing was changed.
    #[error("the {} quota ({limit}) would be exceeded", quota.as_str())]
    QuotaExceeded {
        /// Which quota.
        quota: QuotaKind,
        /// Its limit.
        limit: u64,
    },
    /// The store could not be reached or failed; the cause is for logs, never for callers.
    #[error("item store unavailable")]
    Unavailable(#[source] Cause),
}

/// Durable storage of items, partitioned by owner. Every method touches only the given owner's
/// items: ownership is enforced here, not by callers remembering to filter.
#[async_trait]
pub trait ItemStore: Send + Sync {
    /// The owner's item with this id, if any.
    async fn get(&self, owner: &Subject, id: &ItemId) -> Result<Option<Item>, StoreError>;

    /// Creates or replaces the item if `precondition` holds and the owner stays within
    /// `quota`, giving it a new version.
    async fn put(
        &self,
        owner: &Subject,
        id: &ItemId,
        data: ItemData,
        precondition: Precondition,
        quota: Quota,
    ) -> Result<Item, StoreError>;

    /// Deletes the item if `precondition` holds, answering the version it had (so caches can
    /// tell the deletion apart from older states); `Ok(None)` when there was nothing to delete.
    async fn delete(
        &self,
        owner: &Subject,
        id: &ItemId,
        precondition: Precondition,
    ) -> Result<Option<Version>, StoreError>;

    /// Up to `limit` of the owner's items in id order, starting after `after`, and stopping
    /// once the items so far hold `max_bytes` of data (the first item always comes, whatever
    /// its size): a page's memory is bounded by `max_bytes` plus one item. Rows past the page
    /// are never loaded.
    async fn list(
        &self,
        owner: &Subject,
        after: Option<&ItemId>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Listed, StoreError>;
}
