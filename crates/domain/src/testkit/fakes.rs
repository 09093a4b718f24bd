//! In-memory fakes of the issuer's ports, so the grant rules of
//! [`TokenService`](crate::usecase::tokens::TokenService) can be unit-tested without argon2, keys
//! or a store: each fake is small enough to be obviously correct.

use crate::directory::{
    ClientRecord, DirectoryError, PasswordError, PasswordVerifier, UserDirectory, UserRecord,
};
use crate::identity::{ClientId, Username};
use crate::login::claims::{IdClaims, IdTokenSigner};
use crate::secret::Secret;
use crate::token::{AccessClaims, AccessTokenSigner, SignError};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

/// Users and clients in maps that a test edits while the service runs (to remove a user, say).
#[derive(Debug, Default)]
pub struct FakeDirectory {
    users: Mutex<HashMap<Username, UserRecord>>,
    clients: Mutex<HashMap<ClientId, ClientRecord>>,
}

impl FakeDirectory {
    /// Adds or replaces a user.
    pub fn put_user(&self, user: UserRecord) {
        lock(&self.users).insert(user.username.clone(), user);
    }

    /// Removes a user, as an operator deleting an account would.
    pub fn remove_user(&self, username: &Username) {
        lock(&self.users).remove(username);
    }

    /// Adds or replaces a client.
    pub fn put_client(&self, client: ClientRecord) {
        lock(&self.clients).insert(client.client_id.clone(), client);
    }
}

#[async_trait]
impl UserDirectory for FakeDirectory {
    async fn user(&self, username: &Username) -> Result<Option<UserRecord>, DirectoryError> {
        Ok(lock(&self.users).get(username).cloned())
    }

    async fn user_by_subject(&self, subject: &str) -> Result<Option<UserRecord>, DirectoryError> {
        Ok(lock(&self.users)
            .values()
            .find(|user| user.subject.as_str() == subject)
            .cloned())
    }

    async fn client(&self, client_id: &ClientId) -> Result<Option<ClientRecord>, DirectoryError> {
        Ok(lock(&self.clients).get(client_id).cloned())
    }
}

/// A password check without argon2: the "hash" of a secret is the secret behind a prefix. It
/// counts its checks, so a test can see that an unknown user or client still costs one.
#[derive(Debug, Default)]
pub struct FakePasswordVerifier {
    checks: Mutex<usize>,
}

impl FakePasswordVerifier {
    /// The stored form of `secret` that [`FakePasswordVerifier::verify`] accepts.
    pub fn hash(secret: &str) -> Secret {
        Secret::new(format!("fake-hash:{secret}"))
    }

    /// How many checks ran, dummy ones included.
    pub fn checks(&self) -> usize {
        *lock(&self.checks)
    }
}

#[async_trait]
impl PasswordVerifier for FakePasswordVerifier {
    async fn verify(&self, secret: &Secret, hash: Option<&Secret>) -> Result<bool, PasswordError> {
        *lock(&self.checks) += 1;
        Ok(hash.is_some_and(|hash| hash.expose() == Self::hash(secret.expose()).expose()))
    }
}

/// A signer that keeps the claims it signed and hands out their `jti` as the token, so a test
/// reads back exactly what the service decided.
#[derive(Debug, Default)]
pub struct FakeSigner {
    signed: Mutex<HashMap<String, AccessClaims>>,
    id_tokens: Mutex<HashMap<String, IdClaims>>,
}

impl FakeSigner {
    /// The claims of a token this signer issued.
    pub fn claims(&self, token: &Secret) -> Option<AccessClaims> {
        lock(&self.signed).get(token.expose()).cloned()
    }
}

impl FakeSigner {
    /// The claims of an id_token this signer issued.
    pub fn id_claims(&self, token: &Secret) -> Option<IdClaims> {
        lock(&self.id_tokens).get(token.expose()).cloned()
    }
}

impl IdTokenSigner for FakeSigner {
    fn sign_id_token(&self, claims: &IdClaims, access_token: &str) -> Result<String, SignError> {
        let token = format!("fake-id.{access_token}");
        lock(&self.id_tokens).insert(token.clone(), claims.clone());
        Ok(token)
    }
}

impl AccessTokenSigner for FakeSigner {
    fn sign(&self, claims: &AccessClaims) -> Result<String, SignError> {
        let token = format!("fake-jwt.{}", claims.token_id);
        lock(&self.signed).insert(token.clone(), claims.clone());
        Ok(token)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
