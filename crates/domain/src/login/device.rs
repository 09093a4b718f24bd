//! Device authorization (RFC 8628): a CLI or TV shows a short code, the user approves it in a
//! browser where they are logged in, and the device polls the token endpoint until then.

use super::{record_key, LoginRecords};
use crate::encoding::random_token;
use crate::ephemeral::EphemeralError;
use crate::identity::ClientId;
use crate::scope::ScopeSet;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The user-code alphabet RFC 8628 §6.1 suggests: consonants only, so no code spells a word and
/// none is misread (no vowels, no 0/O or 1/I).
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Letters in a user code: 20^8, about 2^34.6 codes, against a guess budget that the issuer
/// limits per user and address.
const USER_CODE_LEN: usize = 8;
/// How much the interval grows after a too-fast poll (RFC 8628 §3.5).
const SLOW_DOWN_STEP: u64 = 5;
/// How long an expired device code is still recognised, so its device hears `expired_token`
/// instead of `invalid_grant`.
const EXPIRED_MEMORY: Duration = Duration::from_secs(300);

/// What the device is told to show and do.
#[derive(Clone, Debug)]
pub struct DeviceStart {
    /// The secret the device polls with.
    pub device_code: String,
    /// The code the user types, formatted `XXXX-XXXX`.
    pub user_code: String,
    /// Seconds until both codes expire.
    pub expires_in: u64,
    /// Seconds the device must wait between polls.
    pub interval: u64,
}

/// A device waiting for approval.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeviceGrant {
    /// The client that asked.
    pub client_id: String,
    /// The scopes it asked for.
    pub scope: Vec<String>,
    /// When its codes expire, seconds since the epoch.
    pub expires_at: u64,
}

/// A pending device found by its user code: what the approval page shows.
#[derive(Clone, Debug)]
pub struct PendingDevice {
    /// Names the device grant for [`LoginRecords::decide_device`].
    pub handle: String,
    /// What the device asked for.
    pub grant: DeviceGrant,
    /// The user code, as the device shows it (`XXXX-XXXX`), for the user to compare.
    pub user_code: String,
}

/// The user's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceDecision {
    /// Approved by this user, in this browser session.
    Approved {
        /// Who approved.
        subject: String,
        /// The browser session they approved from.
        sid: String,
        /// When they last entered their password.
        auth_time: u64,
    },
    /// Denied.
    Denied,
}

/// What a poll found (RFC 8628 §3.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DevicePoll {
    /// No such device code for this client (`invalid_grant`).
    Unknown,
    /// The codes expired before approval (`expired_token`).
    Expired,
    /// Polled before the interval passed; the interval grew (`slow_down`).
    SlowDown,
    /// Not decided yet (`authorization_pending`).
    Pending,
    /// Denied (`access_denied`).
    Denied,
    /// Approved: the grant is spent and tokens may be issued.
    Approved {
        /// The scopes asked for.
        scope: Vec<String>,
        /// The approval.
        decision: DeviceDecision,
    },
}

#[derive(Serialize, Deserialize)]
struct Poll {
    last_millis: u64,
    interval: u64,
}

/// The canonical form of what a user typed: upper case, without separators; `None` if it
/// cannot be a user code at all (no store lookup is spent on it).
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid =
        code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    valid.then_some(code)
}

/// A canonical user code (from [`normalize_user_code`]) as devices show it: `XXXX-XXXX`.
pub fn shown_user_code(code: &str) -> String {
    let (head, tail) = code.split_at(code.len() / 2);
    format!("{head}-{tail}")
}

fn new_user_code() -> String {
    let mut rng = rand::rng();
    (0..USER_CODE_LEN)
        .map(|_| USER_CODE_ALPHABET[rng.random_range(0..USER_CODE_ALPHABET.len())] as char)
        .collect()
}

impl LoginRecords {
    /// Registers a device's request and returns its codes.
    pub async fn start_device(
        &self,
        client: &ClientId,
        scope: &ScopeSet,
    ) -> Result<DeviceStart, EphemeralError> {
        let lifetime = self.policy.device_code_lifetime;
        let device_code = random_token();
        let user_code = new_user_code();
        let grant = DeviceGrant {
            client_id: client.as_str().to_owned(),
            scope: scope.iter().map(|s| s.as_str().to_owned()).collect(),
            expires_at: self.now_seconds() + lifetime.as_secs(),
        };
        let handle = record_key("device", &device_code);
        self.json()
            .put(&handle, &grant, lifetime + EXPIRED_MEMORY)
            .await?;
        // A collision with a live user code (one in 2^34 per pending device) is refused rather
        // than overwriting the other device's code.
        if !self
            .json()
            .put_new(&record_key("user-code", &user_code), &handle, lifetime)
            .await?
        {
            return Err(EphemeralError(crate::cause::Cause::new(
                "user code collision",
            )));
        }
        Ok(DeviceStart {
            device_code,
            user_code: shown_user_code(&user_code),
            expires_in: lifetime.as_secs(),
            interval: self.policy.device_poll_interval.as_secs(),
        })
    }

    /// The pending device a user code names, if it is live and undecided.
    pub async fn pending_device(
        &self,
        user_code: &str,
    ) -> Result<Option<PendingDevice>, EphemeralError> {
        let Some(code) = normalize_user_code(user_code) else {
            return Ok(None);
        };
        let Some(handle) = self
            .json()
            .get::<String>(&record_key("user-code", &code))
            .await?
        else {
            return Ok(None);
        };
        let grant = self.json().get::<DeviceGrant>(&handle).await?;
        Ok(grant
            .filter(|g| g.expires_at > self.now_seconds())
            .map(|grant| PendingDevice {
                handle,
                grant,
                user_code: shown_user_code(&code),
            }))
    }

    /// Records the user's decision; the first decision stands. The user code stops working.
    pub async fn decide_device(
        &self,
        pending: &PendingDevice,
        user_code: &str,
        decision: &DeviceDecision,
    ) -> Result<bool, EphemeralError> {
        if let Some(code) = normalize_user_code(user_code) {
            self.store.delete(&record_key("user-code", &code)).await?;
        }
        let ttl = Duration::from_secs(
            pending
                .grant
                .expires_at
                .saturating_sub(self.now_seconds())
                .max(1),
        ) + EXPIRED_MEMORY;
        self.json()
            .put_new(&format!("{}:decision", pending.handle), decision, ttl)
            .await
    }

    /// A device's poll: enforces the interval and hands out the decision once.
    pub async fn poll_device(
        &self,
        device_code: &str,
        client: &ClientId,
    ) -> Result<DevicePoll, EphemeralError> {
        let handle = record_key("device", device_code);
        let grant = match self.json().get::<DeviceGrant>(&handle).await? {
            Some(grant) if grant.client_id == client.as_str() => grant,
            _ => return Ok(DevicePoll::Unknown),
        };
        let now_millis = crate::clock::unix_millis(self.clock.now());
        if grant.expires_at * 1000 <= now_millis {
            return Ok(DevicePoll::Expired);
        }
        let poll_key = format!("{handle}:poll");
        let previous = self.json().get::<Poll>(&poll_key).await?;
        let interval = previous
            .as_ref()
            .map_or(self.policy.device_poll_interval.as_secs(), |p| p.interval);
        let too_soon = previous
            .as_ref()
            .is_some_and(|p| now_millis < p.last_millis + p.interval * 1000);
        let interval = if too_soon {
            interval + SLOW_DOWN_STEP
        } else {
            interval
        };
        let poll = Poll {
            last_millis: now_millis,
            interval,
        };
        let left = Duration::from_millis(grant.expires_at * 1000 - now_millis);
        self.json()
            .put(&poll_key, &poll, left + EXPIRED_MEMORY)
            .await?;
        if too_soon {
            return Ok(DevicePoll::SlowDown);
        }
        let decision = self
            .json()
            .take::<DeviceDecision>(&format!("{handle}:decision"))
            .await?;
        let Some(decision) = decision else {
            return Ok(DevicePoll::Pending);
        };
        self.store.delete(&handle).await?;
        Ok(match decision {
            DeviceDecision::Denied => DevicePoll::Denied,
            approved => DevicePoll::Approved {
                scope: grant.scope,
                decision: approved,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_typed_forgivingly_and_checked_strictly() {
        let code = new_user_code();
        assert_eq!(code.len(), 8);
        assert_eq!(
            normalize_user_code(&code.to_lowercase()),
            Some(code.clone())
        );
        let shown = shown_user_code(&code);
        assert_eq!(normalize_user_code(&shown), Some(code));
        for bad in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "ABCD-EFGH",
            "BCDF-GHJ1",
            "ÄBCD-FGHJ",
        ] {
            assert_eq!(normalize_user_code(bad), None, "{bad}");
        }
    }
}
