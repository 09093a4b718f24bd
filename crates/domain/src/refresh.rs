//! Refresh tokens: opaque, stored only as hashes, rotated on every use, revoked by family.

use crate::cause::Cause;
use crate::encoding::{from_hex_32, random_token, to_hex};
use crate::identity::{ClientId, Subject};
use crate::scope::ScopeSet;
use async_trait::async_trait;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime};

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
        to_hex(&self.0)
    }

    /// Parses [`RefreshTokenHash::to_hex`] output.
    pub fn from_hex(hex: &str) -> Option<Self> {
        from_hex_32(hex).map(Self)
    }
}

/// A fresh refresh token: 256 random bits, base64url without padding.
pub fn new_refresh_token() -> String {
    random_token()
}

const BROWSER_FAMILY_PREFIX: &str = "b.";

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

    /// A new family of a browser or device login: marked in the id itself (base64url never
    /// contains a `.`), so a family whose link to its browser session is missing (evicted, lost)
    /// is known to be dead instead of being taken for one that never had a session.
    pub fn generate_for_browser() -> Self {
        Self(format!("{BROWSER_FAMILY_PREFIX}{}", Self::generate().0))
    }

    /// Whether this family was issued under a browser session.
    pub fn is_browser(&self) -> bool {
        self.0.starts_with(BROWSER_FAMILY_PREFIX)
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
    /// When this token stops working: the idle timeout after its issue, never later than
    /// `session_expires_at`.
    pub expires_at: SystemTime,
    /// When the whole family stops working however actively it is used: the login's absolute
    /// lifetime, carried unchanged through every rotation.
    pub session_expires_at: SystemTime,
    /// The thumbprint of the DPoP key a public client's family is bound to (RFC 9449 §5): a
    /// refresh needs a proof by that key, so a stolen refresh token is useless without it.
    pub dpop_jkt: Option<String>,
}

/// A refresh token sealed under a key only its predecessor's holder can derive: what a store
/// keeps of a successor so that a retried rotation can hand the same successor out again (a
/// client that lost the answer, or several threads sharing one token) without the store ever
/// holding a usable token. The key is a SHA-256 of the predecessor with its own domain
/// separation, so it is neither the predecessor's stored hash nor derivable from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealedToken(pub [u8; 32]);

impl SealedToken {
    /// Seals `successor` (a token from [`new_refresh_token`]) for whoever presents `predecessor`;
    /// `None` if `successor` is not such a token.
    pub fn seal(predecessor: &str, successor: &str) -> Option<Self> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(successor)
            .ok()?;
        let bytes: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(xor(bytes, successor_key(predecessor))))
    }

    /// The successor, given the predecessor the client presented.
    pub fn open(&self, predecessor: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(xor(self.0, successor_key(predecessor)))
    }

    /// Lower-case hex, for stores that keep strings.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    /// Parses [`SealedToken::to_hex`] output.
    pub fn from_hex(hex: &str) -> Option<Self> {
        from_hex_32(hex).map(Self)
    }
}

fn successor_key(predecessor: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"portcullis refresh successor key v1\0");
    hasher.update(predecessor.as_bytes());
    hasher.finalize().into()
}

fn xor(mut data: [u8; 32], key: [u8; 32]) -> [u8; 32] {
    for (d, k) in data.iter_mut().zip(key) {
        *d ^= k;
    }
    data
}

/// The token a rotation creates, as the store needs it.
#[derive(Clone, Copy, Debug)]
pub struct Successor {
    /// Its hash, the key it is found by.
    pub hash: RefreshTokenHash,
    /// The token itself, sealed for the predecessor's holder (see [`SealedToken`]).
    pub sealed: SealedToken,
    /// When it stops working.
    pub expires_at: SystemTime,
}

/// What a successful rotation produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The presented token was live: it is retired and the offered successor now stands.
    Rotated(RefreshGrant),
    /// The presented token had been rotated moments before (within the grace window) and its
    /// successor is still unused: the same successor is handed out again, so a retried or
    /// concurrent refresh is idempotent instead of looking like theft.
    Replayed {
        /// The successor's grant.
        grant: RefreshGrant,
        /// The successor, to be opened with the presented token.
        sealed: SealedToken,
    },
}

impl Rotation {
    /// The grant the caller's new token carries.
    pub fn grant(&self) -> &RefreshGrant {
        match self {
            Rotation::Rotated(grant) | Rotation::Replayed { grant, .. } => grant,
        }
    }
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
    #[error("refresh token store unavailable")]
    Unavailable(#[source] Cause),
}

/// Why the store failed a write.
#[derive(Debug, thiserror::Error)]
#[error("refresh token store unavailable")]
pub struct RefreshStoreError(#[source] pub Cause);

/// Keeps refresh tokens (by hash) and their families.
#[async_trait]
pub trait RefreshTokenStore: Send + Sync {
    /// Stores a new token.
    async fn issue(
        &self,
        token: RefreshTokenHash,
        grant: RefreshGrant,
    ) -> Result<(), RefreshStoreError>;

    /// The grant of a live or rotated token issued to `client_id`, changing nothing, so a
    /// refresh can be validated completely before anything is spent;
    /// [`RotateError::Invalid`] when unknown, expired, revoked or another client's.
    async fn inspect(
        &self,
        presented: &RefreshTokenHash,
        client_id: &ClientId,
        now: SystemTime,
    ) -> Result<RefreshGrant, RotateError>;

    /// Atomically retires `presented` and stores `next` with the same grant and the new expiry.
    /// Of concurrent rotations of one token exactly one rotates; the others, and any retry,
    /// within `grace` of that rotation get [`Rotation::Replayed`] with the same successor as
    /// long as the successor is unused. Presenting a retired token otherwise revokes its whole
    /// family and answers [`RotateError::Reused`].
    async fn rotate(
        &self,
        presented: &RefreshTokenHash,
        client_id: &ClientId,
        next: Successor,
        now: SystemTime,
        grace: Duration,
    ) -> Result<Rotation, RotateError>;

    /// Whether `family` still has a live token and is not revoked: introspection of access
    /// tokens issued under it answers inactive once the session has ended.
    async fn family_active(
        &self,
        family: &FamilyId,
        now: SystemTime,
    ) -> Result<bool, RefreshStoreError>;

    /// Revokes the token's whole family if it was issued to `client_id` (RFC 7009 §2.1);
    /// `Ok(false)` if the token is unknown or another client's, which changes nothing.
    async fn revoke(
        &self,
        token: &RefreshTokenHash,
        client_id: &ClientId,
    ) -> Result<bool, RefreshStoreError>;
}
