//! `grant_type=authorization_code` (RFC 6749 §4.1.3) with PKCE: the code is spent first, then
//! everything it is bound to must match; a code that comes back revokes what it produced.

use super::{
    unavailable, BrowserLogin, ClientAuth, GrantError, IssuedTokens, TokenService, UserLogin,
};
use crate::directory::GrantType;
use crate::identity::{ClientId, Subject};
use crate::login::claims::user_scope;
use crate::login::codes::{Redeemed, Redemption};
use crate::refresh::{new_refresh_token, RefreshTokenHash};
use crate::scope::ScopeSet;

/// What the token request presents besides the client's credentials.
#[derive(Clone, Copy, Debug)]
pub struct CodeExchange<'a> {
    /// `code`.
    pub code: &'a str,
    /// `redirect_uri`, which must equal the authorization request's.
    pub redirect_uri: Option<&'a str>,
    /// `code_verifier`: required, there is no downgrade to a flow without PKCE.
    pub code_verifier: Option<&'a str>,
}

impl TokenService {
    /// Exchanges an authorization code for tokens.
    pub async fn authorization_code_grant(
        &self,
        auth: &ClientAuth,
        exchange: CodeExchange<'_>,
    ) -> Result<IssuedTokens, GrantError> {
        let client = self
            .authenticate_for_tokens(auth, GrantType::AuthorizationCode)
            .await?;
        let verifier = exchange
            .code_verifier
            .ok_or(GrantError::InvalidRequest("code_verifier is required"))?;
        let records = self.login_records()?;
        let grant = match records.redeem_code(exchange.code).await? {
            Redemption::Fresh(grant) => grant,
            Redemption::Replayed(redeemed) => return Err(self.replayed(redeemed).await),
            Redemption::Unknown => return Err(GrantError::InvalidGrant),
        };
        // Every browser login starts a family, the handle a replay of this code revokes.
        let refresh_token = new_refresh_token();
        let redeemed = Redeemed {
            client_id: grant.client_id.clone(),
            subject: grant.subject.clone(),
            refresh_token: Some(RefreshTokenHash::of(&refresh_token).to_hex()),
        };
        records.remember_redeemed(exchange.code, &redeemed).await?;
        let bound = grant.client_id == client.client_id.as_str()
            && exchange.redirect_uri == Some(grant.redirect_uri.as_str())
            && grant.challenge.is_met_by(verifier);
        if !bound || records.live_session(&grant.sid).await?.is_none() {
            return Err(GrantError::InvalidGrant);
        }
        if grant
            .dpop_jkt
            .as_ref()
            .is_some_and(|jkt| auth.dpop_jkt.as_ref() != Some(jkt))
        {
            return Err(GrantError::InvalidDpopProof(
                "the code is bound to a DPoP key (dpop_jkt): prove possession of that key",
            ));
        }
        let scope = self
            .scope_still_allowed(
                &grant.subject,
                grant.auth_time,
                &grant.scope,
                &client.scopes,
            )
            .await?;
        let login = UserLogin {
            subject: Subject::new(grant.subject).map_err(|_| GrantError::InvalidGrant)?,
            scope,
            refresh_token: Some(refresh_token),
            hand_out_refresh: client.grants.contains(&GrantType::RefreshToken),
            browser: Some(BrowserLogin {
                sid: grant.sid,
                auth_time: grant.auth_time,
                nonce: grant.nonce,
            }),
            proof_key: auth.dpop_jkt.clone(),
        };
        self.log_in(&client, login).await
    }

    /// A replayed code: the code leaked, so the family it started is revoked.
    async fn replayed(&self, redeemed: Redeemed) -> GrantError {
        if let (Some(hash), Ok(client)) = (
            redeemed.refresh_token_hash(),
            ClientId::new(redeemed.client_id.as_str()),
        ) {
            if let Err(error) = self.refresh_tokens.revoke(&hash, &client).await {
                return unavailable(error);
            }
        }
        match Subject::new(redeemed.subject) {
            Ok(subject) => GrantError::CodeReplayed { subject },
            Err(_) => GrantError::InvalidGrant,
        }
    }

    /// The approved scopes that the user and the client still have today (either may have lost
    /// some since the user approved); a removed or disabled user gets nothing, nor a login
    /// (`auth_time`) from before the user's password change or re-enable.
    pub(super) async fn scope_still_allowed(
        &self,
        subject: &str,
        auth_time: u64,
        approved: &[String],
        client_scopes: &ScopeSet,
    ) -> Result<ScopeSet, GrantError> {
        let user = self
            .user_with_subject(subject)
            .await?
            .filter(|user| user.sessions_not_before == 0 || auth_time > user.sessions_not_before)
            .ok_or(GrantError::InvalidGrant)?;
        let granted = ScopeSet::from_strs(approved.iter().map(String::as_str))
            .map_err(|_| GrantError::InvalidGrant)?;
        Ok(user_scope(&granted, &user.scopes).intersection(client_scopes))
    }
}
