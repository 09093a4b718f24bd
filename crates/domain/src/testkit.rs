//! Contract test suites: every adapter of a port runs the same suite, so the Redis limiter and
//! the in-process limiter (or SQLite and PostgreSQL stores) cannot disagree on semantics.
//!
//! Beside them, in-memory fakes of the issuer's ports ([`FakeDirectory`], [`FakePasswordVerifier`],
//! [`FakeSigner`]) let use cases be unit-tested through their ports. Refresh tokens need no fake:
//! the use-case tests run on the real in-memory adapter,
//! [`MemoryRefreshTokenStore`](crate::refresh_memory::MemoryRefreshTokenStore).
//!
//! Each suite panics on the first broken rule. Suites use random key prefixes, so several may run
//! at once against one shared server.

pub mod cache;
mod ephemeral;
mod ephemeral_fake;
mod fakes;
pub mod item_store;
pub mod rate_limiter;
mod refresh_binding;
pub mod refresh_store;

pub use ephemeral::ephemeral_store_contract;
pub use ephemeral_fake::FakeEphemeralStore;
pub use fakes::{FakeDirectory, FakePasswordVerifier, FakeSigner};

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
