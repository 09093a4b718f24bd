//! How a client proves who it is at the token, revocation and introspection endpoints: its
//! secret (or none, for a public client), the grants it may use, and for a client registered
//! for DPoP-bound tokens, a proof.

use super::{unavailable, ClientAuth, GrantError, TokenService};
use crate::directory::{ClientRecord, GrantType};
use crate::identity::ClientId;

impl TokenService {
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

    pub(super) async fn authenticate(
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

    /// [`Self::authenticate`] for a request that issues tokens: a client registered for
    /// DPoP-bound tokens must have sent a proof, before anything (a code, a password) is spent.
    pub(super) async fn authenticate_for_tokens(
        &self,
        auth: &ClientAuth,
        grant: GrantType,
    ) -> Result<ClientRecord, GrantError> {
        let client = self.authenticate(auth, grant).await?;
        if client.dpop_bound && auth.dpop_jkt.is_none() {
            return Err(GrantError::InvalidDpopProof(
                "this client's tokens are DPoP-bound: send a DPoP proof",
            ));
        }
        Ok(client)
    }

    pub(super) async fn authenticate_any(
        &self,
        auth: &ClientAuth,
    ) -> Result<ClientRecord, GrantError> {
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
}
