//! Refresh tokens: opaque, stored only as hashes, rotated on every use, revoked by family.

use crate::identity::{ClientId, Subject};
use crate::scope::ScopeSet;
use async_trait::async_trait;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::time::SystemTime;

/// The SHA-256 of a refresh token: all a store ever keeps, so a leaked store holds no usable
/// token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RefreshTokenHash(pub [u8; 32]);

impl RefreshTokenHash {
    /// Hashes a presented token.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Lower-case hex, for store keys.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A fresh refresh token: 256 random bits, base64url without padding.
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The lineage of refresh tokens born from one login; reuse of any retired member revokes all.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FamilyId(pub String);

impl FamilyId {
    /// A new random family id.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }
}

/// What a refresh token grants: carried over from token to token within a family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshGrant {
    /// The family the token belongs to.
    pub family: FamilyId,
    /// Who logged in.
    pub subject: Subject,
    /// The client that received the token; only it may use it.
    pub client_id: ClientId,
    /// The scopes granted at login; a refresh may narrow them, never widen.
    pub scope: ScopeSet,
    /// The audience of the access tokens.
    pub audience: Vec<String>,
    /// When this token stops working.
    pub expires_at: SystemTime,
}

/// Why a rotation did not produce a new token.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// Unknown, expired, revoked, or issued to another client.
    #[error("refresh token is not valid")]
    Invalid,
    /// A token that was already rotated was presented again: the family is now revoked.
    #[error("refresh token reused; family revoked")]
    Reused {
        /// The revoked family.
        family: FamilyId,
        /// Whose family it was, for the audit log.
        subject: Subject,
    },
    /// The store could not be reached.
    #[error("refresh token store unavailable: {0}")]
    Unavailable(String),
}

/// Why the store failed a write.
#[derive(Debug, thiserror::Error)]
#[error("refresh token store unavailable: {0}")]
pub struct RefreshStoreError(pub String);

/// Keeps refresh tokens (by hash) and their families.
#[async_trait]
pub trait RefreshTokenStore: Send + Sync {
    /// Stores a new token.
    async fn issue(
        &self,
        token: RefreshTokenHash,
        grant: RefreshGrant,
    ) -> Result<(), RefreshStoreError>;

    /// Atomically retires `presented` and stores `next` with the same grant and the new expiry.
    /// Of concurrent rotations of one token exactly one succeeds. Presenting a retired token
    /// revokes its whole family and answers [`RotateError::Reused`].
    async fn rotate(
        &self,
        presented: &RefreshTokenHash,
        client_id: &ClientId,
        next: RefreshTokenHash,
        next_expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<RefreshGrant, RotateError>;

    /// Revokes the token's whole family if it was issued to `client_id` (RFC 7009 §2.1);
    /// `Ok(false)` if the token is unknown or another client's, which changes nothing.
    async fn revoke(
        &self,
        token: &RefreshTokenHash,
        client_id: &ClientId,
    ) -> Result<bool, RefreshStoreError>;
}
