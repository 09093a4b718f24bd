//! Authorization codes: single use, short-lived, bound to everything the token request must
//! match. A code that comes back after redemption means it leaked, so what it produced is
//! revoked (RFC 6749 §4.1.2, RFC 9700 §4.5).

use super::pkce::CodeChallenge;
use super::{record_key, LoginRecords};
use crate::encoding::random_token;
use crate::ephemeral::EphemeralError;
use crate::refresh::RefreshTokenHash;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a code may wait for its token request: RFC 6749 §4.1.2 recommends at most ten
/// minutes; a browser redirect followed by a back-channel call needs seconds.
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);

/// How long a redeemed code is remembered, so a replay is recognised and answered with
/// revocation rather than a plain refusal.
const REDEEMED_MEMORY: Duration = Duration::from_secs(600);

/// What a code stands for, fixed when the user approved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeGrant {
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI it was sent to, which the token request must repeat.
    pub redirect_uri: String,
    /// The scopes granted.
    pub scope: Vec<String>,
    /// The `nonce` for the id_token.
    pub nonce: Option<String>,
    /// The PKCE challenge.
    pub challenge: CodeChallenge,
    /// Who logged in.
    pub subject: String,
    /// The browser session it was issued under.
    pub sid: String,
    /// When the password was entered.
    pub auth_time: u64,
    /// When the code stops working, seconds since the epoch.
    pub expires_at: u64,
    /// The DPoP key the code must be redeemed with (`dpop_jkt`), if the client bound it.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

/// What redeeming a code found.
#[derive(Debug)]
pub enum Redemption {
    /// The code was live and is now spent.
    Fresh(CodeGrant),
    /// The code was redeemed before.
    Replayed(Redeemed),
    /// No such code, or it expired.
    Unknown,
}

/// What a redeemed code produced, kept to revoke it on replay.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Redeemed {
    /// The client the code was issued to.
    pub client_id: String,
    /// Whose code it was.
    pub subject: String,
    /// The hash of the first refresh token issued from it, if any: revoking it revokes the family.
    pub refresh_token: Option<String>,
}

impl Redeemed {
    /// The refresh token to revoke, if any.
    pub fn refresh_token_hash(&self) -> Option<RefreshTokenHash> {
        self.refresh_token
            .as_deref()
            .and_then(RefreshTokenHash::from_hex)
    }
}

impl LoginRecords {
    /// Stores `grant` and returns its code; `expires_at` is set here.
    pub async fn issue_code(&self, mut grant: CodeGrant) -> Result<String, EphemeralError> {
        let code = random_token();
        grant.expires_at = self.now_seconds() + CODE_LIFETIME.as_secs();
        self.json()
            .put(&record_key("code", &code), &grant, CODE_LIFETIME)
            .await?;
        Ok(code)
    }

    /// Spends the code: of concurrent redemptions at most one finds it fresh.
    pub async fn redeem_code(&self, code: &str) -> Result<Redemption, EphemeralError> {
        if let Some(grant) = self
            .json()
            .take::<CodeGrant>(&record_key("code", code))
            .await?
        {
            if grant.expires_at > self.now_seconds() {
                return Ok(Redemption::Fresh(grant));
            }
            return Ok(Redemption::Unknown);
        }
        Ok(
            match self.json().get(&record_key("redeemed", code)).await? {
                Some(redeemed) => Redemption::Replayed(redeemed),
                None => Redemption::Unknown,
            },
        )
    }

    /// Remembers what a redeemed code produced, for [`Redemption::Replayed`].
    pub async fn remember_redeemed(
        &self,
        code: &str,
        redeemed: &Redeemed,
    ) -> Result<(), EphemeralError> {
        self.json()
            .put(&record_key("redeemed", code), redeemed, REDEEMED_MEMORY)
            .await
    }
}
