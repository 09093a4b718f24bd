//! An in-memory [`RefreshTokenStore`] for unit tests of the use cases: the domain cannot depend
//! on the store crate's adapters, so this one is kept as plain as possible (one lock, linear
//! scans, nothing ever pruned) and runs the same contract suite as every real adapter.

use crate::identity::ClientId;
use crate::refresh::{
    FamilyId, RefreshGrant, RefreshStoreError, RefreshTokenHash, RefreshTokenStore, RotateError,
    Rotation, SealedToken, Successor,
};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

#[derive(Debug)]
struct Entry {
    grant: RefreshGrant,
    /// When, into which token and with which sealed successor this token was rotated.
    rotated: Option<(SystemTime, RefreshTokenHash, SealedToken)>,
}

#[derive(Debug, Default)]
struct State {
    tokens: HashMap<RefreshTokenHash, Entry>,
    revoked: HashSet<FamilyId>,
}

/// Refresh tokens in a map behind one lock, which makes rotation trivially atomic.
#[derive(Debug, Default)]
pub struct FakeRefreshTokenStore {
    state: Mutex<State>,
}

impl FakeRefreshTokenStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl RefreshTokenStore for FakeRefreshTokenStore {
    async fn issue(
        &self,
        token: RefreshTokenHash,
        grant: RefreshGrant,
    ) -> Result<(), RefreshStoreError> {
        let entry = Entry {
            grant,
            rotated: None,
        };
        self.lock().tokens.insert(token, entry);
        Ok(())
    }

    async fn inspect(
        &self,
        presented: &RefreshTokenHash,
        client_id: &ClientId,
        now: SystemTime,
    ) -> Result<RefreshGrant, RotateError> {
        let state = self.lock();
        let grant = &state
            .tokens
            .get(presented)
            .ok_or(RotateError::Invalid)?
            .grant;
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
        let entry = state.tokens.get(presented).ok_or(RotateError::Invalid)?;
        let grant = entry.grant.clone();
        if grant.client_id != *client_id || state.revoked.contains(&grant.family) {
            return Err(RotateError::Invalid);
        }
        if let Some((at, successor, sealed)) = entry.rotated {
            let within_grace = now.duration_since(at).unwrap_or_default() < grace;
            let unused = state
                .tokens
                .get(&successor)
                .filter(|s| s.rotated.is_none() && s.grant.expires_at > now);
            if let (true, Some(successor)) = (within_grace, unused) {
                let grant = successor.grant.clone();
                return Ok(Rotation::Replayed { grant, sealed });
            }
            state.revoked.insert(grant.family.clone());
            return Err(RotateError::Reused {
                family: grant.family,
                subject: grant.subject,
            });
        }
        if grant.expires_at <= now {
            return Err(RotateError::Invalid);
        }
        let grant = RefreshGrant {
            expires_at: next.expires_at,
            ..grant
        };
        let retired = state
            .tokens
            .get_mut(presented)
            .ok_or(RotateError::Invalid)?;
        retired.rotated = Some((now, next.hash, next.sealed));
        let successor = Entry {
            grant: grant.clone(),
            rotated: None,
        };
        state.tokens.insert(next.hash, successor);
        Ok(Rotation::Rotated(grant))
    }

    async fn family_active(
        &self,
        family: &FamilyId,
        now: SystemTime,
    ) -> Result<bool, RefreshStoreError> {
        let state = self.lock();
        let live = state
            .tokens
            .values()
            .any(|e| e.grant.family == *family && e.grant.expires_at > now);
        Ok(live && !state.revoked.contains(family))
    }

    async fn revoke(
        &self,
        token: &RefreshTokenHash,
        client_id: &ClientId,
    ) -> Result<bool, RefreshStoreError> {
        let mut state = self.lock();
        let family = match state.tokens.get(token) {
            Some(entry) if entry.grant.client_id == *client_id => entry.grant.family.clone(),
            _ => return Ok(false),
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
        crate::testkit::refresh_store::run(Arc::new(FakeRefreshTokenStore::default())).await;
    }
}
