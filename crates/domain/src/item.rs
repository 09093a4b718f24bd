//! Items: the JSON documents the data API keeps for each subject.

use crate::identity::Subject;
use crate::InvalidValue;
use std::fmt;
use std::sync::Arc;

/// Longest item id accepted.
pub const MAX_ITEM_ID_LEN: usize = 128;
/// Largest `data` document accepted, in bytes of JSON text (1 MiB).
pub const MAX_ITEM_DATA_LEN: usize = 1024 * 1024;
/// Deepest nesting of arrays and objects accepted in a document. Clients that parse recursively
/// (most JSON libraries, serde_json's own default stops at 128) must never be handed a bomb by
/// the API, so the cap sits well below theirs while far above any real document's depth.
pub const MAX_ITEM_DEPTH: usize = 64;

/// An item's id within its owner's namespace: 1–128 characters of `[A-Za-z0-9._~-]`, the URL
/// "unreserved" set, so an id never needs escaping in a path, a cache key or a cursor.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemId(String);

impl ItemId {
    /// Validates an item id.
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        let unreserved =
            |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-');
        if value.is_empty() || value.len() > MAX_ITEM_ID_LEN || !value.bytes().all(unreserved) {
            return Err(InvalidValue::new(
                "item id",
                "must be 1-128 characters of A-Z a-z 0-9 . _ ~ -",
            ));
        }
        Ok(Self(value))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An item's document, kept as the JSON text the client sent: it is stored, cached and served
/// without being re-parsed or re-serialised. Cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemData(Arc<str>);

impl ItemData {
    /// Validates that `json` is one well-formed JSON value of at most 1 MiB, nested at most
    /// [`MAX_ITEM_DEPTH`] levels deep.
    pub fn parse(json: &str) -> Result<Self, InvalidValue> {
        if json.len() > MAX_ITEM_DATA_LEN {
            return Err(InvalidValue::new("data", "must be at most 1 MiB of JSON"));
        }
        // Before the parser sees it: the depth scan is iterative, so no input can exhaust a stack.
        if nesting_depth(json) > MAX_ITEM_DEPTH {
            return Err(InvalidValue::new(
                "data",
                "must nest arrays and objects at most 64 levels deep",
            ));
        }
        serde_json::from_str::<&serde_json::value::RawValue>(json)
            .map_err(|_| InvalidValue::new("data", "must be a JSON value"))?;
        Ok(Self(Arc::from(json)))
    }

    /// Wraps text that was validated by [`ItemData::parse`] before it was stored; adapters use
    /// it when reading back their own writes, to avoid parsing every document twice.
    pub fn from_validated(json: impl Into<Arc<str>>) -> Self {
        Self(json.into())
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The deepest nesting of arrays and objects in JSON text, brackets inside strings ignored.
/// Hand-written because it is a dozen lines and runs on every write before any parser does;
/// malformed text gets some depth and is refused by the parse that follows.
fn nesting_depth(json: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for byte in json.bytes() {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// An item's version: strictly increasing across every write in a store (never reused, not
/// even after a delete), so it doubles as the `ETag` and lets caches tell old from new.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u64);

/// A stored item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The subject the item belongs to; nobody else can read or change it.
    pub owner: Subject,
    /// The id within the owner's namespace.
    pub id: ItemId,
    /// The document.
    pub data: ItemData,
    /// The version of this state of the item.
    pub version: Version,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_ids_follow_the_contract() {
        assert!(ItemId::new("a.b_c~d-9").is_ok());
        assert!(ItemId::new("x".repeat(128)).is_ok());
        assert!(ItemId::new("x".repeat(129)).is_err());
        assert!(ItemId::new("").is_err());
        for bad in ["a/b", "a b", "a%20", "ä", "a:b", "a?b"] {
            assert!(ItemId::new(bad).is_err(), "{bad} should be rejected");
        }
        // Ids never touch a file path, so dots alone are as valid as any other unreserved id.
        assert!(ItemId::new("..").is_ok());
    }

    #[test]
    fn data_must_be_json_within_the_size_cap() {
        assert!(ItemData::parse(r#"{"a":[1,2,3]}"#).is_ok());
        assert!(ItemData::parse("42").is_ok());
        assert!(ItemData::parse("{").is_err());
        assert!(ItemData::parse("1 2").is_err());
        let big = format!("\"{}\"", "a".repeat(MAX_ITEM_DATA_LEN));
        assert!(ItemData::parse(&big).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(ItemData::parse(&nested(MAX_ITEM_DEPTH)).is_ok());
        assert!(ItemData::parse(&nested(MAX_ITEM_DEPTH + 1)).is_err());
        // The attack the review found: half a million levels, well under 1 MiB.
        assert!(ItemData::parse(&nested(500_000)).is_err());
        let objects = format!("{}1{}", r#"{"a":"#.repeat(65), "}".repeat(65));
        assert!(ItemData::parse(&objects).is_err());
        // Brackets inside strings, escaped quotes included, are text, not nesting.
        let text = format!(r#"{{"s":"\"{}"}}"#, "[".repeat(1000));
        assert!(ItemData::parse(&text).is_ok());
        assert_eq!(nesting_depth(r#"["\\", [1]]"#), 2);
        let refusal = ItemData::parse(&nested(MAX_ITEM_DEPTH + 1)).unwrap_err();
        assert!(
            refusal.rule.contains(&MAX_ITEM_DEPTH.to_string()),
            "the message states the cap: {refusal}"
        );
    }
}
