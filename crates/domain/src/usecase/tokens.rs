//! Issuing tokens: the OAuth 2.0 grants, decided independently of HTTP.

pub use super::grant_error::GrantError;
use super::grant_error::{rotate_error, unavailable};
use crate::cause::Cause;
use crate::clock::{unix_seconds, Clock};
use crate::directory::{ClientRecord, GrantType, PasswordVerifier, UserDirectory};
use crate::identity::{ClientId, Subject, Username};
use crate::refresh::{
    new_refresh_token, FamilyId, RefreshGrant, RefreshTokenHash, RefreshTokenStore, Rotation,
    SealedToken, Successor,
};
use crate::scope::ScopeSet;
use crate::secret::Secret;
use crate::token::{AccessClaims, AccessTokenSigner};
use base64::Engine;
use rand::RngCore;
use std::sync::Arc;
use std::time::Duration;

/// Lifetimes and identity of issued tokens.
#[derive(Clone, Debug)]
pub struct TokenPolicy {
    /// The `iss` of every token, exactly as configured.
    pub issuer: String,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// Lifetime of each refresh token (every rotation starts a new one): the session's idle
    /// timeout.
    pub refresh_ttl: Duration,
    /// Longest a login session (refresh-token family) lasts, however actively it is used.
    pub refresh_absolute_lifetime: Duration,
    /// How long after a rotation the retired token may be presented again and get the same
    /// successor (a retried or concurrent refresh); after it, a re-presented token is reuse.
    pub refresh_reuse_grace: Duration,
}

/// How a client identified itself on the token endpoint.
#[derive(Clone, Debug)]
pub struct ClientAuth {
    /// The presented `client_id`.
    pub client_id: String,
    /// The presented secret, if any (HTTP Basic or `client_secret`).
    pub secret: Option<Secret>,
}

/// Tokens issued by a successful grant.
#[derive(Debug)]
pub struct IssuedTokens {
    /// The signed access token.
    pub access_token: Secret,
    /// Access-token lifetime in seconds.
    pub expires_in: u64,
    /// The new refresh token (not for `client_credentials`).
    pub refresh_token: Option<Secret>,
    /// What was granted.
    pub scope: ScopeSet,
    /// Who the tokens speak for, for the audit log.
    pub subject: Subject,
}

/// The OAuth grants, wired to the directory, the password check, the refresh store and the signer.
pub struct TokenService {
    directory: Arc<dyn UserDirectory>,
    passwords: Arc<dyn PasswordVerifier>,
    /// Client secrets get their own argon2 budget, so a flood of password logins cannot starve
    /// client authentication (introspection, client credentials).
    client_secrets: Arc<dyn PasswordVerifier>,
    refresh_tokens: Arc<dyn RefreshTokenStore>,
    signer: Arc<dyn AccessTokenSigner>,
    clock: Arc<dyn Clock>,
    policy: TokenPolicy,
}

impl TokenService {
    /// Wires the service.
    pub fn new(
        directory: Arc<dyn UserDirectory>,
        passwords: Arc<dyn PasswordVerifier>,
        refresh_tokens: Arc<dyn RefreshTokenStore>,
        signer: Arc<dyn AccessTokenSigner>,
        clock: Arc<dyn Clock>,
        policy: TokenPolicy,
    ) -> Self {
        Self {
            directory,
            client_secrets: passwords.clone(),
            passwords,
            refresh_tokens,
            signer,
            clock,
            policy,
        }
    }

    /// Checks client secrets with `verifier` instead of the password verifier: a separate
    /// budget of argon2 slots.
    pub fn with_client_secret_verifier(mut self, verifier: Arc<dyn PasswordVerifier>) -> Self {
        self.client_secrets = verifier;
        self
    }

    /// The policy tokens are issued under.
    pub fn policy(&self) -> &TokenPolicy {
        &self.policy
    }

    /// `grant_type=password`: a first-party client logs a user in.
    pub async fn password_grant(
        &self,
        client: &ClientAuth,
        username: &str,
        password: &Secret,
        scope: Option<&ScopeSet>,
    ) -> Result<IssuedTokens, GrantError> {
        let client = self.authenticate(client, GrantType::Password).await?;
        let user = match Username::new(username) {
            Ok(name) => self.directory.user(&name).await.map_err(unavailable)?,
            Err(_) => None,
        };
        // Unknown users cost one dummy verification too, and get the same answer.
        let valid = self
            .passwords
            .verify(password, user.as_ref().map(|u| &u.password_hash))
            .await
            .map_err(unavailable)?;
        let user = match (valid, user) {
            (true, Some(user)) => user,
            _ => return Err(GrantError::InvalidGrant),
        };
        let allowed = client.scopes.intersection(&user.scopes);
        let scope = narrow(scope, &allowed)?;
        let subject = Subject::from(user.username);
        let now = self.clock.now();
        let session_expires_at = now + self.policy.refresh_absolute_lifetime;
        let grant = RefreshGrant {
            family: FamilyId::generate(),
            subject,
            client_id: client.client_id.clone(),
            scope,
            audience: client.audience.clone(),
            expires_at: (now + self.policy.refresh_ttl).min(session_expires_at),
            session_expires_at,
        };
        let refresh = new_refresh_token();
        self.refresh_tokens
            .issue(RefreshTokenHash::of(&refresh), grant.clone())
            .await
            .map_err(unavailable)?;
        self.issue(
            grant.subject,
            &client.client_id,
            grant.audience,
            grant.scope,
            Some(grant.family),
            Some(refresh),
        )
    }

    /// `grant_type=refresh_token`: validates everything first, then rotates the presented
    /// token and issues fresh tokens. Nothing is spent on a request that is refused, and a
    /// retry within the grace window gets the same successor (see [`Rotation`]).
    pub async fn refresh_grant(
        &self,
        client: &ClientAuth,
        refresh_token: &Secret,
        scope: Option<&ScopeSet>,
    ) -> Result<IssuedTokens, GrantError> {
        let client = self.authenticate(client, GrantType::RefreshToken).await?;
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
        // The user may have been removed or given fewer scopes since logging in, and the client
        // may have lost an audience: what the family grants is re-checked against today's
        // directory on every refresh, before the token is spent.
        let username =
            Username::new(grant.subject.as_str()).map_err(|_| GrantError::InvalidGrant)?;
        let user = self
            .directory
            .user(&username)
            .await
            .map_err(unavailable)?
            .ok_or(GrantError::InvalidGrant)?;
        let allowed = grant
            .scope
            .intersection(&client.scopes)
            .intersection(&user.scopes);
        // A refresh may narrow the scope of the access token, never widen the family's.
        let scope = narrow(scope, &allowed)?;
        let audience: Vec<String> = grant
            .audience
            .iter()
            .filter(|a| client.audience.contains(a))
            .cloned()
            .collect();
        // Signed before rotating: once the token is rotated nothing is left to fail.
        let issued = self.issue(
            grant.subject.clone(),
            &client.client_id,
            audience,
            scope,
            Some(grant.family.clone()),
            None,
        )?;
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

    /// `grant_type=client_credentials`: a confidential client acts for itself.
    pub async fn client_credentials_grant(
        &self,
        client: &ClientAuth,
        scope: Option<&ScopeSet>,
    ) -> Result<IssuedTokens, GrantError> {
        let client = self
            .authenticate(client, GrantType::ClientCredentials)
            .await?;
        if client.secret_hash.is_none() {
            return Err(GrantError::UnauthorizedClient);
        }
        let scope = narrow(scope, &client.scopes)?;
        let subject = Subject::from(client.client_id.clone());
        self.issue(
            subject,
            &client.client_id,
            client.audience,
            scope,
            None,
            None,
        )
    }

    /// Revokes a refresh token's family (RFC 7009); unknown tokens are not an error.
    pub async fn revoke(&self, client: &ClientAuth, token: &Secret) -> Result<(), GrantError> {
        let client = self.authenticate_any(client).await?;
        self.refresh_tokens
            .revoke(&RefreshTokenHash::of(token.expose()), &client.client_id)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Whether the login session `sid` (a refresh-token family id from an access token) is
    /// still alive: not revoked, not past its absolute lifetime or idle timeout.
    pub async fn session_active(&self, sid: &str) -> Result<bool, GrantError> {
        self.refresh_tokens
            .family_active(&FamilyId(sid.to_owned()), self.clock.now())
            .await
            .map_err(unavailable)
    }

    /// Authenticates a confidential client (one with a secret), for endpoints such as token
    /// introspection that public clients may not use.
    pub async fn authenticate_confidential(
        &self,
        auth: &ClientAuth,
    ) -> Result<ClientId, GrantError> {
        let client = self.authenticate_any(auth).await?;
        match client.secret_hash {
            Some(_) => Ok(client.client_id),
            None => Err(GrantError::InvalidClient),
        }
    }

    async fn authenticate(
        &self,
        auth: &ClientAuth,
        grant: GrantType,
    ) -> Result<ClientRecord, GrantError> {
        let client = self.authenticate_any(auth).await?;
        if !client.grants.contains(&grant) {
            return Err(GrantError::UnauthorizedClient);
        }
        Ok(client)
    }

    async fn authenticate_any(&self, auth: &ClientAuth) -> Result<ClientRecord, GrantError> {
        let id = ClientId::new(auth.client_id.as_str()).map_err(|_| GrantError::InvalidClient)?;
        let client = self.directory.client(&id).await.map_err(unavailable)?;
        let Some(client) = client else {
            // An unknown client's secret is checked against a dummy hash, so the answer takes
            // as long as for a known client with a wrong secret.
            if let Some(secret) = &auth.secret {
                self.client_secrets
                    .verify(secret, None)
                    .await
                    .map_err(unavailable)?;
            }
            return Err(GrantError::InvalidClient);
        };
        match (&client.secret_hash, &auth.secret) {
            (None, None) => Ok(client),
            (Some(hash), Some(secret)) => {
                let valid = self
                    .client_secrets
                    .verify(secret, Some(hash))
                    .await
                    .map_err(unavailable)?;
                if valid {
                    Ok(client)
                } else {
                    Err(GrantError::InvalidClient)
                }
            }
            // A confidential client without its secret, or a public client sending one.
            _ => Err(GrantError::InvalidClient),
        }
    }

    fn issue(
        &self,
        subject: Subject,
        client_id: &ClientId,
        audience: Vec<String>,
        scope: ScopeSet,
        session: Option<FamilyId>,
        refresh_token: Option<String>,
    ) -> Result<IssuedTokens, GrantError> {
        let issued_at = unix_seconds(self.clock.now());
        let expires_in = self.policy.access_ttl.as_secs();
        let claims = AccessClaims {
            issuer: self.policy.issuer.clone(),
            subject: subject.clone(),
            audience,
            expires_at: issued_at + expires_in,
            issued_at,
            token_id: new_token_id(),
            client_id: client_id.clone(),
            scope: scope.clone(),
            session_id: session.map(|family| family.0),
        };
        let access_token = self.signer.sign(&claims).map_err(unavailable)?;
        Ok(IssuedTokens {
            access_token: Secret::new(access_token),
            expires_in,
            refresh_token: refresh_token.map(Secret::new),
            scope,
            subject,
        })
    }
}

/// The granted scope: everything allowed when none was requested, else the request if allowed.
fn narrow(requested: Option<&ScopeSet>, allowed: &ScopeSet) -> Result<ScopeSet, GrantError> {
    match requested {
        None => Ok(allowed.clone()),
        Some(requested) if requested.is_subset(allowed) => Ok(requested.clone()),
        Some(_) => Err(GrantError::InvalidScope),
    }
}

fn new_token_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
#[path = "tokens_tests/mod.rs"]
mod tests;
