//! The users file of the suites: one typed builder ([`UsersFile`]) for every users TOML a test
//! writes. [`UsersFile::standard`] is the file of every [`Stack`](crate::Stack).

use std::path::{Path, PathBuf};

/// Password of every test user, and secret of every confidential test client.
pub const PASSWORD: &str = "correct horse battery staple";

/// The public client of the contract.
pub const CLI_CLIENT: &str = "portcullis-cli";

/// A user of a [`UsersFile`]; its password is [`PASSWORD`].
#[derive(Clone, Debug)]
struct User {
    username: String,
    scopes: Vec<String>,
}

/// A client of a [`UsersFile`]; a confidential one has the secret [`PASSWORD`].
#[derive(Clone, Debug)]
struct Client {
    client_id: String,
    confidential: bool,
    grants: Vec<String>,
    scopes: Vec<String>,
    audience: Vec<String>,
}

/// A users file (`[[users]]` and `[[clients]]`), built in code and rendered as the issuer's TOML.
#[derive(Clone, Debug, Default)]
pub struct UsersFile {
    users: Vec<User>,
    clients: Vec<Client>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("\"{s}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

impl UsersFile {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Users `alice`, `bob` (read and write) and `reader` (read only), the public client
    /// `portcullis-cli` (password and refresh grants), and the confidential clients
    /// `reporting-job` and `data-api` (client credentials, read only), all for the audience
    /// `data-api`.
    pub fn standard() -> Self {
        let read_write: &[&str] = &["items:read", "items:write"];
        Self::new()
            .user("alice", read_write)
            .user("bob", read_write)
            .user("reader", &["items:read"])
            .public_client(
                CLI_CLIENT,
                &["password", "refresh_token"],
                read_write,
                &["data-api"],
            )
            .confidential_client(
                "reporting-job",
                &["client_credentials"],
                &["items:read"],
                &["data-api"],
            )
            .confidential_client(
                "data-api",
                &["client_credentials"],
                &["items:read"],
                &["data-api"],
            )
    }

    /// Adds a user with the password [`PASSWORD`].
    pub fn user(mut self, username: &str, scopes: &[&str]) -> Self {
        self.users.push(User {
            username: username.to_string(),
            scopes: strings(scopes),
        });
        self
    }

    /// Adds a public client (no secret).
    pub fn public_client(
        mut self,
        client_id: &str,
        grants: &[&str],
        scopes: &[&str],
        audience: &[&str],
    ) -> Self {
        self.clients.push(Client {
            client_id: client_id.to_string(),
            confidential: false,
            grants: strings(grants),
            scopes: strings(scopes),
            audience: strings(audience),
        });
        self
    }

    /// Adds a confidential client whose secret is [`PASSWORD`].
    pub fn confidential_client(
        self,
        client_id: &str,
        grants: &[&str],
        scopes: &[&str],
        audience: &[&str],
    ) -> Self {
        let mut file = self.public_client(client_id, grants, scopes, audience);
        file.clients.last_mut().expect("just added").confidential = true;
        file
    }

    /// The file as TOML (hashes [`PASSWORD`] once, with argon2id).
    pub fn to_toml(&self) -> String {
        let hash = portcullis_store::hash_password(PASSWORD).expect("hash");
        let mut toml = String::new();
        for user in &self.users {
            toml.push_str(&format!(
                "[[users]]\nusername = \"{}\"\npassword_hash = \"{hash}\"\nscopes = {}\n\n",
                user.username,
                toml_list(&user.scopes)
            ));
        }
        let clients: Vec<String> = self
            .clients
            .iter()
            .map(|client| {
                let secret = if client.confidential {
                    format!("secret_hash = \"{hash}\"\n")
                } else {
                    String::new()
                };
                format!(
                    "[[clients]]\nclient_id = \"{}\"\n{secret}grants = {}\nscopes = {}\naudience = {}\n",
                    client.client_id,
                    toml_list(&client.grants),
                    toml_list(&client.scopes),
                    toml_list(&client.audience)
                )
            })
            .collect();
        toml.push_str(&clients.join("\n"));
        toml
    }

    /// Writes the file as `users.toml` in `dir`; its path.
    pub fn write_in(&self, dir: &Path) -> PathBuf {
        let path = dir.join("users.toml");
        std::fs::write(&path, self.to_toml()).expect("write users file");
        path
    }
}
