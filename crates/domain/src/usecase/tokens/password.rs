//! The grants that need no browser: a password typed into a first-party client (opt-in, RFC 9700
//! §2.4 says it MUST NOT be used) and a confidential client acting for itself.

use super::{
    narrow, unavailable, ClientAuth, GrantError, Issue, IssuedTokens, TokenService, UserLogin,
};
use crate::cause::Chain;
use crate::directory::{GrantType, UserRecord};
use crate::directory_admin::{DirectoryAdmin, UserChange};
use crate::identity::Subject;
use crate::scope::ScopeSet;
use crate::secret::Secret;

impl TokenService {
    /// `grant_type=password`: a client that lists the grant logs a user in.
    pub async fn password_grant(
        &self,
        auth: &ClientAuth,
        username: &str,
        password: &Secret,
        scope: Option<&ScopeSet>,
    ) -> Result<IssuedTokens, GrantError> {
        let client = self
            .authenticate_for_tokens(auth, GrantType::Password)
            .await?;
        let user = self
            .check_password(username, password)
            .await?
            .ok_or(GrantError::InvalidGrant)?;
        let allowed = client.scopes.intersection(&user.scopes);
        let scope = narrow(scope, &allowed)?;
        let login = UserLogin {
            subject: user.subject,
            scope,
            refresh_token: Some(crate::refresh::new_refresh_token()),
            hand_out_refresh: true,
            browser: None,
            proof_key: auth.dpop_jkt.clone(),
        };
        self.log_in(&client, login).await
    }

    /// The user whose password this is, or `None`. Unknown users cost one dummy verification
    /// too, so the answer's timing does not tell which users exist.
    pub async fn check_password(
        &self,
        username: &str,
        password: &Secret,
    ) -> Result<Option<UserRecord>, GrantError> {
        let user = self.user(username).await?;
        let valid = self
            .passwords
            .verify(password, user.as_ref().map(|u| &u.password_hash))
            .await
            .map_err(unavailable)?;
        let user = user.filter(|_| valid);
        if let (Some(user), Some(store)) = (&user, &self.password_upgrades) {
            self.upgrade_hash(store.as_ref(), user, password).await;
        }
        Ok(user)
    }

    /// Re-makes `user`'s hash with the verifier's parameters if it is weaker. Best effort: a
    /// failure is logged and the login goes on; the next login tries again.
    async fn upgrade_hash(&self, store: &dyn DirectoryAdmin, user: &UserRecord, password: &Secret) {
        let upgraded = match self.passwords.upgrade(password, &user.password_hash).await {
            Ok(Some(hash)) => hash,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(error = %Chain(&error), "password hash upgrade skipped");
                return;
            }
        };
        match store
            .update_user(&user.username, UserChange::Rehash(upgraded))
            .await
        {
            Ok(()) => tracing::info!(user = %user.username, "password hash upgraded"),
            Err(error) => {
                tracing::warn!(error = %Chain(&error), "password hash upgrade not stored")
            }
        }
    }

    /// The user with this name, as the directory has it now.
    async fn user(&self, username: &str) -> Result<Option<UserRecord>, GrantError> {
        self.directory
            .user_named(username)
            .await
            .map_err(unavailable)
    }

    /// The user whose tokens carry `subject`, as the directory has them now (grants find the
    /// user of a session or a family again; UserInfo reads their claims).
    pub async fn user_with_subject(&self, subject: &str) -> Result<Option<UserRecord>, GrantError> {
        self.directory
            .user_by_subject(subject)
            .await
            .map_err(unavailable)
    }

    /// `grant_type=client_credentials`: a confidential client acts for itself.
    pub async fn client_credentials_grant(
        &self,
        auth: &ClientAuth,
        scope: Option<&ScopeSet>,
    ) -> Result<IssuedTokens, GrantError> {
        let client = self
            .authenticate_for_tokens(auth, GrantType::ClientCredentials)
            .await?;
        if client.secret_hash.is_none() {
            return Err(GrantError::UnauthorizedClient);
        }
        let scope = narrow(scope, &client.scopes)?;
        let subject = Subject::from(client.client_id.clone());
        let access = Issue {
            subject,
            client_id: &client.client_id,
            audience: client.audience.clone(),
            scope,
            session: None,
            proof_key: auth.dpop_jkt.clone(),
        };
        self.issue(access, None)
    }
}
