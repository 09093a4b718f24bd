//! Changing who may log in while the issuer runs: the port an identity store implements so the
//! admin CLI and API can add, change and remove users and clients, and every issuer replica sees
//! the change at its next lookup.

use crate::cause::Cause;
use crate::directory::{ClientRecord, UserDirectory, UserRecord};
use crate::identity::{ClientId, Username};
use crate::scope::ScopeSet;
use crate::secret::Secret;
use async_trait::async_trait;

/// A user as the admin interfaces see it: the record and whether it may log in.
#[derive(Clone, Debug)]
pub struct UserAccount {
    /// What the directory answers for the user while enabled.
    pub record: UserRecord,
    /// A disabled user is no user to logins and refreshes, but keeps its name and data.
    pub disabled: bool,
}

/// One change to a user, applied in one transaction.
#[derive(Clone, Debug)]
pub enum UserChange {
    /// A new argon2id password hash; the user's existing sessions end with it.
    Password(Secret),
    /// The same password under a stronger hash (an upgrade at login): sessions carry on.
    Rehash(Secret),
    /// Disable (`false`) or enable (`true`).
    Enabled(bool),
    /// New scopes; refreshes are narrowed to them from the next one on.
    Scopes(ScopeSet),
    /// New display name and e-mail address.
    Profile {
        /// The display name.
        name: Option<String>,
        /// The e-mail address.
        email: Option<String>,
    },
}

/// One change to a client, applied in one transaction.
#[derive(Clone, Debug)]
pub enum ClientChange {
    /// A new argon2id secret hash (a rotation): the old secret stops working at once.
    Secret(Secret),
    /// New scopes.
    Scopes(ScopeSet),
}

/// Why an admin change was not made. Nothing is half-applied.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A user or client of that name already exists, or a client would share a user's name
    /// (its own tokens would then speak for that user).
    #[error("{0} already exists")]
    Duplicate(String),
    /// No such user or client.
    #[error("no such {0}")]
    NotFound(String),
    /// The change breaks a rule (a public client cannot have a secret rotated, ...).
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error("identity store unavailable")]
    Unavailable(#[source] Cause),
}

/// The writable side of an identity store. Reads go through [`UserDirectory`], which answers
/// `None` for a disabled user.
#[async_trait]
pub trait DirectoryAdmin: UserDirectory {
    /// Adds a user; [`AdminError::Duplicate`] if the name is taken by a user or a client.
    async fn create_user(&self, user: UserRecord) -> Result<(), AdminError>;
    /// The user of that name, enabled or not.
    async fn account(&self, username: &Username) -> Result<Option<UserAccount>, AdminError>;
    /// Applies `change` to the user.
    async fn update_user(&self, username: &Username, change: UserChange) -> Result<(), AdminError>;
    /// Removes the user.
    async fn delete_user(&self, username: &Username) -> Result<(), AdminError>;
    /// Up to `limit` users whose names sort after `after`, in name order (a page).
    async fn users(&self, after: Option<&str>, limit: u32) -> Result<Vec<UserAccount>, AdminError>;
    /// Adds a client; [`AdminError::Duplicate`] if the id is taken by a client or a user.
    async fn create_client(&self, client: ClientRecord) -> Result<(), AdminError>;
    /// Applies `change` to the client.
    async fn update_client(
        &self,
        client_id: &ClientId,
        change: ClientChange,
    ) -> Result<(), AdminError>;
    /// Removes the client.
    async fn delete_client(&self, client_id: &ClientId) -> Result<(), AdminError>;
    /// Up to `limit` clients whose ids sort after `after`, in id order (a page).
    async fn clients(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ClientRecord>, AdminError>;
    /// Adds every user and client, or none of them (an import).
    async fn create_all(
        &self,
        users: Vec<UserRecord>,
        clients: Vec<ClientRecord>,
    ) -> Result<(), AdminError>;
}
