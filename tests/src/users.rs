//! The users file of the suites: one typed builder ([`UsersFile`]) for every users TOML a test
//! writes. [`UsersFile::standard`] is the file of every [`Stack`](crate::Stack).

use std::path::{Path, PathBuf};

/// Password of every test user, and secret of every confidential test client.
pub const PASSWORD: &str = "correct horse battery staple";

/// The public client of the contract.
pub const CLI_CLIENT: &str = "portcullis-cli";

/// The confidential browser client (not first party: its users are asked to consent), which may
/// also use the device grant.
pub const WEB_CLIENT: &str = "web";
/// A confidential client registered for DPoP-bound tokens only.
pub const DPOP_CLIENT: &str = "dpop-job";

/// The public, first-party browser client (a single-page app: PKCE without a secret).
pub const SPA_CLIENT: &str = "spa";

/// The registered redirect URI of the browser clients (loopback: any port matches).
pub const CALLBACK: &str = "http://127.0.0.1/callback";

/// The registered post-logout redirect URI of [`WEB_CLIENT`].
pub const LOGGED_OUT: &str = "http://127.0.0.1/logged-out";

/// A user of a [`UsersFile`]; its password is [`PASSWORD`].
#[derive(Clone, Debug)]
struct User {
    username: String,
    scopes: Vec<String>,
    profile: Option<(String, String)>,
}

/// A client of a [`UsersFile`]; a confidential one has the secret [`PASSWORD`].
#[derive(Clone, Debug)]
struct Client {
    client_id: String,
    confidential: bool,
    grants: Vec<String>,
    scopes: Vec<String>,
    audience: Vec<String>,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    trusted: bool,
    dpop_bound: bool,
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
    /// `reporting-job`, `dpop-job` (DPoP-bound) and `data-api` (client credentials, read only),
    /// all for the audience
    /// `data-api`.
    pub fn standard() -> Self {
        let read_write: &[&str] = &["items:read", "items:write"];
        let browser: &[&str] = &["openid", "profile", "email", "items:read", "items:write"];
        Self::new()
            .user("alice", read_write)
            .profile("Alice Liddell", "alice@example.com")
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
                DPOP_CLIENT,
                &["client_credentials"],
                &["items:read"],
                &["data-api"],
            )
            .dpop_bound()
            .confidential_client(
                "data-api",
                &["client_credentials"],
                &["items:read"],
                &["data-api"],
            )
            .confidential_client(
                WEB_CLIENT,
                &[
                    "authorization_code",
                    "refresh_token",
                    "urn:ietf:params:oauth:grant-type:device_code",
                ],
                browser,
                &["data-api"],
            )
            .redirects(&[CALLBACK], &[LOGGED_OUT])
            .public_client(
                SPA_CLIENT,
                &["authorization_code", "refresh_token"],
                browser,
                &["data-api"],
            )
            .redirects(&[CALLBACK], &[])
            .trusted()
    }

    /// Gives the last user added a display name and an e-mail address.
    pub fn profile(mut self, name: &str, email: &str) -> Self {
        let user = self.users.last_mut().expect("a user to describe");
        user.profile = Some((name.to_string(), email.to_string()));
        self
    }

    /// Registers redirect URIs for the last client added.
    pub fn redirects(mut self, redirect_uris: &[&str], post_logout: &[&str]) -> Self {
        let client = self.clients.last_mut().expect("a client to register");
        client.redirect_uris = strings(redirect_uris);
        client.post_logout_redirect_uris = strings(post_logout);
        self
    }

    /// Registers the last client added with `dpop_bound_access_tokens = true`.
    pub fn dpop_bound(mut self) -> Self {
        self.clients
            .last_mut()
            .expect("a client to bind")
            .dpop_bound = true;
        self
    }

    /// Marks the last client added first party: its users are not asked to consent.
    pub fn trusted(mut self) -> Self {
        self.clients.last_mut().expect("a client to trust").trusted = true;
        self
    }

    /// Adds a user with the password [`PASSWORD`].
    pub fn user(mut self, username: &str, scopes: &[&str]) -> Self {
        self.users.push(User {
            username: username.to_string(),
            scopes: strings(scopes),
            profile: None,
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
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            trusted: false,
            dpop_bound: false,
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
        let hash = portcullis_directory::hash_password(PASSWORD).expect("hash");
        let mut toml = String::new();
        for user in &self.users {
            let profile = match &user.profile {
                Some((name, email)) => format!("name = \"{name}\"\nemail = \"{email}\"\n"),
                None => String::new(),
            };
            toml.push_str(&format!(
                "[[users]]\nusername = \"{}\"\npassword_hash = \"{hash}\"\nscopes = {}\n{profile}\n",
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
                    "[[clients]]\nclient_id = \"{}\"\n{secret}grants = {}\nscopes = {}\naudience = {}\nredirect_uris = {}\npost_logout_redirect_uris = {}\ntrusted = {}\ndpop_bound_access_tokens = {}\n",
                    client.client_id,
                    toml_list(&client.grants),
                    toml_list(&client.scopes),
                    toml_list(&client.audience),
                    toml_list(&client.redirect_uris),
                    toml_list(&client.post_logout_redirect_uris),
                    client.trusted,
                    client.dpop_bound
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
