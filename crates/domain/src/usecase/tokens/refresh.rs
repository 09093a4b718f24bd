//! `grant_type=refresh_token`: rotation with reuse detection, re-checked against today's
//! directory and, for browser logins, against the browser session they came from.

use super::{narrow, unavailable, ClientAuth, GrantError, Issue, IssuedTokens, TokenService};
use crate::cause::Cause;
use crate::clock::unix_seconds;
use crate::directory::GrantType;
use crate::login::claims::user_scope;
use crate::refresh::{
    new_refresh_token, RefreshGrant, RefreshTokenHash, Rotation, SealedToken, Successor,
};
use crate::scope::ScopeSet;
use crate::secret::Secret;
use crate::usecase::grant_error::rotate_error;

impl TokenService {
    /// `grant_type=refresh_token`: validates everything first, then rotates the presented
    /// token and issues fresh tokens. Nothing is spent on a request that is refused, and a
    /// retry within the grace window gets the same successor (see [`Rotation`]).
    pub async fn refresh_grant(
        &self,
        auth: &ClientAuth,
        refresh_token: &Secret,
        scope: Option<&ScopeSet>,
    ) -> Result<IssuedTokens, GrantError> {
        let client = self
            .authenticate_for_tokens(auth, GrantType::RefreshToken)
            .await?;
        // Refuse a scope the client can never have before looking anything up.
        if scope.is_some_and(|s| !s.is_subset(&client.scopes)) {
            return Err(GrantError::InvalidScope);
        }
        let presented = RefreshTokenHash::of(refresh_token.expose());
        let now = self.clock.now();
        let grant = self
            .refresh_tokens
            .inspect(&presented, &client.client_id, now)
            .await
            .map_err(rotate_error)?;
        if grant
            .dpop_jkt
            .as_ref()
            .is_some_and(|bound| auth.dpop_jkt.as_ref() != Some(bound))
        {
            return Err(GrantError::InvalidDpopProof(
                "the refresh token is bound to a DPoP key: prove possession of that key",
            ));
        }
        // A public client's family that began without DPoP cannot be bound halfway (the store
        // keeps the binding from the login on): refused rather than left unbound under a
        // DPoP-bound access token.
        if grant.dpop_jkt.is_none() && client.secret_hash.is_none() && auth.dpop_jkt.is_some() {
            return Err(GrantError::InvalidDpopProof(
                "this refresh token was issued without DPoP: log in again with a DPoP proof",
            ));
        }
        if !self.browser_session_alive(&grant).await? {
            // The browser session the family was issued under has ended (logout): the family
            // ends with it.
            self.refresh_tokens
                .revoke(&presented, &client.client_id)
                .await
                .map_err(unavailable)?;
            return Err(GrantError::InvalidGrant);
        }
        // The user may have been removed or given fewer scopes since logging in, and the client
        // may have lost an audience: what the family grants is re-checked against today's
        // directory on every refresh, before the token is spent.
        let user = self
            .user_with_subject(grant.subject.as_str())
            .await?
            .ok_or(GrantError::InvalidGrant)?;
        // The family's login happened an absolute lifetime before the family ends; a login from
        // before a password change (or a re-enable) no longer counts, nor one in the same
        // second (times are whole seconds: the safe side of the tie).
        let logged_in_at = grant
            .session_expires_at
            .checked_sub(self.policy.refresh_absolute_lifetime)
            .map_or(0, unix_seconds);
        if user.sessions_not_before > 0 && logged_in_at <= user.sessions_not_before {
            return Err(GrantError::InvalidGrant);
        }
        // The user's API scopes plus the OpenID Connect identity scopes, which a browser login
        // may have been granted whatever the user's API scopes.
        let allowed = user_scope(&grant.scope.intersection(&client.scopes), &user.scopes);
        // A refresh may narrow the scope of the access token, never widen the family's.
        let scope = narrow(scope, &allowed)?;
        let audience: Vec<String> = grant
            .audience
            .iter()
            .filter(|a| client.audience.contains(a))
            .cloned()
            .collect();
        // Signed before rotating: once the token is rotated nothing is left to fail.
        let access = Issue {
            subject: grant.subject.clone(),
            client_id: &client.client_id,
            audience,
            scope,
            session: Some(grant.family.clone()),
            proof_key: auth.dpop_jkt.clone(),
        };
        let issued = self.issue(access, None)?;
        let next = new_refresh_token();
        let sealed = SealedToken::seal(refresh_token.expose(), &next).ok_or_else(|| {
            GrantError::Unavailable(Cause::new("refresh token generation failed"))
        })?;
        let successor = Successor {
            hash: RefreshTokenHash::of(&next),
            sealed,
            // Idle timeout from now, but never past the session's absolute end.
            expires_at: (now + self.policy.refresh_ttl).min(grant.session_expires_at),
        };
        let rotation = self
            .refresh_tokens
            .rotate(
                &presented,
                &client.client_id,
                successor,
                now,
                self.policy.refresh_reuse_grace,
            )
            .await
            .map_err(rotate_error)?;
        let next = match rotation {
            Rotation::Rotated(_) => next,
            Rotation::Replayed { sealed, .. } => sealed.open(refresh_token.expose()),
        };
        Ok(IssuedTokens {
            refresh_token: Some(Secret::new(next)),
            ..issued
        })
    }

    /// Whether the browser session a family was issued under (if any) is still alive; a refresh
    /// counts as activity in it.
    async fn browser_session_alive(&self, grant: &RefreshGrant) -> Result<bool, GrantError> {
        let Some(login) = self.login.as_ref().filter(|_| grant.family.is_browser()) else {
            return Ok(true);
        };
        // A missing link (evicted, lost) means dead, never "had no session": fail closed.
        match login.records.family_session(&grant.family).await? {
            Some(sid) => Ok(login.records.live_session(&sid).await?.is_some()),
            None => Ok(false),
        }
    }
}
