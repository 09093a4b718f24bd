//! `DATA_API_DATABASE_URL` (or its file) and `DATA_API_DATABASE_CA`: which store holds the
//! items, and how its PostgreSQL connection is verified.

use super::{Args, ConfigError};
use portcullis_http::config_error::secret_or_file;
use portcullis_http::tls::read_ca_bundle;
use std::path::{Path, PathBuf};
use std::time::Duration;

const URL: &str = "DATA_API_DATABASE_URL";
const CA: &str = "DATA_API_DATABASE_CA";

/// Where the items live, told apart once from `DATA_API_DATABASE_URL`'s scheme.
#[derive(Clone)]
pub enum Database {
    /// `sqlite://PATH`: one replica.
    Sqlite {
        /// The URL as configured.
        url: String,
    },
    /// `postgres://...`: shared by replicas.
    Postgres {
        /// The URL as configured; may carry a password.
        url: String,
        /// `DATA_API_DATABASE_CA`: connect with `sslmode=verify-full` against this PEM bundle;
        /// `None` = as the URL says.
        root_cert: Option<PathBuf>,
        /// Connections in the pool of each replica.
        max_connections: u32,
        /// Longest a request waits for a connection.
        timeout: Duration,
    },
}

impl std::fmt::Debug for Database {
    /// The kind only: the URL may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite { .. } => f.write_str("Sqlite"),
            Self::Postgres {
                root_cert,
                max_connections,
                timeout,
                ..
            } => f
                .debug_struct("Postgres")
                .field("root_cert", root_cert)
                .field("max_connections", max_connections)
                .field("timeout", timeout)
                .finish_non_exhaustive(),
        }
    }
}

/// The item store the settings name, with its TLS files checked (readable, PEM certificates):
/// a wrong file stops the start with the setting's name.
pub(super) fn database(args: &Args) -> Result<Database, ConfigError> {
    // The URL has a default, so "both set" means a file beside a URL other than the default.
    let given =
        (args.database_url != super::DEFAULT_DATABASE_URL).then(|| args.database_url.clone());
    let url = match args.database_url_file.as_deref() {
        None => args.database_url.clone(),
        file => secret_or_file(given, file, URL, "DATA_API_DATABASE_URL_FILE")?.unwrap_or_default(),
    };
    let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if let Some(ca) = &args.database_ca {
        if !postgres {
            return Err(ConfigError::invalid(
                CA,
                format!("needs a postgres:// {URL}"),
            ));
        }
        read_ca_bundle(ca, CA)?;
    }
    if url.starts_with("sqlite:") {
        return Ok(Database::Sqlite { url });
    }
    if !postgres {
        return Err(ConfigError::invalid(
            URL,
            "must be sqlite://PATH or postgres://...",
        ));
    }
    check_query(&url, args.database_ca.as_deref())?;
    Ok(Database::Postgres {
        url,
        root_cert: args.database_ca.clone(),
        max_connections: args.database_max_connections,
        timeout: args.database_timeout,
    })
}

/// The URL's own TLS parameters: an `sslrootcert` must be a usable bundle, and `sslmode` must
/// not contradict `DATA_API_DATABASE_CA` (which means `verify-full`). Values are named, never
/// the URL: it may carry a password.
fn check_query(url: &str, ca: Option<&Path>) -> Result<(), ConfigError> {
    let query = url.split_once('?').map_or("", |(_, query)| query);
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*name {
            "sslrootcert" | "ssl-root-cert" | "ssl-ca" => {
                read_ca_bundle(Path::new(&*value), &format!("{URL}'s {name}"))?;
            }
            "sslmode" | "ssl-mode" if ca.is_some() && value != "verify-full" => {
                return Err(ConfigError::invalid(
                    CA,
                    format!("means sslmode=verify-full, but {URL} says {name}={value}"),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}
