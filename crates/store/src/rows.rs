//! Turning stored rows into items, the same way for every SQL store.

use portcullis_domain::identity::Subject;
use portcullis_domain::item::{Item, ItemData, ItemId, Version};
use portcullis_domain::store::StoreError;

/// A stored version (SQL `BIGINT`); never negative, since versions come from a counter.
pub(crate) fn version(value: i64) -> Version {
    Version(u64::try_from(value).unwrap_or(0))
}

/// An item read back by id. The document was validated before it was stored.
pub(crate) fn item(owner: &Subject, id: &ItemId, data: String, stored_version: i64) -> Item {
    Item {
        owner: owner.clone(),
        id: id.clone(),
        data: ItemData::from_validated(data),
        version: version(stored_version),
    }
}

/// An item read back by a listing, whose id comes from the row and is checked again.
pub(crate) fn listed(
    owner: &Subject,
    id: String,
    data: String,
    stored_version: i64,
) -> Result<Item, StoreError> {
    let id = ItemId::new(id).map_err(|e| StoreError::Unavailable(format!("corrupt row: {e}")))?;
    Ok(item(owner, &id, data, stored_version))
}
