//! Who may log in: users, OAuth clients and the password check.

use crate::cause::Cause;
use crate::identity::{ClientId, Username};
use crate::scope::ScopeSet;
use crate::secret::Secret;
use async_trait::async_trait;
use std::collections::BTreeSet;

/// The OAuth grants a client may use (RFC 6749 `grant_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GrantType {
    /// `password`: first-party login with a username and password.
    Password,
    /// `refresh_token`: exchange a refresh token for new tokens.
    RefreshToken,
    /// `client_credentials`: a confidential client acting for itself.
    ClientCredentials,
}

impl GrantType {
    /// Parses the RFC 6749 name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "password" => Some(Self::Password),
            "refresh_token" => Some(Self::RefreshToken),
            "client_credentials" => Some(Self::ClientCredentials),
            _ => None,
        }
    }

    /// The RFC 6749 name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

/// A user who can log in with a password.
#[derive(Clone, Debug)]
pub struct UserRecord {
    /// The login name, also the subject of the user's tokens.
    pub username: Username,
    /// The argon2id PHC string of the password.
    pub password_hash: Secret,
    /// The most the user's tokens may grant.
    pub scopes: ScopeSet,
}

/// A registered OAuth client.
#[derive(Clone, Debug)]
pub struct ClientRecord {
    /// The client's id.
    pub client_id: ClientId,
    /// The argon2id PHC string of the secret; `None` for a public client.
    pub secret_hash: Option<Secret>,
    /// The grants the client may use.
    pub grants: BTreeSet<GrantType>,
    /// The most the client's tokens may grant.
    pub scopes: ScopeSet,
    /// The `aud` of the client's access tokens.
    pub audience: Vec<String>,
}

/// Why the directory could not answer.
#[derive(Debug, thiserror::Error)]
#[error("user directory unavailable")]
pub struct DirectoryError(#[source] pub Cause);

/// Looks up users and clients.
#[async_trait]
pub trait UserDirectory: Send + Sync {
    /// The user with this login name.
    async fn user(&self, username: &Username) -> Result<Option<UserRecord>, DirectoryError>;
    /// The client with this id.
    async fn client(&self, client_id: &ClientId) -> Result<Option<ClientRecord>, DirectoryError>;
}

/// Why a password check could not run (overload, malformed stored hash).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Too many checks are queued; the caller should answer "try later".
    #[error("password checks are saturated")]
    Saturated,
    /// The stored hash is unusable; an operator must fix the directory.
    #[error("stored password hash is invalid")]
    InvalidHash,
}

/// Checks passwords and client secrets against stored hashes.
#[async_trait]
pub trait PasswordVerifier: Send + Sync {
    /// Whether `secret` matches `hash`. With `hash = None` (unknown user) it does the same work
    /// against a dummy hash and answers `false`, so timing does not reveal which users exist.
    async fn verify(&self, secret: &Secret, hash: Option<&Secret>) -> Result<bool, PasswordError>;
}
