//! Who may log in: users, OAuth clients and the password check.

use crate::cause::Cause;
use crate::identity::{ClientId, Subject, Username};
use crate::scope::ScopeSet;
use crate::secret::Secret;
use crate::signing::SigningAlgorithm;
use async_trait::async_trait;
use std::collections::BTreeSet;

/// The RFC 8628 `grant_type` of device-code polls.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The OAuth grants a client may use (RFC 6749 `grant_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GrantType {
    /// `password`: first-party login with a username and password.
    Password,
    /// `refresh_token`: exchange a refresh token for new tokens.
    RefreshToken,
    /// `client_credentials`: a confidential client acting for itself.
    ClientCredentials,
    /// `authorization_code`: a user logs in through the browser (with PKCE).
    AuthorizationCode,
    /// `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628): a device without a browser
    /// has the user approve it on another screen.
    DeviceCode,
}

impl GrantType {
    /// Every grant, in the order discovery lists them.
    pub const ALL: [Self; 5] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::ClientCredentials,
        Self::DeviceCode,
        Self::Password,
    ];

    /// Parses the RFC 6749 name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "password" => Some(Self::Password),
            "refresh_token" => Some(Self::RefreshToken),
            "client_credentials" => Some(Self::ClientCredentials),
            "authorization_code" => Some(Self::AuthorizationCode),
            DEVICE_CODE_GRANT => Some(Self::DeviceCode),
            _ => None,
        }
    }

    /// The RFC 6749 name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::AuthorizationCode => "authorization_code",
            Self::DeviceCode => DEVICE_CODE_GRANT,
        }
    }
}

/// A user who can log in with a password.
#[derive(Clone, Debug)]
pub struct UserRecord {
    /// The login name.
    pub username: Username,
    /// The `sub` of the user's tokens and the owner of their items: stable and never reused, so
    /// renaming a user, or deleting one and creating the name again, never hands one person's
    /// items to another. The users file's users keep their names as subjects; the identity
    /// store gives new users an opaque one ([`crate::identity::new_subject`]).
    pub subject: Subject,
    /// The argon2id PHC string of the password.
    pub password_hash: Secret,
    /// The most the user's tokens may grant.
    pub scopes: ScopeSet,
    /// The display name, released with the `profile` scope.
    pub name: Option<String>,
    /// The e-mail address, released with the `email` scope.
    pub email: Option<String>,
    /// Unix seconds: logins before this no longer count (a password change, a re-enable), so
    /// the refresh-token families and browser sessions they started end. 0 for none.
    pub sessions_not_before: u64,
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
    /// Where authorization responses may be sent, compared exactly (RFC 9700 §4.1.3), except
    /// that loopback IP literals match any port (RFC 8252 §7.3).
    pub redirect_uris: Vec<String>,
    /// Where the browser may be sent after logout, compared exactly.
    pub post_logout_redirect_uris: Vec<String>,
    /// First-party: its users are not asked to consent.
    pub trusted: bool,
    /// The algorithm its id_tokens are signed with (`id_token_signed_response_alg`, OIDC
    /// Dynamic Client Registration §2), for relying parties that accept only one; `None`: the
    /// active key's.
    pub id_token_signing_alg: Option<SigningAlgorithm>,
    /// Its access tokens must be sender-constrained (`dpop_bound_access_tokens`, RFC 9449
    /// §5.2): a token request without a DPoP proof is refused, so a stolen token is useless.
    pub dpop_bound: bool,
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
    /// The user whose tokens carry this `sub`: how grants, sessions and UserInfo find the
    /// user again, whatever their login name is now.
    async fn user_by_subject(&self, subject: &str) -> Result<Option<UserRecord>, DirectoryError>;
    /// The client with this id.
    async fn client(&self, client_id: &ClientId) -> Result<Option<ClientRecord>, DirectoryError>;

    /// The user named `name` as a request or a stored record gives it: a name no user can have
    /// (too long, control characters) is simply no user, asked of nothing.
    async fn user_named(&self, name: &str) -> Result<Option<UserRecord>, DirectoryError> {
        match Username::new(name) {
            Ok(username) => self.user(&username).await,
            Err(_) => Ok(None),
        }
    }
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

    /// A new hash of `secret` (just verified against `hash`) when `hash` was made with weaker
    /// parameters than the verifier's own: raising the cost upgrades every stored hash at its
    /// owner's next login. `None` when `hash` is as strong.
    async fn upgrade(
        &self,
        secret: &Secret,
        hash: &Secret,
    ) -> Result<Option<Secret>, PasswordError> {
        let _ = (secret, hash);
        Ok(None)
    }
}
