//! `portcullis dev`: the auth issuer and the data API in one process on embedded adapters (no
//! Redis, no Docker), with a signing key and a demo login prepared, for a first look.
//!
//! Every `ISSUER_*` and `DATA_API_*` variable applies as it does to the services, except that
//! dev fills in what a first look needs when it is unset: the issuer URL (the bound address),
//! the keys directory (a generated key), the users file (the demo user and client, see
//! [`users`]) and the item database (SQLite in the state folder). `DATA_API_ISSUER` is always
//! the issuer's URL: the data API in this process must trust this issuer.

pub mod users;
pub mod walkthrough;

use base64::Engine;
use rand::RngCore;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio::net::TcpListener;
pub use users::Login;
pub use walkthrough::Walkthrough;

/// Settings of `portcullis dev`. The service settings dev may fill in are fields here (not only
/// in the services' own settings) so that dev knows whether they were given.
#[derive(clap::Args, Debug, Clone)]
pub struct DevConfig {
    /// Folder for the signing key, the users file and the item database.
    #[arg(long, env = "PORTCULLIS_STATE_DIR", default_value = ".portcullis")]
    pub state_dir: PathBuf,

    /// Where the auth issuer listens.
    #[arg(long, env = "ISSUER_LISTEN", default_value = auth_issuer::config::DEFAULT_LISTEN)]
    pub issuer_listen: SocketAddr,

    /// Where the data API listens.
    #[arg(long, env = "DATA_API_LISTEN", default_value = data_api::config::DEFAULT_LISTEN)]
    pub data_api_listen: SocketAddr,

    /// The issuer's public URL (`iss`, and the base of the URLs it hands out, kept apart from
    /// the listen address, e.g. behind a proxy). The data API here fetches the issuer's keys
    /// from it, so it must lead to this process. Unset = http://<the bound issuer address>.
    #[arg(long, env = "ISSUER_URL")]
    pub issuer_url: Option<String>,

    /// A users and clients file, used as is and never written. Unset = STATE_DIR/users.toml,
    /// generated with the demo user and client and rewritten on each start until edited.
    #[arg(long, env = "ISSUER_USERS_FILE")]
    pub users_file: Option<PathBuf>,

    /// A directory of signing keys, used as is. Unset = STATE_DIR/keys, with a key generated on
    /// first start.
    #[arg(long, env = "ISSUER_KEYS_DIR")]
    pub keys_dir: Option<PathBuf>,

    /// The data API's item database. Unset = sqlite://STATE_DIR/items.db. May carry a
    /// password, so `--help` never shows its value.
    #[arg(long, env = "DATA_API_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Password of the demo user `demo` of the generated users file; random (and printed) if
    /// unset. Ignored when the users file is your own.
    #[arg(long, env = "PORTCULLIS_DEMO_PASSWORD", hide_env_values = true)]
    pub demo_password: Option<String>,
}

impl DevConfig {
    /// Everything in `state_dir` and both services on free loopback ports: what tests start
    /// from, reading nothing from the environment for dev's own settings.
    pub fn ephemeral(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            issuer_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_api_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            issuer_url: None,
            users_file: None,
            keys_dir: None,
            database_url: None,
            demo_password: None,
        }
    }
}

/// Both services, built and bound, with the walkthrough that exercises them.
pub struct Dev {
    /// The issuer.
    pub issuer: auth_issuer::App,
    /// The data API.
    pub data_api: data_api::App,
    /// The issuer's public URL (`iss`).
    pub issuer_url: String,
    /// The users file the issuer reads.
    pub users_file: PathBuf,
    /// Copy-and-paste shell commands: log in (device and browser flows), write an item, read it.
    pub walkthrough: Walkthrough,
}

/// Why dev mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// The state folder could not be prepared.
    #[error("preparing {path}: {source}")]
    State {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The signing key could not be generated.
    #[error("generating the signing key")]
    Key(#[source] portcullis_jwt::KeyError),
    /// The demo password could not be hashed.
    #[error("hashing the demo password")]
    Hash(#[source] portcullis_domain::directory::PasswordError),
    /// A service's settings could not be read from the environment.
    #[error("reading the settings from the environment")]
    Settings(#[source] clap::Error),
    /// The issuer did not start.
    #[error("auth issuer")]
    Issuer(#[from] auth_issuer::BuildError),
    /// The data API did not start.
    #[error("data api")]
    DataApi(#[from] data_api::BuildError),
}

fn state_error(path: &Path) -> impl FnOnce(std::io::Error) -> DevError + '_ {
    move |source| DevError::State {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a file readable only by its owner: keys and hashes are secrets.
fn write_private(path: &Path, contents: &str) -> Result<(), DevError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut f| f.write_all(contents.as_bytes()))
        .map_err(state_error(path))
}

fn random_password() -> String {
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The keys directory: the given one as is, or the state folder's with a key made on first start.
fn prepare_keys(config: &DevConfig) -> Result<PathBuf, DevError> {
    if let Some(dir) = &config.keys_dir {
        return Ok(dir.clone());
    }
    let keys_dir = config.state_dir.join("keys");
    std::fs::create_dir_all(&keys_dir).map_err(state_error(&keys_dir))?;
    let key_path = keys_dir.join("dev.pem");
    if !key_path.exists() {
        let pem = portcullis_jwt::generate_rsa_pem().map_err(DevError::Key)?;
        write_private(&key_path, &pem)?;
        tracing::info!(path = %key_path.display(), "generated a development signing key");
    }
    Ok(keys_dir)
}

/// The users file and who logs in with it: the given file as is; the generated one, (re)written
/// with a fresh demo hash while unedited; or the generated one as the reader edited it.
fn prepare_users(config: &DevConfig) -> Result<(PathBuf, Login), DevError> {
    let own = |path: PathBuf| {
        if config.demo_password.is_some() {
            tracing::warn!(path = %path.display(), "PORTCULLIS_DEMO_PASSWORD is ignored: dev does not write this users file");
        }
        let has_demo_client = users::has_demo_client(&path);
        (
            path.clone(),
            Login::OwnFile {
                path,
                has_demo_client,
            },
        )
    };
    if let Some(path) = &config.users_file {
        return Ok(own(path.clone()));
    }
    let path = config.state_dir.join("users.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) if !users::is_unedited_generated(&text) => {
            tracing::info!(path = %path.display(), "the users file was edited, so it is used as is; delete it to get the demo login back");
            return Ok(own(path));
        }
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(DevError::State { path, source }),
    }
    let (password, shown_password) = match &config.demo_password {
        Some(password) => (password.clone(), None),
        None => {
            let password = random_password();
            (password.clone(), Some(password))
        }
    };
    let hash = portcullis_directory::hash_password(&password).map_err(DevError::Hash)?;
    write_private(&path, &users::generated(&hash))?;
    Ok((path, Login::Demo { shown_password }))
}

/// Prepares the state folder (a signing key on first start, the demo users file while it is
/// dev's own) and builds both services. Nothing is served until the caller runs them.
pub async fn start(config: DevConfig) -> Result<Dev, DevError> {
    let state = &config.state_dir;
    std::fs::create_dir_all(state).map_err(state_error(state))?;
    let keys_dir = prepare_keys(&config)?;
    let (users_path, login) = prepare_users(&config)?;

    // Bind first: without ISSUER_URL, the issuer URL (the tokens' `iss`) names the port bound.
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| DevError::State {
                path: PathBuf::from(addr.to_string()),
                source,
            })
    };
    let issuer_listener = bind(config.issuer_listen).await?;
    let data_listener = bind(config.data_api_listen).await?;
    let issuer_addr = issuer_listener.local_addr().map_err(state_error(state))?;
    let issuer_url = config
        .issuer_url
        .clone()
        .unwrap_or_else(|| format!("http://{issuer_addr}"));

    let mut issuer_args = auth_issuer::Args::from_env().map_err(DevError::Settings)?;
    issuer_args.issuer_url = issuer_url.clone();
    issuer_args.keys_dir = Some(keys_dir);
    issuer_args.users_file = Some(users_path.clone());
    let issuer_settings =
        auth_issuer::Settings::try_from(issuer_args).map_err(auth_issuer::BuildError::from)?;
    let issuer = auth_issuer::build_with_listener(issuer_settings, issuer_listener).await?;

    let mut data_args = data_api::Args::from_env().map_err(DevError::Settings)?;
    data_args.issuer = issuer_url.clone();
    data_args.database_url = config
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", state.join("items.db").display()));
    let data_settings =
        data_api::Settings::try_from(data_args).map_err(data_api::BuildError::from)?;
    let data_api = data_api::build_with_listener(data_settings, data_listener).await?;
    let data_api_url = format!("http://{}", data_api.local_addr());
    let walkthrough = Walkthrough::new(&issuer_url, &data_api_url, &login);
    Ok(Dev {
        issuer,
        data_api,
        issuer_url,
        users_file: users_path,
        walkthrough,
    })
}

#[cfg(test)]
mod tests {
    /// The data API's default issuer is the issuer's default identifier: `portcullis dev`
    /// and a first run of the two binaries side by side find each other.
    #[test]
    fn the_data_apis_default_issuer_is_the_issuers_default_url() {
        assert_eq!(
            data_api::config::DEFAULT_ISSUER,
            auth_issuer::config::DEFAULT_URL
        );
    }
}
