//! Opening the configured identity source: the users file (re-read on a timer) or the SQL
//! identity store (read on every lookup, so changes through the admin CLI or API are in force on
//! every replica at once). Start-up derives from it what discovery advertises and which
//! audiences introspection answers.

use crate::config::IdentitySource;
use crate::BuildError;
use portcullis_directory::{ReloadingDirectory, SqlDirectory};
use portcullis_domain::directory::{ClientRecord, GrantType, UserDirectory};
use portcullis_domain::directory_admin::DirectoryAdmin;
use portcullis_domain::identity::ClientId;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// The most clients start-up reads from a store to derive discovery; a page at a time.
const CLIENT_PAGE: u32 = 500;

/// The opened source and what start-up derived from it.
pub struct Identities {
    /// Lookups for logins, grants and UserInfo.
    pub directory: Arc<dyn UserDirectory>,
    /// The clients as they were at start-up.
    pub clients: Vec<ClientRecord>,
    /// Re-reads the users file, when that is the source.
    pub watch: Option<tokio::task::JoinHandle<()>>,
    /// The writable store behind `directory`, when that is the source: the admin API changes
    /// it, and upgraded password hashes go there. `None` for the users file.
    pub admin: Option<Arc<dyn DirectoryAdmin>>,
}

impl Identities {
    /// Opens `source`; a users file is re-read every `reload_interval`.
    pub async fn open(
        source: &IdentitySource,
        reload_interval: Duration,
    ) -> Result<Self, BuildError> {
        match source {
            IdentitySource::File(path) => {
                let reloading = Arc::new(ReloadingDirectory::load(path)?);
                let clients = reloading.current().clients();
                let watch = reloading.watch(reload_interval);
                Ok(Self {
                    directory: reloading,
                    clients,
                    watch: Some(watch),
                    admin: None,
                })
            }
            IdentitySource::Database(url) => {
                let store = SqlDirectory::connect(url)
                    .await
                    .map_err(BuildError::IdentityStore)?;
                let clients = all_clients(&store).await?;
                let store = Arc::new(store);
                Ok(Self {
                    directory: store.clone(),
                    clients,
                    watch: None,
                    admin: Some(store),
                })
            }
        }
    }

    /// Every audience some client's tokens carry: what introspection answers for.
    pub fn audiences(&self) -> Vec<String> {
        let mut audiences: Vec<String> = self
            .clients
            .iter()
            .flat_map(|c| c.audience.iter().cloned())
            .collect();
        audiences.sort();
        audiences.dedup();
        audiences
    }

    /// The clients allowed `grant`, by id.
    pub fn clients_with_grant(&self, grant: GrantType) -> Vec<&ClientId> {
        portcullis_directory::clients_with_grant(&self.clients, grant)
    }

    /// Every scope some client may ask for.
    pub fn client_scopes(&self) -> BTreeSet<String> {
        self.clients
            .iter()
            .flat_map(|c| c.scopes.iter().map(|s| s.as_str().to_owned()))
            .collect()
    }
}

async fn all_clients(store: &SqlDirectory) -> Result<Vec<ClientRecord>, BuildError> {
    let mut clients = Vec::new();
    loop {
        let after = clients
            .last()
            .map(|c: &ClientRecord| c.client_id.to_string());
        let page = store
            .clients(after.as_deref(), CLIENT_PAGE)
            .await
            .map_err(BuildError::IdentityStore)?;
        let done = page.len() < CLIENT_PAGE as usize;
        clients.extend(page);
        if done {
            return Ok(clients);
        }
    }
}
