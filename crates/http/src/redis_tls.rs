//! TLS to Redis for both services: `*_REDIS_CA`, `*_REDIS_CLIENT_CERT` and `*_REDIS_CLIENT_KEY`
//! read and checked when the settings are made, so a file that cannot be used stops the start
//! with one line naming its setting, and a `rediss://` URL never silently falls back.

use crate::config_error::ConfigError;
use crate::tls::{certified_key, read_ca_bundle, read_file};
use portcullis_redis::ClientIdentity;
pub use portcullis_redis::{RedisTls, SentinelSettings};
use std::path::Path;

/// The names of one service's Redis settings, for messages (`DATA_API_REDIS_CA`, ...).
#[derive(Debug, Clone, Copy)]
pub struct RedisTlsNames {
    /// The URL setting (its `*_FILE` variant is the same value).
    pub url: &'static str,
    /// The CA bundle setting.
    pub ca: &'static str,
    /// The client certificate setting.
    pub cert: &'static str,
    /// The client key setting.
    pub key: &'static str,
}

/// The TLS files of a Redis connection, as configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedisTlsFiles<'a> {
    /// PEM bundle of the CAs to trust instead of the system's roots.
    pub ca: Option<&'a Path>,
    /// PEM client certificate chain, for servers that require mutual TLS.
    pub cert: Option<&'a Path>,
    /// PEM private key of the client certificate.
    pub key: Option<&'a Path>,
}

/// Reads and checks the TLS files for `url` (the Redis URL, `None` when Redis is off). Files
/// beside a URL that is not `rediss://` are refused, as is `#insecure` (which would turn
/// certificate checks off): either would quietly drop the protection the operator asked for.
pub fn load(
    names: RedisTlsNames,
    url: Option<&str>,
    files: RedisTlsFiles<'_>,
) -> Result<Option<RedisTls>, ConfigError> {
    let tls_url = url.is_some_and(|u| u.starts_with("rediss://"));
    if tls_url && url.is_some_and(|u| u.contains('#')) {
        return Err(ConfigError::invalid(
            names.url,
            "must not carry a #fragment: #insecure would turn certificate checks off; trust a private CA with the _REDIS_CA setting instead",
        ));
    }
    let set = [
        (files.ca, names.ca),
        (files.cert, names.cert),
        (files.key, names.key),
    ];
    let Some((_, first)) = set.iter().find(|(path, _)| path.is_some()) else {
        return Ok(None);
    };
    if !tls_url {
        return Err(ConfigError::invalid(
            *first,
            format!(
                "needs a rediss:// {} (TLS); it is unset or plain redis://",
                names.url
            ),
        ));
    }
    let ca_pem = files
        .ca
        .map(|path| read_ca_bundle(path, names.ca))
        .transpose()?;
    let client = match (files.cert, files.key) {
        (None, None) => None,
        (Some(_), None) => {
            return Err(ConfigError::invalid(
                names.cert,
                format!("needs {}", names.key),
            ))
        }
        (None, Some(_)) => {
            return Err(ConfigError::invalid(
                names.key,
                format!("needs {}", names.cert),
            ))
        }
        (Some(cert), Some(key)) => {
            let cert_pem = read_file(cert, names.cert)?;
            let key_pem = read_file(key, names.key)?;
            certified_key(&cert_pem, &key_pem, names.cert, names.key)?;
            Some(ClientIdentity { cert_pem, key_pem })
        }
    };
    Ok(Some(RedisTls { ca_pem, client }))
}

/// Declares `RedisTlsArgs`, the Redis TLS flags of one service under its environment prefix
/// (`ISSUER`, `DATA_API`): both services take the same settings, each under its own names.
#[macro_export]
macro_rules! redis_tls_args {
    ($prefix:literal) => {
        /// TLS to Redis (`rediss://` URLs).
        #[derive(clap::Args, Debug, Clone, Default)]
        pub struct RedisTlsArgs {
            /// PEM bundle of the certificate authorities trusted for a `rediss://` Redis,
            /// instead of the system's roots (a private CA); unset = the system's roots. Needs
            /// a `rediss://` URL.
            #[arg(long, env = concat!($prefix, "_REDIS_CA"))]
            pub redis_ca: Option<std::path::PathBuf>,

            /// PEM client certificate chain (leaf first) shown to a Redis that requires mutual
            /// TLS (`tls-auth-clients yes`). Needs the key setting and a `rediss://` URL.
            #[arg(long, env = concat!($prefix, "_REDIS_CLIENT_CERT"))]
            pub redis_client_cert: Option<std::path::PathBuf>,

            /// PEM private key of the Redis client certificate.
            #[arg(long, env = concat!($prefix, "_REDIS_CLIENT_KEY"))]
            pub redis_client_key: Option<std::path::PathBuf>,

            /// Comma-separated `host:port` of Redis Sentinels to ask for the master instead of
            /// the URL's host; the URL still gives the scheme (TLS), ACL user, password and
            /// database. Needs the master name. Unset = the URL's server.
            #[arg(long, env = concat!($prefix, "_REDIS_SENTINELS"), value_delimiter = ',')]
            pub redis_sentinels: Vec<String>,

            /// The name the Sentinels monitor the master under. Needs the Sentinels.
            #[arg(long, env = concat!($prefix, "_REDIS_SENTINEL_MASTER"))]
            pub redis_sentinel_master: Option<String>,
        }

        impl RedisTlsArgs {
            /// The checked TLS material for the Redis URL `url` (`None` = Redis is off).
            pub fn settings(
                &self,
                url: Option<&str>,
            ) -> Result<Option<$crate::redis_tls::RedisTls>, $crate::config_error::ConfigError>
            {
                $crate::redis_tls::load(
                    $crate::redis_tls::RedisTlsNames {
                        url: concat!($prefix, "_REDIS_URL"),
                        ca: concat!($prefix, "_REDIS_CA"),
                        cert: concat!($prefix, "_REDIS_CLIENT_CERT"),
                        key: concat!($prefix, "_REDIS_CLIENT_KEY"),
                    },
                    url,
                    $crate::redis_tls::RedisTlsFiles {
                        ca: self.redis_ca.as_deref(),
                        cert: self.redis_client_cert.as_deref(),
                        key: self.redis_client_key.as_deref(),
                    },
                )
            }

            /// The Sentinels for the Redis URL `url` (`None` = the URL's server).
            pub fn sentinel(
                &self,
                url: Option<&str>,
            ) -> Result<
                Option<$crate::redis_tls::SentinelSettings>,
                $crate::config_error::ConfigError,
            > {
                $crate::redis_tls::sentinel(
                    [
                        concat!($prefix, "_REDIS_URL"),
                        concat!($prefix, "_REDIS_SENTINELS"),
                        concat!($prefix, "_REDIS_SENTINEL_MASTER"),
                    ],
                    url,
                    &self.redis_sentinels,
                    self.redis_sentinel_master.as_deref(),
                )
            }
        }
    };
}

/// Checks the Sentinel settings: both or neither, with a Redis URL (which gives the credentials
/// and the scheme), each Sentinel a `host:port`.
pub fn sentinel(
    [url_name, sentinels_name, master_name]: [&'static str; 3],
    url: Option<&str>,
    sentinels: &[String],
    master: Option<&str>,
) -> Result<Option<SentinelSettings>, ConfigError> {
    let sentinels: Vec<String> = sentinels
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let master = master.map(str::trim).filter(|m| !m.is_empty());
    match (sentinels.is_empty(), master) {
        (true, None) => return Ok(None),
        (true, Some(_)) => {
            return Err(ConfigError::invalid(
                master_name,
                format!("needs {sentinels_name}"),
            ))
        }
        (false, None) => {
            return Err(ConfigError::invalid(
                sentinels_name,
                format!("needs {master_name}"),
            ))
        }
        (false, Some(_)) => {}
    }
    if url.is_none() {
        return Err(ConfigError::invalid(
            sentinels_name,
            format!("needs {url_name} (its scheme, user and password are used for the master)"),
        ));
    }
    if let Some(bad) = sentinels.iter().find(|s| {
        s.rsplit_once(':')
            .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
    }) {
        return Err(ConfigError::invalid(
            sentinels_name,
            format!("must be comma-separated host:port, not `{bad}`"),
        ));
    }
    Ok(Some(SentinelSettings {
        sentinels,
        master: master.unwrap_or_default().to_owned(),
    }))
}

#[cfg(test)]
#[path = "redis_tls_tests.rs"]
mod tests;
