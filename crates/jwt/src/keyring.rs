//! The issuer's key ring, read from a directory (a Kubernetes Secret mount in production).
//!
//! A key's state is expressed by the directory alone:
//! - every `*.pem` file is **published** in the JWKS;
//! - the file named in `ACTIVE` (one line: a file name such as `2026-11.pem`) is **active**: it
//!   signs. With a single key and no `ACTIVE` file, that key is active;
//! - a published key that is not active is either waiting to become active (published ahead so
//!   verifiers cache it) or **retired** (kept until every token it signed has expired);
//! - deleting the file **removes** it.
//!
//! The ring is re-read periodically, so updating the Secret rotates keys without a restart. A
//! directory that fails to load never replaces a good ring.

use crate::jwks::JwkSet;
use crate::keys::{KeyError, SigningKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use portcullis_domain::cause::Chain;
use portcullis_domain::signing::SigningAlgorithm;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The name of the file that names the active key.
pub const ACTIVE_FILE: &str = "ACTIVE";

/// Why a key directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    /// The directory or a file in it could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// What could not be read.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A key file is not a usable key.
    #[error("key file {path}: {source}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// Why.
        source: KeyError,
    },
    /// The same key is in two files pinned to different algorithms.
    #[error("key file {path}: key {kid} is already published with another algorithm")]
    OneKeyTwoAlgorithms {
        /// The second file.
        path: PathBuf,
        /// The key's id.
        kid: String,
    },
    /// No `*.pem` file was found.
    #[error("no *.pem signing keys in {0}")]
    NoKeys(PathBuf),
    /// Several keys and no `ACTIVE` file, or `ACTIVE` names a file that is not there.
    #[error("cannot tell which key is active: {0}")]
    NoActiveKey(String),
}

/// One consistent view of the directory: the keys, the active one, and the JWKS to publish.
#[derive(Debug)]
pub struct KeySet {
    active: Arc<SigningKey>,
    keys: Vec<Arc<SigningKey>>,
    jwks_json: Arc<[u8]>,
    jwks_etag: String,
}

impl KeySet {
    /// The key that signs new tokens.
    pub fn active(&self) -> &Arc<SigningKey> {
        &self.active
    }

    /// Every published key, the active one included.
    pub fn keys(&self) -> &[Arc<SigningKey>] {
        &self.keys
    }

    /// The key that signs with `alg`: the active key when it is of that algorithm, otherwise
    /// the published key of that algorithm whose file name sorts last (the newest, with dated
    /// names), so id_tokens can follow a client's registered algorithm.
    pub fn signing_key(&self, alg: SigningAlgorithm) -> Option<&Arc<SigningKey>> {
        if self.active.algorithm() == alg {
            return Some(&self.active);
        }
        self.keys.iter().rev().find(|key| key.algorithm() == alg)
    }

    /// The algorithms of the published keys, each once, for discovery.
    pub fn algorithms(&self) -> Vec<SigningAlgorithm> {
        let mut algorithms: Vec<SigningAlgorithm> =
            self.keys.iter().map(|key| key.algorithm()).collect();
        algorithms.sort();
        algorithms.dedup();
        algorithms
    }

    /// The serialised JWKS document, built once per load.
    pub fn jwks_json(&self) -> Arc<[u8]> {
        self.jwks_json.clone()
    }

    /// A strong ETag of the JWKS document.
    pub fn jwks_etag(&self) -> &str {
        &self.jwks_etag
    }

    fn new(keys: Vec<Arc<SigningKey>>, active: Arc<SigningKey>) -> Self {
        let jwks = JwkSet {
            keys: keys.iter().map(|k| k.jwk().clone()).collect(),
        };
        let json = serde_json::to_vec(&jwks).unwrap_or_default();
        let etag = format!(
            "\"{}\"",
            URL_SAFE_NO_PAD.encode(&Sha256::digest(&json)[..16])
        );
        Self {
            active,
            keys,
            jwks_json: json.into(),
            jwks_etag: etag,
        }
    }

    /// Loads every key in `dir`.
    pub fn load(dir: &Path) -> Result<Self, KeyRingError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| KeyRingError::Io { path, source }
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or(".");
                !name.starts_with('.') && name.ends_with(".pem") && p.is_file()
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(KeyRingError::NoKeys(dir.to_path_buf()));
        }
        let mut keys = Vec::with_capacity(files.len());
        for path in &files {
            let pem = std::fs::read_to_string(path).map_err(io(path))?;
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let key = SigningKey::from_file(name, &pem).map_err(|source| KeyRingError::BadKey {
                path: path.clone(),
                source,
            })?;
            keys.push((path.clone(), Arc::new(key)));
        }
        let active_path = dir.join(ACTIVE_FILE);
        let active = match std::fs::read_to_string(&active_path) {
            Ok(name) => {
                let name = name.trim();
                keys.iter()
                    .find(|(p, k)| {
                        p.file_name().and_then(|n| n.to_str()) == Some(name) || k.kid() == name
                    })
                    .map(|(_, k)| k.clone())
                    .ok_or_else(|| {
                        KeyRingError::NoActiveKey(format!(
                            "{ACTIVE_FILE} names {name:?}, which is not a key here"
                        ))
                    })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && keys.len() == 1 => {
                keys[0].1.clone()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyRingError::NoActiveKey(format!(
                    "{} keys and no {ACTIVE_FILE} file naming the one that signs",
                    keys.len()
                )))
            }
            Err(e) => return Err(io(&active_path)(e)),
        };
        let mut unique: Vec<Arc<SigningKey>> = Vec::with_capacity(keys.len());
        for (path, key) in keys {
            match unique.iter().find(|k| k.kid() == key.kid()) {
                None => unique.push(key),
                // One key in two files (a copy, or `a.pem` and `a.ps256.pem`) would publish one
                // kid for two algorithms: verifiers would refuse whatever the second signs.
                Some(first) if first.algorithm() != key.algorithm() => {
                    return Err(KeyRingError::OneKeyTwoAlgorithms {
                        path,
                        kid: key.kid().to_owned(),
                    })
                }
                Some(_) => {}
            }
        }
        Ok(Self::new(unique, active))
    }
}

/// The live key ring: a [`KeySet`] that a background task replaces when the directory changes.
#[derive(Debug)]
pub struct KeyRing {
    dir: PathBuf,
    current: RwLock<Arc<KeySet>>,
}

impl KeyRing {
    /// Loads the directory; fails if it holds no usable active key.
    pub fn load(dir: impl Into<PathBuf>) -> Result<Self, KeyRingError> {
        let dir = dir.into();
        let set = KeySet::load(&dir)?;
        tracing::info!(
            target: "portcullis::audit",
            event = "key_ring_loaded",
            active_kid = set.active().kid(),
            published = set.keys().len(),
            "signing keys loaded"
        );
        Ok(Self {
            dir,
            current: RwLock::new(Arc::new(set)),
        })
    }

    /// The current view.
    pub fn current(&self) -> Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-reads the directory; on failure the current keys stay in force.
    pub fn reload(&self) -> Result<(), KeyRingError> {
        let set = KeySet::load(&self.dir)?;
        let previous = self.current();
        if previous.jwks_etag() != set.jwks_etag() || previous.active().kid() != set.active().kid()
        {
            tracing::info!(
                target: "portcullis::audit",
                event = "key_ring_changed",
                active_kid = set.active().kid(),
                previous_active_kid = previous.active().kid(),
                published = set.keys().len(),
                "signing keys changed"
            );
        }
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        Ok(())
    }

    /// Re-reads the directory every `interval` for as long as the ring is alive.
    pub fn watch(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let ring = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(ring) = ring.upgrade() else { return };
                let reloaded = tokio::task::spawn_blocking(move || ring.reload()).await;
                if let Ok(Err(error)) = reloaded {
                    tracing::error!(error = %Chain(&error), "key directory reload failed; keeping the current keys");
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate_rsa_pem;

    #[test]
    fn active_key_is_named_by_the_active_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.pem"), generate_rsa_pem().unwrap()).unwrap();
        let single = KeySet::load(dir.path()).unwrap();
        let first_kid = single.active().kid().to_string();

        std::fs::write(dir.path().join("b.pem"), generate_rsa_pem().unwrap()).unwrap();
        assert!(matches!(
            KeySet::load(dir.path()),
            Err(KeyRingError::NoActiveKey(_))
        ));

        std::fs::write(dir.path().join(ACTIVE_FILE), "b.pem\n").unwrap();
        let both = KeySet::load(dir.path()).unwrap();
        assert_ne!(both.active().kid(), first_kid);
        assert_eq!(both.keys().len(), 2);
        let jwks: JwkSet = serde_json::from_slice(&both.jwks_json()).unwrap();
        assert_eq!(jwks.keys.len(), 2);
        assert!(
            jwks.keys.iter().any(|k| k.kid == first_kid),
            "retired key still published"
        );

        std::fs::write(dir.path().join(ACTIVE_FILE), "missing.pem").unwrap();
        assert!(matches!(
            KeySet::load(dir.path()),
            Err(KeyRingError::NoActiveKey(_))
        ));
    }

    #[test]
    fn one_key_under_two_algorithms_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pem = generate_rsa_pem().unwrap();
        std::fs::write(dir.path().join("a.pem"), &pem).unwrap();
        std::fs::write(dir.path().join("a.ps256.pem"), &pem).unwrap();
        std::fs::write(dir.path().join(ACTIVE_FILE), "a.ps256.pem").unwrap();
        assert!(matches!(
            KeySet::load(dir.path()),
            Err(KeyRingError::OneKeyTwoAlgorithms { .. })
        ));
        // The same key twice under one algorithm is one published key.
        std::fs::remove_file(dir.path().join("a.ps256.pem")).unwrap();
        std::fs::write(dir.path().join("copy.pem"), &pem).unwrap();
        std::fs::write(dir.path().join(ACTIVE_FILE), "copy.pem").unwrap();
        assert_eq!(KeySet::load(dir.path()).unwrap().keys().len(), 1);
    }

    #[test]
    fn a_failed_reload_keeps_the_current_keys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.pem"), generate_rsa_pem().unwrap()).unwrap();
        let ring = KeyRing::load(dir.path()).unwrap();
        let kid = ring.current().active().kid().to_string();
        std::fs::write(dir.path().join("broken.pem"), "not a key").unwrap();
        assert!(ring.reload().is_err());
        assert_eq!(ring.current().active().kid(), kid);
    }

    #[test]
    fn the_jwks_holds_public_parts_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.pem"), generate_rsa_pem().unwrap()).unwrap();
        let set = KeySet::load(dir.path()).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&set.jwks_json()).unwrap();
        let key = &json["keys"][0];
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                key.get(private).is_none(),
                "{private} must never be published"
            );
        }
        assert_eq!(key["alg"], "RS256");
        assert_eq!(key["use"], "sig");
    }
}
