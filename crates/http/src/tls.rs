//! HTTPS for both services: a certificate and key read from PEM files, re-read when the files
//! change (cert-manager renews them in place) so a renewal needs no restart and drops no
//! connection: open connections keep the certificate they were set up with, new ones get the
//! new one. TLS 1.2 and 1.3 only, HTTP/1.1 only (the services speak nothing else).

use portcullis_domain::cause::Chain;
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How often the certificate files are checked for a change: renewals happen days before
/// expiry, so a few seconds' delay costs nothing, and reading two small files is cheap.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// Where a service's certificate and key live, and the settings that named them (for messages).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The setting that named `cert`, e.g. `ISSUER_TLS_CERT`.
    pub cert_setting: String,
    /// The setting that named `key`, e.g. `ISSUER_TLS_KEY`.
    pub key_setting: String,
}

/// A certificate or key that cannot be served; it names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file cannot be read.
    #[error("{setting} names a file that cannot be read")]
    Unreadable {
        /// The setting, e.g. `DATA_API_TLS_CERT`.
        setting: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no usable PEM certificate or key, or the key does not fit the certificate.
    #[error("{setting} {problem}")]
    Invalid {
        /// The setting at fault.
        setting: String,
        /// What is wrong with it, phrased to be fixed.
        problem: &'static str,
        /// The parser's or the crypto provider's reason, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl TlsError {
    fn invalid(
        setting: &str,
        problem: &'static str,
        source: impl Into<Option<Box<dyn std::error::Error + Send + Sync>>>,
    ) -> Self {
        Self::Invalid {
            setting: setting.to_owned(),
            problem,
            source: source.into(),
        }
    }
}

/// The files' content, as read once: parsed into a key pair and fingerprinted to notice changes.
struct Snapshot {
    digest: [u8; 32],
    key: Arc<CertifiedKey>,
}

/// Reads the file a setting names, or says which setting names a file that cannot be read.
pub(crate) fn read_file(path: &Path, setting: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Unreadable {
        setting: setting.to_owned(),
        source,
    })
}

/// A PEM certificate chain and the PEM private key that belongs to it, checked as a pair: the
/// server's own certificate, and the client certificate a service shows Redis. Errors name
/// `cert_setting` or `key_setting`, whichever holds the fault.
pub(crate) fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_setting: &str,
    key_setting: &str,
) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            TlsError::invalid(
                cert_setting,
                "is not a PEM certificate chain",
                Some(Box::new(e) as _),
            )
        })?;
    if chain.is_empty() {
        return Err(TlsError::invalid(
            cert_setting,
            "holds no PEM certificate",
            None,
        ));
    }
    // Peers would refuse an expired certificate at every handshake: refused here, at start (or
    // at a reload, which keeps the current pair), where the operator sees which setting.
    let (_, leaf) = x509_parser::parse_x509_certificate(&chain[0]).map_err(|e| {
        TlsError::invalid(
            cert_setting,
            "holds a certificate that cannot be parsed",
            Some(Box::new(e.to_owned()) as _),
        )
    })?;
    if !leaf.validity().is_valid() {
        return Err(TlsError::invalid(
            cert_setting,
            "holds a certificate that has expired (or is not valid yet): renew it",
            None,
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
        TlsError::invalid(
            key_setting,
            "holds no PEM private key",
            Some(Box::new(e) as _),
        )
    })?;
    let signing = aws_lc_rs::sign::any_supported_type(&key).map_err(|e| {
        TlsError::invalid(
            key_setting,
            "is not a supported private key",
            Some(Box::new(e) as _),
        )
    })?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| {
        TlsError::invalid(
            key_setting,
            "does not belong to the certificate",
            Some(Box::new(e) as _),
        )
    })?;
    Ok(certified)
}

/// The PEM CA bundle a setting names, checked to hold at least one certificate the TLS library
/// accepts as a trust anchor: a wrong file stops the start naming the setting, instead of every
/// connection failing later.
pub fn read_ca_bundle(path: &Path, setting: &str) -> Result<Vec<u8>, TlsError> {
    let invalid =
        |problem, source: Option<Box<dyn std::error::Error + Send + Sync>>| TlsError::Invalid {
            setting: setting.to_owned(),
            problem,
            source,
        };
    let pem = read_file(path, setting)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("is not a PEM certificate bundle", Some(Box::new(e))))?;
    if certs.is_empty() {
        return Err(invalid("holds no PEM certificate", None));
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| {
            invalid(
                "holds a certificate that cannot be a trust anchor",
                Some(Box::new(e)),
            )
        })?;
    }
    Ok(pem)
}

impl TlsFiles {
    fn read(&self) -> Result<Snapshot, TlsError> {
        let cert_pem = read_file(&self.cert, &self.cert_setting)?;
        let key_pem = read_file(&self.key, &self.key_setting)?;
        let digest: [u8; 32] = Sha256::new()
            .chain_update(&cert_pem)
            .chain_update([0])
            .chain_update(&key_pem)
            .finalize()
            .into();
        let certified = certified_key(&cert_pem, &key_pem, &self.cert_setting, &self.key_setting)?;
        Ok(Snapshot {
            digest,
            key: Arc::new(certified),
        })
    }
}

/// The certificate a service currently serves: swapped whole when the files change, read by
/// every new handshake. Handshakes in progress keep the `Arc` they took.
#[derive(Debug)]
pub struct ReloadingCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadingCert {
    fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// A loaded TLS server: the rustls configuration for the accept loop, and the files to watch.
pub struct ServerTls {
    config: Arc<rustls::ServerConfig>,
    cert: Arc<ReloadingCert>,
    files: TlsFiles,
    digest: [u8; 32],
}

impl ServerTls {
    /// Reads the certificate and key; a service refuses to start on files it cannot serve.
    pub fn load(files: &TlsFiles) -> Result<Self, TlsError> {
        let snapshot = files.read()?;
        tracing::info!(cert = %files.cert.display(), "serving HTTPS");
        let cert = Arc::new(ReloadingCert {
            current: RwLock::new(snapshot.key),
        });
        let provider = Arc::new(aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| {
                TlsError::invalid(
                    &files.cert_setting,
                    "cannot be served with TLS 1.2 or 1.3",
                    Some(Box::new(e) as _),
                )
            })?
            .with_no_client_auth()
            .with_cert_resolver(cert.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
            cert,
            files: files.clone(),
            digest: snapshot.digest,
        })
    }

    /// The acceptor the accept loop hands each new connection to.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }

    /// Re-reads the files every `interval` and swaps in a changed pair; a pair that cannot be
    /// served (half-written, mismatched) is logged and the current one kept, so a bad renewal
    /// never takes the service down. The task lives as long as the service holds its handle.
    pub fn watch(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let files = self.files.clone();
        let cert = self.cert.clone();
        let mut digest = self.digest;
        // Said once per distinct problem, not every tick while the files stay broken.
        let mut last_problem = None::<String>;
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let read = {
                    let files = files.clone();
                    tokio::task::spawn_blocking(move || files.read()).await
                };
                match read {
                    Ok(Ok(snapshot)) if snapshot.digest != digest => {
                        digest = snapshot.digest;
                        last_problem = None;
                        *cert
                            .current
                            .write()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = snapshot.key;
                        tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
                    }
                    Ok(Ok(_)) => last_problem = None,
                    Ok(Err(error)) => {
                        let problem = Chain(&error).to_string();
                        if last_problem.as_ref() != Some(&problem) {
                            tracing::warn!(
                                error = %problem,
                                "TLS certificate files cannot be served; keeping the current pair"
                            );
                            last_problem = Some(problem);
                        }
                    }
                    Err(error) => tracing::warn!(%error, "TLS certificate reload task failed"),
                }
            }
        })
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
