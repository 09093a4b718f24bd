//! The in-memory refresh-token store: the embedded default (tokens die with the process), and
//! the store the token use case's unit tests run on.
//!
//! It lives in the domain, not in `portcullis-store`, because it needs nothing but the port's
//! own types and std, and the domain's tests cannot depend on the store crate: one copy serves
//! both, instead of an adapter and a look-alike test fake that could drift apart.

use crate::identity::ClientId;
use crate::refresh::{
    FamilyId, RefreshGrant, RefreshStoreError, RefreshTokenHash, RefreshTokenStore, RotateError,
    Rotation, SealedToken, Successor,
};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

struct Entry {
    grant: RefreshGrant,
    /// When and into what this token was rotated.
    rotated: Option<Rotated>,
}

struct Rotated {
    at: SystemTime,
    next: RefreshTokenHash,
    sealed: SealedToken,
}

#[derive(Default)]
struct State {
    tokens: HashMap<RefreshTokenHash, Entry>,
    revoked: HashSet<FamilyId>,
    /// Each family's newest token expiry: the family is alive until then.
    families: HashMap<FamilyId, SystemTime>,
    prune_at: usize,
}

impl State {
    fn extend_family(&mut self, family: &FamilyId, expires_at: SystemTime) {
        let until = self.families.entry(family.clone()).or_insert(expires_at);
        *until = (*until).max(expires_at);
    }
}

/// Refresh tokens in a map behind one lock, which makes rotation trivially atomic.
#[derive(Default)]
pub struct MemoryRefreshTokenStore {
    state: Mutex<State>,
}

impl std::fmt::Debug for MemoryRefreshTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryRefreshTokenStore")
            .finish_non_exhaustive()
    }
}

impl MemoryRefreshTokenStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Forgets expired tokens (and revocations with no token left), once the map has doubled.
fn prune(state: &mut State, now: SystemTime) {
    if state.tokens.len() < state.prune_at.max(1024) {
        return;
    }
    state.tokens.retain(|_, e| e.grant.expires_at > now);
    state.families.retain(|_, until| *until > now);
    let revoked = std::mem::take(&mut state.revoked);
    state.revoked = revoked
        .into_iter()
        .filter(|f| state.families.contains_key(f))
        .collect();
    state.prune_at = state.tokens.len() * 2;
}

#[async_trait]
impl RefreshTokenStore for MemoryRefreshTokenStore {
    async fn issue(
        &self,
        token: RefreshTokenHash,
        grant: RefreshGrant,
    ) -> Result<(), RefreshStoreError> {
        let mut state = self.lock();
        prune(&mut state, SystemTime::now());
        state.extend_family(&grant.family, grant.expires_at);
        state.tokens.insert(
            token,
            Entry {
                grant,
                rotated: None,
            },
        );
        Ok(())
    }

    async fn inspect(
        &self,
        presented: &RefreshTokenHash,
        client_id: &ClientId,
        now: SystemTime,
    ) -> Result<RefreshGrant, RotateError> {
        let state = self.lock();
        let entry = state.tokens.get(presented).ok_or(RotateError::Invalid)?;
        let grant = &entry.grant;
        if grant.client_id != *client_id
            || state.revoked.contains(&grant.family)
            || grant.expires_at <= now
        {
            return Err(RotateError::Invalid);
        }
        Ok(grant.clone())
    }

    async fn rotate(
        &self,
        presented: &RefreshTokenHash,
        client_id: &ClientId,
        next: Successor,
        now: SystemTime,
        grace: Duration,
    ) -> Result<Rotation, RotateError> {
        let mut state = self.lock();
        let State {
            tokens, revoked, ..
        } = &mut *state;
        let entry = tokens.get(presented).ok_or(RotateError::Invalid)?;
        if entry.grant.client_id != *client_id || revoked.contains(&entry.grant.family) {
            return Err(RotateError::Invalid);
        }
        if let Some(rotated) = &entry.rotated {
            let within_grace = now.duration_since(rotated.at).unwrap_or_default() < grace;
            let unused = tokens.get(&rotated.next).filter(|successor| {
                successor.rotated.is_none() && successor.grant.expires_at > now
            });
            if let (true, Some(successor)) = (within_grace, unused) {
                return Ok(Rotation::Replayed {
                    grant: successor.grant.clone(),
                    sealed: rotated.sealed,
                });
            }
            revoked.insert(entry.grant.family.clone());
            return Err(RotateError::Reused {
                family: entry.grant.family.clone(),
                subject: entry.grant.subject.clone(),
            });
        }
        if entry.grant.expires_at <= now {
            return Err(RotateError::Invalid);
        }
        let grant = RefreshGrant {
            expires_at: next.expires_at,
            ..entry.grant.clone()
        };
        if let Some(entry) = tokens.get_mut(presented) {
            entry.rotated = Some(Rotated {
                at: now,
                next: next.hash,
                sealed: next.sealed,
            });
        }
        tokens.insert(
            next.hash,
            Entry {
                grant: grant.clone(),
                rotated: None,
            },
        );
        state.extend_family(&grant.family, grant.expires_at);
        Ok(Rotation::Rotated(grant))
    }

    async fn family_active(
        &self,
        family: &FamilyId,
        now: SystemTime,
    ) -> Result<bool, RefreshStoreError> {
        let state = self.lock();
        Ok(!state.revoked.contains(family)
            && state.families.get(family).is_some_and(|until| *until > now))
    }

    async fn revoke(
        &self,
        token: &RefreshTokenHash,
        client_id: &ClientId,
    ) -> Result<bool, RefreshStoreError> {
        let mut state = self.lock();
        let family = state
            .tokens
            .get(token)
            .filter(|e| e.grant.client_id == *client_id)
            .map(|e| e.grant.family.clone());
        let Some(family) = family else {
            return Ok(false);
        };
        state.revoked.insert(family);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    // Worker threads, so the contract's concurrent presentations really run in parallel.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn passes_the_refresh_store_contract() {
        crate::testkit::refresh_store::run(Arc::new(MemoryRefreshTokenStore::default())).await;
    }
}
