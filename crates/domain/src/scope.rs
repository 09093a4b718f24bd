//! OAuth scopes (RFC 6749 §3.3) and the sets tokens carry.

use crate::InvalidValue;
use std::collections::BTreeSet;
use std::fmt;

/// Scope that allows reading one's own items.
pub const ITEMS_READ: &str = "items:read";
/// Scope that allows creating, replacing and deleting one's own items.
pub const ITEMS_WRITE: &str = "items:write";

/// One scope token: `1*( %x21 / %x23-5B / %x5D-7E )`, so it can never smuggle a space, quote or
/// backslash into a `scope` claim or a `WWW-Authenticate` header.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(String);

impl Scope {
    /// Validates one scope token.
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        let valid_char =
            |b: u8| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b);
        if value.is_empty() || value.len() > 128 || !value.bytes().all(valid_char) {
            return Err(InvalidValue::new(
                "scope",
                "each scope is 1-128 printable ASCII characters without space, quote or backslash",
            ));
        }
        Ok(Self(value))
    }

    /// The scope as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A set of scopes, kept sorted so the `scope` string a token carries is deterministic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// Parses a space-delimited scope string; an empty string is the empty set.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        if value.is_empty() {
            return Ok(Self::default());
        }
        if value.split(' ').count() > 64 {
            return Err(InvalidValue::new("scope", "at most 64 scopes"));
        }
        value
            .split(' ')
            .map(Scope::new)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    /// Builds a set from scope strings, validating each.
    pub fn from_strs<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Self, InvalidValue> {
        values
            .into_iter()
            .map(Scope::new)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    /// Whether the set grants the named scope.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s.as_str() == scope)
    }

    /// Whether every scope here is also in `other`.
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The scopes both sets grant.
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.intersection(&other.0).cloned().collect())
    }

    /// Whether the set grants nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes, in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_sorted() {
        let set = ScopeSet::parse("items:write items:read").unwrap();
        assert_eq!(set.to_string(), "items:read items:write");
        assert!(set.contains(ITEMS_READ));
        assert!(!set.contains("admin"));
    }

    #[test]
    fn rejects_bad_tokens() {
        assert!(ScopeSet::parse("a  b").is_err());
        assert!(ScopeSet::parse("a\"b").is_err());
        assert!(ScopeSet::parse("a\\b").is_err());
        assert!(ScopeSet::parse(" a").is_err());
        assert_eq!(ScopeSet::parse("").unwrap(), ScopeSet::default());
    }

    #[test]
    fn subset_and_intersection() {
        let all = ScopeSet::parse("a b c").unwrap();
        let some = ScopeSet::parse("a c").unwrap();
        assert!(some.is_subset(&all));
        assert!(!all.is_subset(&some));
        assert_eq!(all.intersection(&some), some);
    }
}
