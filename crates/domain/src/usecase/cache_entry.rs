//! How an item's state is kept in the cache: its rank (so newer states win) and the entry's
//! bytes.

use crate::identity::Subject;
use crate::item::{Item, ItemData, ItemId, Version};
use std::sync::Arc;

/// The cache version of an item's state: versions come from one strictly increasing sequence,
/// and the deletion of version `v` ranks just above `v` itself but below any later version, so
/// "newer wins" orders found items, deletions and re-creations correctly. "Not found" read from
/// the store ranks 0, below everything. Equal ranks replace each other: that is how a refresh
/// renews an unchanged item's freshness.
pub(super) fn found_rank(version: Version) -> u64 {
    version.0.saturating_mul(2)
}

pub(super) fn deleted_rank(version: Version) -> u64 {
    version.0.saturating_mul(2).saturating_add(1)
}

const FOUND: u8 = b'F';
const NOT_FOUND: u8 = b'N';

/// A decoded cache entry.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) found: Option<(Version, ItemData)>,
    /// Until when (ms since the epoch) the entry is fresh.
    pub(super) fresh_until: u64,
}

impl Entry {
    pub(super) fn into_item(self, owner: &Subject, id: &ItemId) -> Option<Item> {
        self.found.map(|(version, data)| Item {
            owner: owner.clone(),
            id: id.clone(),
            data,
            version,
        })
    }
}

/// Cache entry layout: a tag byte, the fresh-until time (8 bytes, big endian, ms), then for a
/// found item its version (8 bytes) and the JSON text. Hand-rolled because it is four fields and
/// sits on the hot read path.
pub(super) fn encode_entry(item: Option<&Item>, fresh_until: u64) -> Arc<[u8]> {
    let data = item.map_or(&[][..], |item| item.data.as_str().as_bytes());
    let mut bytes = Vec::with_capacity(17 + data.len());
    bytes.push(if item.is_some() { FOUND } else { NOT_FOUND });
    bytes.extend_from_slice(&fresh_until.to_be_bytes());
    if let Some(item) = item {
        bytes.extend_from_slice(&item.version.0.to_be_bytes());
        bytes.extend_from_slice(data);
    }
    Arc::from(bytes)
}

/// `None` for an entry this version cannot read.
pub(super) fn decode_entry(bytes: &[u8]) -> Option<Entry> {
    let (&tag, rest) = bytes.split_first()?;
    let (fresh_until, rest) = rest.split_at_checked(8)?;
    let fresh_until = u64::from_be_bytes(fresh_until.try_into().ok()?);
    let found = match (tag, rest) {
        (NOT_FOUND, []) => None,
        (FOUND, rest) => {
            let (version, data) = rest.split_at_checked(8)?;
            let version = Version(u64::from_be_bytes(version.try_into().ok()?));
            let data = std::str::from_utf8(data).ok()?;
            Some((version, ItemData::from_validated(data)))
        }
        _ => return None,
    };
    Some(Entry { found, fresh_until })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletions_rank_between_their_version_and_the_next() {
        let (v1, v2) = (Version(1), Version(2));
        assert!(found_rank(v1) < deleted_rank(v1));
        assert!(deleted_rank(v1) < found_rank(v2));
        assert!(
            0 < found_rank(v1),
            "a cached not-found never outranks an item"
        );
    }

    #[test]
    fn cache_entries_round_trip() {
        let item = Item {
            owner: Subject::new("alice").unwrap(),
            id: ItemId::new("x").unwrap(),
            data: ItemData::parse(r#"{"k":"v"}"#).unwrap(),
            version: Version(42),
        };
        let decoded = decode_entry(&encode_entry(Some(&item), 7)).unwrap();
        assert_eq!(decoded.found, Some((Version(42), item.data.clone())));
        assert_eq!(decoded.fresh_until, 7);
        let absent = decode_entry(&encode_entry(None, 9)).unwrap();
        assert_eq!(
            absent,
            Entry {
                found: None,
                fresh_until: 9
            }
        );
        assert_eq!(decode_entry(b""), None);
        assert_eq!(decode_entry(b"F123"), None);
        assert_eq!(decode_entry(b"N12345678x"), None);
        assert_eq!(decode_entry(b"X12345678"), None);
    }
}
