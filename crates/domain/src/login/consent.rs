//! Remembered consent: a user who allowed a client some scopes is not asked again for them.

use super::{record_key, LoginRecords};
use crate::ephemeral::EphemeralError;
use crate::identity::ClientId;
use crate::scope::ScopeSet;
use std::time::Duration;

/// How long a consent is remembered: a year, after which the user is asked again.
pub const CONSENT_LIFETIME: Duration = Duration::from_secs(365 * 86_400);

fn consent_key(subject: &str, client: &ClientId) -> String {
    record_key("consent", &format!("{subject}\0{client}"))
}

impl LoginRecords {
    /// Whether `subject` has allowed `client` every scope in `scope`.
    pub async fn consented(
        &self,
        subject: &str,
        client: &ClientId,
        scope: &ScopeSet,
    ) -> Result<bool, EphemeralError> {
        Ok(self
            .remembered_scope(subject, client)
            .await?
            .is_some_and(|granted| scope.is_subset(&granted)))
    }

    /// Remembers that `subject` allowed `client` `scope`, on top of what it allowed before.
    pub async fn remember_consent(
        &self,
        subject: &str,
        client: &ClientId,
        scope: &ScopeSet,
    ) -> Result<(), EphemeralError> {
        let mut all: Vec<String> = scope.iter().map(|s| s.as_str().to_owned()).collect();
        if let Some(before) = self.remembered_scope(subject, client).await? {
            all.extend(before.iter().map(|s| s.as_str().to_owned()));
        }
        self.json()
            .put(&consent_key(subject, client), &all, CONSENT_LIFETIME)
            .await
    }

    async fn remembered_scope(
        &self,
        subject: &str,
        client: &ClientId,
    ) -> Result<Option<ScopeSet>, EphemeralError> {
        let stored: Option<Vec<String>> = self.json().get(&consent_key(subject, client)).await?;
        // A stored scope that no longer parses is treated as no consent: the user is asked again.
        Ok(stored.and_then(|s| ScopeSet::from_strs(s.iter().map(String::as_str)).ok()))
    }
}
