//! The device authorization grant (RFC 8628): the device asks for codes, then polls with its
//! device code until the user has approved or denied it in a browser.

use super::{narrow, BrowserLogin, ClientAuth, GrantError, IssuedTokens, TokenService, UserLogin};
use crate::directory::GrantType;
use crate::identity::Subject;
use crate::login::device::{DeviceDecision, DevicePoll, DeviceStart};
use crate::login::LoginRecords;
use crate::refresh::new_refresh_token;
use crate::scope::ScopeSet;

impl TokenService {
    /// `POST /oauth2/device_authorization`: codes for a device, for scopes within its client's.
    pub async fn device_authorization(
        &self,
        client: &ClientAuth,
        scope: Option<&ScopeSet>,
    ) -> Result<DeviceStart, GrantError> {
        let client = self.authenticate(client, GrantType::DeviceCode).await?;
        let scope = narrow(scope, &client.scopes)?;
        Ok(self
            .login_records()?
            .start_device(&client.client_id, &scope)
            .await?)
    }

    /// `grant_type=urn:ietf:params:oauth:grant-type:device_code`: one poll.
    pub async fn device_code_grant(
        &self,
        auth: &ClientAuth,
        device_code: &str,
    ) -> Result<IssuedTokens, GrantError> {
        let client = self
            .authenticate_for_tokens(auth, GrantType::DeviceCode)
            .await?;
        let poll = self
            .login_records()?
            .poll_device(device_code, &client.client_id)
            .await?;
        let (scope, subject, sid, auth_time) = match poll {
            DevicePoll::Unknown => return Err(GrantError::InvalidGrant),
            DevicePoll::Expired => return Err(GrantError::ExpiredToken),
            DevicePoll::SlowDown => return Err(GrantError::SlowDown),
            DevicePoll::Pending => return Err(GrantError::AuthorizationPending),
            DevicePoll::Denied => return Err(GrantError::AccessDenied),
            DevicePoll::Approved {
                scope,
                decision:
                    DeviceDecision::Approved {
                        subject,
                        sid,
                        auth_time,
                    },
            } => (scope, subject, sid, auth_time),
            DevicePoll::Approved { .. } => return Err(GrantError::AccessDenied),
        };
        // Approved from a session that has ended since (logout): no tokens, like a code whose
        // session ended.
        if self.login_records()?.live_session(&sid).await?.is_none() {
            return Err(GrantError::InvalidGrant);
        }
        let scope = self
            .scope_still_allowed(&subject, auth_time, &scope, &client.scopes)
            .await?;
        let login = UserLogin {
            subject: Subject::new(subject).map_err(|_| GrantError::InvalidGrant)?,
            scope,
            refresh_token: Some(new_refresh_token()),
            hand_out_refresh: client.grants.contains(&GrantType::RefreshToken),
            browser: Some(BrowserLogin {
                sid,
                auth_time,
                nonce: None,
            }),
            proof_key: auth.dpop_jkt.clone(),
        };
        self.log_in(&client, login).await
    }

    /// The login records, which exist once [`TokenService::with_login`] wired them.
    pub(super) fn login_records(&self) -> Result<&LoginRecords, GrantError> {
        Ok(&self
            .login
            .as_ref()
            .ok_or(GrantError::UnauthorizedClient)?
            .records)
    }
}
