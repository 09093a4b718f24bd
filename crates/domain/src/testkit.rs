//! Contract test suites: every adapter of a port runs the same suite, so the Redis limiter and
//! the in-process limiter (or SQLite and PostgreSQL stores) cannot disagree on semantics.
//!
//! Each suite panics on the first broken rule. Suites use random key prefixes, so several may run
//! at once against one shared server.

pub mod cache;
pub mod item_store;
pub mod rate_limiter;
pub mod refresh_store;

use base64::Engine;
use rand::RngCore;

/// A random prefix so concurrent suites on one server never share keys.
pub fn unique(label: &str) -> String {
    let mut bytes = [0u8; 6];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{label}-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}
