//! The users file, re-read while the issuer runs: editing it (or updating the Kubernetes Secret
//! it is mounted from) changes who may log in without a restart, as the key directory does. A
//! file that no longer validates is logged and the last good directory stays in force, so a typo
//! never locks everyone out.

use crate::users_file::FileDirectory;
use crate::UsersFileError;
use async_trait::async_trait;
use portcullis_domain::cause::Chain;
use portcullis_domain::directory::{ClientRecord, DirectoryError, UserDirectory, UserRecord};
use portcullis_domain::identity::{ClientId, Username};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// A [`FileDirectory`] that follows its file.
#[derive(Debug)]
pub struct ReloadingDirectory {
    path: PathBuf,
    current: RwLock<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    directory: Arc<FileDirectory>,
    text: String,
}

impl ReloadingDirectory {
    /// Loads `path`, refusing a file that does not validate (at start-up nothing older exists).
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, UsersFileError> {
        let path = path.into();
        let text = std::fs::read_to_string(&path)?;
        let directory = Arc::new(FileDirectory::from_toml(&text)?);
        Ok(Self {
            path,
            current: RwLock::new(Loaded { directory, text }),
        })
    }

    /// The directory in force now.
    pub fn current(&self) -> Arc<FileDirectory> {
        self.read().directory.clone()
    }

    /// Re-reads the file; `Ok(true)` when it changed and the new directory is in force. On an
    /// error the previous directory stays.
    pub fn reload(&self) -> Result<bool, UsersFileError> {
        let text = std::fs::read_to_string(&self.path)?;
        if text == self.read().text {
            return Ok(false);
        }
        let directory = Arc::new(FileDirectory::from_toml(&text)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Loaded { directory, text };
        Ok(true)
    }

    /// Re-reads the file every `interval` while the directory is in use.
    pub fn watch(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let directory = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(directory) = directory.upgrade() else {
                    return;
                };
                match tokio::task::spawn_blocking(move || directory.reload()).await {
                    Ok(Ok(true)) => tracing::info!("users file changed; reloaded"),
                    Ok(Ok(false)) => {}
                    Ok(Err(error)) => tracing::error!(
                        error = %Chain(&error),
                        "users file reload failed; keeping the last good users and clients"
                    ),
                    Err(error) => tracing::error!(%error, "users file reload task failed"),
                }
            }
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.current.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl UserDirectory for ReloadingDirectory {
    async fn user(&self, username: &Username) -> Result<Option<UserRecord>, DirectoryError> {
        self.current().user(username).await
    }

    async fn user_by_subject(&self, subject: &str) -> Result<Option<UserRecord>, DirectoryError> {
        self.current().user_by_subject(subject).await
    }

    async fn client(&self, client_id: &ClientId) -> Result<Option<ClientRecord>, DirectoryError> {
        self.current().client(client_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> String {
        let hash = crate::hash_password("pw").unwrap();
        format!("[[users]]\nusername = \"{name}\"\npassword_hash = \"{hash}\"\n")
    }

    #[tokio::test]
    async fn edits_take_effect_and_a_broken_file_keeps_the_last_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        std::fs::write(&path, user("alice")).unwrap();
        let directory = ReloadingDirectory::load(&path).unwrap();
        let alice = Username::new("alice").unwrap();
        let bob = Username::new("bob").unwrap();
        assert!(!directory.reload().unwrap(), "nothing changed");
        std::fs::write(&path, user("bob")).unwrap();
        assert!(directory.reload().unwrap());
        assert!(directory.user(&bob).await.unwrap().is_some());
        assert!(
            directory.user(&alice).await.unwrap().is_none(),
            "alice was removed"
        );
        std::fs::write(&path, "not toml [").unwrap();
        assert!(directory.reload().is_err());
        assert!(
            directory.user(&bob).await.unwrap().is_some(),
            "the last good file stays"
        );
    }
}
