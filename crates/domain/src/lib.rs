//! The core of Portcullis: the ports (traits) that adapters implement, the domain types that
//! validate themselves on construction, and the use cases the services call.
//!
//! This crate performs no I/O and depends on no I/O crate, so the rules it encodes (who may read
//! which item, how a refresh token rotates, how a sliding window decides) can be read and tested
//! without a network, a database or an HTTP framework.

pub mod breaker;
pub mod cache;
pub mod cause;
pub mod clock;
pub mod directory;
pub mod directory_admin;
pub mod dpop;
pub mod duration_text;
pub mod encoding;
pub mod ephemeral;
pub mod identity;
pub mod item;
pub mod login;
pub mod quota;
pub mod ratelimit;
pub mod refresh;
pub mod refresh_memory;
pub mod scope;
pub mod secret;
pub mod signing;
pub mod store;
pub mod token;
pub mod usecase;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

/// Why a value was refused by a validating constructor; shown to API callers, so it names the
/// field and the rule but never echoes the offending input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {rule}")]
pub struct InvalidValue {
    /// The field or kind of value that failed validation.
    pub field: &'static str,
    /// The rule it broke, phrased for a caller to fix their input.
    pub rule: &'static str,
}

impl InvalidValue {
    pub(crate) const fn new(field: &'static str, rule: &'static str) -> Self {
        Self { field, rule }
    }
}
