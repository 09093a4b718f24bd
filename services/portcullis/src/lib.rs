//! `portcullis dev`: the auth issuer and the data API in one process on embedded adapters (no
//! Redis, no Docker), with a signing key and a demo login prepared, for a first look.

use base64::Engine;
use rand::RngCore;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio::net::TcpListener;

/// Settings of `portcullis dev`.
#[derive(clap::Args, Debug, Clone)]
pub struct DevConfig {
    /// Folder for the signing key, the users file and the item database.
    #[arg(long, env = "PORTCULLIS_STATE_DIR", default_value = ".portcullis")]
    pub state_dir: PathBuf,

    /// Where the auth issuer listens.
    #[arg(long, env = "ISSUER_LISTEN", default_value = "127.0.0.1:8080")]
    pub issuer_listen: SocketAddr,

    /// Where the data API listens.
    #[arg(long, env = "DATA_API_LISTEN", default_value = "127.0.0.1:8081")]
    pub data_api_listen: SocketAddr,

    /// Password of the demo user `demo`; random (and printed) if unset.
    #[arg(long, env = "PORTCULLIS_DEMO_PASSWORD", hide_env_values = true)]
    pub demo_password: Option<String>,
}

/// Both services, built and bound, with the walkthrough that exercises them.
pub struct Dev {
    /// The issuer.
    pub issuer: auth_issuer::App,
    /// The data API.
    pub data_api: data_api::App,
    /// Copy-and-paste shell commands: log in, write an item, read it.
    pub walkthrough: String,
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

fn users_file(demo_hash: &str) -> String {
    format!(
        r#"# Written by `portcullis dev` on every start; edit ISSUER_USERS_FILE for real deployments.
[[users]]
username = "demo"
password_hash = "{demo_hash}"
scopes = ["items:read", "items:write"]

[[clients]]
client_id = "portcullis-cli"
grants = ["password", "refresh_token"]
scopes = ["items:read", "items:write"]
audience = ["data-api"]
"#
    )
}

/// Shell-quotes a value with single quotes.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn walkthrough(issuer: SocketAddr, data_api: SocketAddr, password: &str) -> String {
    let password = quote(&format!("password={password}"));
    format!(
        r#"# Log in as demo (OAuth2 password grant) and keep the access token:
TOKEN=$(curl -s http://{issuer}/oauth2/token -d grant_type=password -d client_id=portcullis-cli -d username=demo --data-urlencode {password} | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
# Write an item:
curl -s -X PUT http://{data_api}/v1/items/hello -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{{"data":{{"greeting":"hello, world"}}}}'; echo
# Read it back:
curl -s http://{data_api}/v1/items/hello -H "Authorization: Bearer $TOKEN"; echo
# Without a token the data API answers 401:
curl -s -i http://{data_api}/v1/items/hello | head -n 1
"#
    )
}

/// Prepares the state folder (a signing key on first start, a fresh users file every start)
/// and builds both services. Nothing is served until the caller runs them.
pub async fn start(config: DevConfig) -> Result<Dev, DevError> {
    let state = &config.state_dir;
    let keys_dir = state.join("keys");
    std::fs::create_dir_all(&keys_dir).map_err(state_error(&keys_dir))?;
    let key_path = keys_dir.join("dev.pem");
    if !key_path.exists() {
        let pem = portcullis_jwt::generate_rsa_pem().map_err(DevError::Key)?;
        write_private(&key_path, &pem)?;
        tracing::info!(path = %key_path.display(), "generated a development signing key");
    }
    let password = config.demo_password.clone().unwrap_or_else(random_password);
    let hash = portcullis_store::hash_password(&password).map_err(DevError::Hash)?;
    let users_path = state.join("users.toml");
    write_private(&users_path, &users_file(&hash))?;

    // Bind first: the issuer URL (the tokens' `iss`) must name the port really bound.
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

    let mut issuer_config = auth_issuer::Config::from_env().map_err(DevError::Settings)?;
    issuer_config.issuer_url = format!("http://{issuer_addr}");
    issuer_config.keys_dir = Some(keys_dir);
    issuer_config.users_file = Some(users_path);
    let issuer = auth_issuer::build_with_listener(issuer_config, issuer_listener).await?;

    let mut data_config = data_api::Config::from_env().map_err(DevError::Settings)?;
    data_config.issuer = format!("http://{issuer_addr}");
    data_config.database_url = format!("sqlite://{}", state.join("items.db").display());
    let data_api = data_api::build_with_listener(data_config, data_listener).await?;
    let walkthrough = walkthrough(issuer_addr, data_api.local_addr(), &password);
    Ok(Dev {
        issuer,
        data_api,
        walkthrough,
    })
}
