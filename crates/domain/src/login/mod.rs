//! Logging people in through a browser or a second screen: the authorization request, PKCE,
//! browser sessions (SSO), authorization codes, remembered consent and device grants, and the
//! OpenID Connect claims they lead to. The records live on an [`EphemeralStore`], so every issuer
//! replica sees the same sessions and codes.

pub mod claims;
pub mod codes;
pub mod consent;
pub mod device;
pub mod pkce;
pub mod request;
pub mod session;

use crate::clock::Clock;
use crate::encoding::to_hex;
use crate::ephemeral::{EphemeralStore, JsonRecords};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// How long the records of a login live.
#[derive(Clone, Debug)]
pub struct LoginPolicy {
    /// A browser session unused this long ends.
    pub session_idle: Duration,
    /// A browser session ends this long after the password was entered, however active.
    pub session_absolute: Duration,
    /// How long a device code waits for the user's approval.
    pub device_code_lifetime: Duration,
    /// The initial polling interval given to devices.
    pub device_poll_interval: Duration,
}

/// The shared records of logins, with the clock and lifetimes that govern them.
pub struct LoginRecords {
    store: Arc<dyn EphemeralStore>,
    clock: Arc<dyn Clock>,
    policy: LoginPolicy,
}

impl LoginRecords {
    /// Records on `store`, timed by `clock`.
    pub fn new(store: Arc<dyn EphemeralStore>, clock: Arc<dyn Clock>, policy: LoginPolicy) -> Self {
        Self {
            store,
            clock,
            policy,
        }
    }

    /// The lifetimes in force.
    pub fn policy(&self) -> &LoginPolicy {
        &self.policy
    }

    fn json(&self) -> JsonRecords<'_> {
        JsonRecords(self.store.as_ref())
    }

    fn now_seconds(&self) -> u64 {
        crate::clock::unix_seconds(self.clock.now())
    }
}

/// What a record is stored under: a hash of the secret that names it, with a domain separator
/// per kind, so a leaked store holds no usable code, cookie or device code.
pub(crate) fn record_key(kind: &str, secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(kind.as_bytes());
    hasher.update([0]);
    hasher.update(secret.as_bytes());
    format!("{kind}:{}", to_hex(&hasher.finalize()))
}
