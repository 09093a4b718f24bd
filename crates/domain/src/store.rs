//! The item store port: where items live durably.

use crate::identity::Subject;
use crate::item::{Item, ItemData, ItemId, Version};
use async_trait::async_trait;

/// The condition a write is made under (HTTP `If-Match` / `If-None-Match`), checked atomically
/// with the write so two clients cannot both win a lost-update race.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// Write unconditionally.
    None,
    /// Only if the item exists at exactly this version (`If-Match: "v"`).
    Matches(Version),
    /// Only if the item exists at any version (`If-Match: *`).
    Exists,
    /// Only if the item does not exist (`If-None-Match: *`): create, never overwrite.
    Absent,
}

/// Why the store refused or failed a request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The write's precondition did not hold; nothing was changed.
    #[error("precondition failed")]
    PreconditionFailed,
    /// The store could not be reached or failed; the message is for logs, never for callers.
    #[error("item store unavailable: {0}")]
    Unavailable(String),
}

/// Durable storage of items, partitioned by owner. Every method touches only the given owner's
/// items: ownership is enforced here, not by callers remembering to filter.
#[async_trait]
pub trait ItemStore: Send + Sync {
    /// The owner's item with this id, if any.
    async fn get(&self, owner: &Subject, id: &ItemId) -> Result<Option<Item>, StoreError>;

    /// Creates or replaces the item if `precondition` holds, giving it a new version.
    async fn put(
        &self,
        owner: &Subject,
        id: &ItemId,
        data: ItemData,
        precondition: Precondition,
    ) -> Result<Item, StoreError>;

    /// Deletes the item if `precondition` holds, answering the version it had (so caches can
    /// tell the deletion apart from older states); `Ok(None)` when there was nothing to delete.
    async fn delete(
        &self,
        owner: &Subject,
        id: &ItemId,
        precondition: Precondition,
    ) -> Result<Option<Version>, StoreError>;

    /// Up to `limit` of the owner's items in id order, starting after `after`.
    async fn list(
        &self,
        owner: &Subject,
        after: Option<&ItemId>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError>;
}
