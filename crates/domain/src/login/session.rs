//! Browser sessions (single sign-on): after one password entry, later authorization requests
//! from the same browser go through without the form until the session idles out, reaches its
//! absolute lifetime, or is ended by logout.

use super::{record_key, LoginRecords};
use crate::encoding::{random_token, to_hex};
use crate::ephemeral::EphemeralError;
use crate::identity::Subject;
use crate::refresh::FamilyId;
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// A logged-in browser.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowserSession {
    /// The session id (`sid` in tokens): derived from the cookie by a one-way hash, so seeing it
    /// in an id_token does not give anyone the cookie.
    pub sid: String,
    /// Who logged in.
    pub subject: String,
    /// When the password was entered, seconds since the epoch (`auth_time`).
    pub auth_time: u64,
    /// When the session ends however active it is, seconds since the epoch.
    pub expires_at: u64,
}

fn session_id(cookie: &str) -> String {
    let digest = Sha256::digest(format!("portcullis session id\0{cookie}"));
    to_hex(&digest[..16])
}

fn session_key(sid: &str) -> String {
    record_key("session", sid)
}

impl LoginRecords {
    /// Starts a session for `subject`, who has just entered their password; returns the cookie
    /// value and the session.
    pub async fn start_session(
        &self,
        subject: &Subject,
    ) -> Result<(Secret, BrowserSession), EphemeralError> {
        let cookie = random_token();
        let now = self.now_seconds();
        let session = BrowserSession {
            sid: session_id(&cookie),
            subject: subject.as_str().to_owned(),
            auth_time: now,
            expires_at: now + self.policy.session_absolute.as_secs(),
        };
        let ttl = self.policy.session_idle.min(self.policy.session_absolute);
        self.json()
            .put(&session_key(&session.sid), &session, ttl)
            .await?;
        Ok((Secret::new(cookie), session))
    }

    /// The live session a cookie names, its idle timer restarted.
    pub async fn session_of_cookie(
        &self,
        cookie: &str,
    ) -> Result<Option<BrowserSession>, EphemeralError> {
        self.live_session(&session_id(cookie)).await
    }

    /// The live session with this id, its idle timer restarted: a refresh under the session
    /// counts as activity.
    pub async fn live_session(&self, sid: &str) -> Result<Option<BrowserSession>, EphemeralError> {
        let key = session_key(sid);
        let Some(session) = self.json().get::<BrowserSession>(&key).await? else {
            return Ok(None);
        };
        let now = self.now_seconds();
        if session.expires_at <= now {
            self.store.delete(&key).await?;
            return Ok(None);
        }
        let left = Duration::from_secs(session.expires_at - now);
        let alive = self
            .store
            .touch(&key, self.policy.session_idle.min(left))
            .await?;
        Ok(alive.then_some(session))
    }

    /// Whether the session with this id is alive, without counting the question as activity
    /// (introspection and UserInfo ask it; only the user and refreshes keep a session going).
    pub async fn session_alive(&self, sid: &str) -> Result<bool, EphemeralError> {
        let session = self.json().get::<BrowserSession>(&session_key(sid)).await?;
        Ok(session.is_some_and(|s| s.expires_at > self.now_seconds()))
    }

    /// Ends a session (logout); codes and refresh tokens issued under it stop working.
    pub async fn end_session(&self, sid: &str) -> Result<(), EphemeralError> {
        self.store.delete(&session_key(sid)).await
    }

    /// Records that a refresh-token family was issued under browser session `sid`, so the
    /// family ends when the session does.
    pub async fn link_family(
        &self,
        family: &FamilyId,
        sid: &str,
        lifetime: Duration,
    ) -> Result<(), EphemeralError> {
        self.json()
            .put(&record_key("family-session", &family.0), &sid, lifetime)
            .await
    }

    /// The browser session a family was issued under, if any.
    pub async fn family_session(
        &self,
        family: &FamilyId,
    ) -> Result<Option<String>, EphemeralError> {
        self.json()
            .get(&record_key("family-session", &family.0))
            .await
    }
}
