//! `auth-issuer users ...` and `auth-issuer clients ...`: changing the identity store
//! (`ISSUER_DATABASE_URL`) from a shell. Passwords and secrets are read from standard input or
//! printed once, never taken from arguments (which other users of the host can read).

use crate::config::ConfigError;
use anyhow::Context;
use clap::Subcommand;
use portcullis_directory::{
    hash_password, hash_password_with, ClientSpec, FileDirectory, HashParams, SqlDirectory,
    UserSpec,
};
use portcullis_domain::directory_admin::{ClientChange, DirectoryAdmin, UserChange};
use portcullis_domain::identity::{ClientId, Username};
use portcullis_domain::secret::Secret;
use portcullis_http::config_error::secret_or_file;
use std::io::BufRead;
use std::path::PathBuf;

/// Shortest password the CLI and the admin API accept for a new password (NIST SP 800-63B
/// asks for at least 8; passphrases make 12 cheap).
pub const MIN_PASSWORD_CHARS: usize = 12;

/// How many records one `list` page holds.
const PAGE: u32 = 200;

/// Where the store is.
#[derive(clap::Args, Debug)]
pub struct StoreArgs {
    /// The identity store: `sqlite://PATH` or `postgres://...`.
    #[arg(long, env = "ISSUER_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// A file holding the identity store URL.
    #[arg(long, env = "ISSUER_DATABASE_URL_FILE")]
    database_url_file: Option<PathBuf>,
    /// argon2id memory of new password hashes, KiB: the issuer's setting, so a user set here
    /// costs a login what every other user costs.
    #[arg(long, env = "ISSUER_PASSWORD_HASH_MEMORY_KIB", default_value_t = HashParams::OWASP_MINIMUM.memory_kib)]
    password_hash_memory_kib: u32,
    /// argon2id passes of new password hashes.
    #[arg(long, env = "ISSUER_PASSWORD_HASH_ITERATIONS", default_value_t = HashParams::OWASP_MINIMUM.iterations)]
    password_hash_iterations: u32,
}

impl StoreArgs {
    fn hash_params(&self) -> HashParams {
        HashParams {
            memory_kib: self.password_hash_memory_kib,
            iterations: self.password_hash_iterations,
        }
    }
}

/// `auth-issuer users ...`.
#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Add a user; the password is the first line of standard input.
    Add {
        /// The login name.
        name: String,
        /// The scopes the user's tokens may carry (comma-separated or repeated).
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// E-mail address, released with the `email` scope.
        #[arg(long)]
        email: Option<String>,
        /// Display name, released with the `profile` scope.
        #[arg(long = "name")]
        display_name: Option<String>,
    },
    /// Set a user's password (first line of standard input); their sessions end.
    SetPassword {
        /// The login name.
        name: String,
    },
    /// Disable a user: logins and refreshes fail at once, on every replica.
    Disable {
        /// The login name.
        name: String,
    },
    /// Enable a disabled user (sessions from before stay ended).
    Enable {
        /// The login name.
        name: String,
    },
    /// Delete a user.
    Delete {
        /// The login name.
        name: String,
    },
    /// List the users (no password hashes).
    List {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Import every user and client of a users file, all or nothing.
    Import {
        /// The users file.
        file: PathBuf,
    },
}

/// `auth-issuer clients ...`.
#[derive(Subcommand, Debug)]
pub enum ClientsCommand {
    /// Add a client; a confidential one's secret is generated and printed once.
    Add {
        /// The client id.
        id: String,
        /// The grant types it may use (comma-separated or repeated).
        #[arg(long, value_delimiter = ',', required = true)]
        grants: Vec<String>,
        /// The scopes its tokens may carry.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// The `aud` of its access tokens.
        #[arg(long, value_delimiter = ',', required = true)]
        audience: Vec<String>,
        /// A redirect URI (repeat for several).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Give it a secret (a server-side client); without, it is public (PKCE only).
        #[arg(long)]
        confidential: bool,
    },
    /// Generate and print a new secret; the old one stops working at once.
    RotateSecret {
        /// The client id.
        id: String,
    },
    /// Delete a client: its refresh tokens stop working.
    Delete {
        /// The client id.
        id: String,
    },
    /// List the clients (no secret hashes).
    List {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
}

async fn open(args: StoreArgs) -> anyhow::Result<SqlDirectory> {
    let url = secret_or_file(
        args.database_url,
        args.database_url_file.as_deref(),
        "ISSUER_DATABASE_URL",
        "ISSUER_DATABASE_URL_FILE",
    )?
    .ok_or(ConfigError::Missing(
        "ISSUER_DATABASE_URL (--database-url): the admin commands act on the identity store",
    ))?;
    Ok(SqlDirectory::connect(&url).await?)
}

fn username(name: &str) -> anyhow::Result<Username> {
    Username::new(name).with_context(|| format!("{name:?} is not a valid user name"))
}

fn client_id(id: &str) -> anyhow::Result<ClientId> {
    ClientId::new(id).with_context(|| format!("{id:?} is not a valid client id"))
}

/// The first line of standard input, checked against the password policy, as an argon2id hash.
fn password_from_stdin(params: HashParams) -> anyhow::Result<Secret> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']);
    anyhow::ensure!(
        password.chars().count() >= MIN_PASSWORD_CHARS,
        "the password on standard input must have at least {MIN_PASSWORD_CHARS} characters"
    );
    Ok(Secret::new(hash_password_with(password, params)?))
}

/// A new client secret, printed once, and its hash for the store.
fn new_secret() -> anyhow::Result<(String, Secret)> {
    let secret = portcullis_domain::encoding::random_token();
    let hash = Secret::new(hash_password(&secret)?);
    Ok((secret, hash))
}

/// Runs a `users` command.
pub async fn users(store: StoreArgs, command: UsersCommand) -> anyhow::Result<()> {
    let params = store.hash_params();
    let store = open(store).await?;
    match command {
        UsersCommand::Add {
            name,
            scopes,
            email,
            display_name,
        } => {
            let spec = UserSpec {
                username: name.clone(),
                password_hash: password_from_stdin(params)?.expose().to_owned(),
                // A new user is a new subject, never the name: see UserRecord::subject.
                subject: Some(portcullis_domain::identity::new_subject()),
                scopes,
                name: display_name,
                email,
            };
            let record = spec.validate().with_context(|| format!("user {name:?}"))?;
            store.create_user(record).await?;
            eprintln!("added user {name}");
        }
        UsersCommand::SetPassword { name } => {
            let hash = password_from_stdin(params)?;
            store
                .update_user(&username(&name)?, UserChange::Password(hash))
                .await?;
            eprintln!("password of {name} changed; their sessions have ended");
        }
        UsersCommand::Disable { name } => {
            store
                .update_user(&username(&name)?, UserChange::Enabled(false))
                .await?;
            eprintln!("disabled {name}");
        }
        UsersCommand::Enable { name } => {
            store
                .update_user(&username(&name)?, UserChange::Enabled(true))
                .await?;
            eprintln!("enabled {name}");
        }
        UsersCommand::Delete { name } => {
            store.delete_user(&username(&name)?).await?;
            eprintln!("deleted {name}");
        }
        UsersCommand::List { json } => list_users(&store, json).await?,
        UsersCommand::Import { file } => {
            let directory = FileDirectory::load(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let (users, clients) = directory.records();
            let counts = (users.len(), clients.len());
            store.create_all(users, clients).await?;
            eprintln!("imported {} users and {} clients", counts.0, counts.1);
        }
    }
    Ok(())
}

async fn list_users(store: &SqlDirectory, json: bool) -> anyhow::Result<()> {
    let mut after: Option<String> = None;
    loop {
        let page = store.users(after.as_deref(), PAGE).await?;
        for account in &page {
            let user = &account.record;
            let scopes: Vec<&str> = user.scopes.iter().map(|s| s.as_str()).collect();
            if json {
                let line = serde_json::json!({
                    "username": user.username.as_str(), "subject": user.subject.as_str(),
                    "scopes": scopes, "name": user.name,
                    "email": user.email, "disabled": account.disabled,
                });
                println!("{line}");
            } else {
                let state = if account.disabled {
                    "disabled"
                } else {
                    "enabled"
                };
                println!("{}\t{state}\t{}", user.username, scopes.join(" "));
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => {
                after = Some(last.record.username.to_string())
            }
            _ => return Ok(()),
        }
    }
}

/// Runs a `clients` command.
pub async fn clients(store: StoreArgs, command: ClientsCommand) -> anyhow::Result<()> {
    let store = open(store).await?;
    match command {
        ClientsCommand::Add {
            id,
            grants,
            scopes,
            audience,
            redirect_uris,
            confidential,
        } => {
            let secret = confidential.then(new_secret).transpose()?;
            let spec = ClientSpec {
                client_id: id.clone(),
                secret_hash: secret.as_ref().map(|(_, hash)| hash.expose().to_owned()),
                grants,
                scopes,
                audience,
                redirect_uris,
                ..ClientSpec::default()
            };
            let record = spec.validate().with_context(|| format!("client {id:?}"))?;
            store.create_client(record).await?;
            eprintln!("added client {id}");
            if let Some((secret, _)) = secret {
                eprintln!("its secret, shown only now:");
                println!("{secret}");
            }
        }
        ClientsCommand::RotateSecret { id } => {
            let (secret, hash) = new_secret()?;
            store
                .update_client(&client_id(&id)?, ClientChange::Secret(hash))
                .await?;
            eprintln!("new secret of {id}, shown only now; the old one no longer works:");
            println!("{secret}");
        }
        ClientsCommand::Delete { id } => {
            store.delete_client(&client_id(&id)?).await?;
            eprintln!("deleted {id}");
        }
        ClientsCommand::List { json } => {
            let mut after: Option<String> = None;
            loop {
                let page = store.clients(after.as_deref(), PAGE).await?;
                for client in &page {
                    let mut spec = ClientSpec::from(client);
                    let confidential = spec.secret_hash.take().is_some();
                    if json {
                        let mut line = serde_json::to_value(&spec)?;
                        line["confidential"] = confidential.into();
                        println!("{line}");
                    } else {
                        let kind = if confidential {
                            "confidential"
                        } else {
                            "public"
                        };
                        println!("{}\t{kind}\t{}", spec.client_id, spec.grants.join(" "));
                    }
                }
                match page.last() {
                    Some(last) if page.len() == PAGE as usize => {
                        after = Some(last.client_id.to_string())
                    }
                    _ => return Ok(()),
                }
            }
        }
    }
    Ok(())
}
