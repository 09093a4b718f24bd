//! The users-and-clients file (`ISSUER_USERS_FILE`): TOML that operators edit and Kubernetes
//! mounts from a Secret. Validated whole at load: a typo fails start-up, not a login.

use crate::password::is_argon2id_phc;
use async_trait::async_trait;
use portcullis_domain::directory::{
    ClientRecord, DirectoryError, GrantType, UserDirectory, UserRecord,
};
use portcullis_domain::identity::{ClientId, Username};
use portcullis_domain::scope::ScopeSet;
use portcullis_domain::secret::Secret;
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    users: Vec<UserEntry>,
    #[serde(default)]
    clients: Vec<ClientEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    username: String,
    password_hash: String,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientEntry {
    client_id: String,
    #[serde(default)]
    secret_hash: Option<String>,
    grants: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    audience: Vec<String>,
}

/// Why the users file was refused; names the entry, never a hash.
#[derive(Debug, thiserror::Error)]
pub enum UsersFileError {
    /// The file could not be read.
    #[error("cannot read users file: {0}")]
    Io(#[from] std::io::Error),
    /// Not valid TOML of the expected shape.
    #[error("users file is not valid: {}", .0.message())]
    Syntax(#[source] toml::de::Error),
    /// An entry breaks a rule.
    #[error("users file: {0}")]
    Invalid(String),
}

/// The directory loaded from the users file.
#[derive(Debug, Default)]
pub struct FileDirectory {
    users: HashMap<Username, UserRecord>,
    clients: HashMap<ClientId, ClientRecord>,
}

impl FileDirectory {
    /// Reads and validates the file.
    pub fn load(path: &Path) -> Result<Self, UsersFileError> {
        Self::from_toml(&std::fs::read_to_string(path)?)
    }

    /// Parses and validates the TOML text.
    pub fn from_toml(text: &str) -> Result<Self, UsersFileError> {
        let file: UsersFile = toml::from_str(text).map_err(UsersFileError::Syntax)?;
        let invalid = |what: String| UsersFileError::Invalid(what);
        let scopes = |owner: &str, scopes: &[String]| {
            ScopeSet::from_strs(scopes.iter().map(String::as_str))
                .map_err(|e| invalid(format!("{owner}: {e}")))
        };
        let mut directory = Self::default();
        for user in file.users {
            let username = Username::new(user.username.as_str())
                .map_err(|e| invalid(format!("user {:?}: {e}", user.username)))?;
            if !is_argon2id_phc(&user.password_hash) {
                return Err(invalid(format!(
                    "user {username}: password_hash is not an argon2id PHC string (use `auth-issuer hash-password`)"
                )));
            }
            let record = UserRecord {
                scopes: scopes(&format!("user {username}"), &user.scopes)?,
                password_hash: Secret::new(user.password_hash),
                username: username.clone(),
            };
            if directory.users.insert(username.clone(), record).is_some() {
                return Err(invalid(format!("user {username} is listed twice")));
            }
        }
        for client in file.clients {
            let client_id = ClientId::new(client.client_id.as_str())
                .map_err(|e| invalid(format!("client {:?}: {e}", client.client_id)))?;
            if let Some(hash) = &client.secret_hash {
                if !is_argon2id_phc(hash) {
                    return Err(invalid(format!(
                        "client {client_id}: secret_hash is not an argon2id PHC string"
                    )));
                }
            }
            let grants = client
                .grants
                .iter()
                .map(|g| {
                    GrantType::parse(g)
                        .ok_or_else(|| invalid(format!("client {client_id}: unknown grant {g:?}")))
                })
                .collect::<Result<BTreeSet<_>, _>>()?;
            if grants.contains(&GrantType::ClientCredentials) && client.secret_hash.is_none() {
                return Err(invalid(format!(
                    "client {client_id}: client_credentials needs a secret_hash (public clients cannot use it)"
                )));
            }
            if client.audience.is_empty() || client.audience.iter().any(String::is_empty) {
                return Err(invalid(format!(
                    "client {client_id}: audience must name at least one resource server"
                )));
            }
            let record = ClientRecord {
                scopes: scopes(&format!("client {client_id}"), &client.scopes)?,
                secret_hash: client.secret_hash.map(Secret::new),
                grants,
                audience: client.audience,
                client_id: client_id.clone(),
            };
            if directory
                .clients
                .insert(client_id.clone(), record)
                .is_some()
            {
                return Err(invalid(format!("client {client_id} is listed twice")));
            }
        }
        // A client acting for itself gets `sub = client_id`: sharing a name with a user would let
        // it read and write that user's items.
        if let Some(clash) = directory.clients.keys().find(|id| {
            Username::new(id.as_str()).is_ok_and(|name| directory.users.contains_key(&name))
        }) {
            return Err(invalid(format!(
                "client {clash} has the same name as a user; token subjects would collide"
            )));
        }
        Ok(directory)
    }

    /// Every audience some client's tokens carry: what the issuer accepts when introspecting.
    pub fn audiences(&self) -> Vec<String> {
        let mut audiences: Vec<String> = self
            .clients
            .values()
            .flat_map(|c| c.audience.iter().cloned())
            .collect();
        audiences.sort();
        audiences.dedup();
        audiences
    }

    /// How many users and clients were loaded, for the start-up log.
    pub fn counts(&self) -> (usize, usize) {
        (self.users.len(), self.clients.len())
    }
}

#[async_trait]
impl UserDirectory for FileDirectory {
    async fn user(&self, username: &Username) -> Result<Option<UserRecord>, DirectoryError> {
        Ok(self.users.get(username).cloned())
    }

    async fn client(&self, client_id: &ClientId) -> Result<Option<ClientRecord>, DirectoryError> {
        Ok(self.clients.get(client_id).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::hash_password;

    fn sample() -> String {
        let hash = hash_password("pw").unwrap();
        format!(
            r#"
[[users]]
username = "alice"
password_hash = "{hash}"
scopes = ["items:read", "items:write"]

[[clients]]
client_id = "portcullis-cli"
grants = ["password", "refresh_token"]
scopes = ["items:read", "items:write"]
audience = ["data-api"]

[[clients]]
client_id = "reporting-job"
secret_hash = "{hash}"
grants = ["client_credentials"]
scopes = ["items:read"]
audience = ["data-api"]
"#
        )
    }

    #[tokio::test]
    async fn loads_the_documented_format() {
        let dir = FileDirectory::from_toml(&sample()).unwrap();
        assert_eq!(dir.counts(), (1, 2));
        let alice = dir
            .user(&Username::new("alice").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(alice.scopes.contains("items:write"));
        let cli = dir
            .client(&ClientId::new("portcullis-cli").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(cli.secret_hash.is_none());
        assert!(cli.grants.contains(&GrantType::RefreshToken));
        assert!(dir
            .user(&Username::new("bob").unwrap())
            .await
            .unwrap()
            .is_none());
    }

    #[test]
    fn refuses_bad_files_with_a_clear_reason() {
        let hash = hash_password("pw").unwrap();
        let cases = [
            ("[[users]]\nusername = \"a\"\npassword_hash = \"plain\"\n", "argon2id"),
            ("[[users]]\nusername = \"a\"\npassword_hash = \"x\"\nrole = \"admin\"\n", "unknown field"),
            ("[[clients]]\nclient_id = \"c\"\ngrants = [\"implicit\"]\naudience = [\"d\"]\n", "unknown grant"),
            ("[[clients]]\nclient_id = \"c\"\ngrants = [\"client_credentials\"]\naudience = [\"d\"]\n", "needs a secret_hash"),
            ("[[clients]]\nclient_id = \"c\"\ngrants = [\"password\"]\naudience = []\n", "audience"),
            ("not toml [", "not valid"),
        ];
        for (text, expected) in cases {
            let error = FileDirectory::from_toml(text).unwrap_err().to_string();
            assert!(
                error.contains(expected),
                "{error:?} should mention {expected:?}"
            );
        }
        let twice = format!(
            "[[users]]\nusername = \"a\"\npassword_hash = \"{hash}\"\n[[users]]\nusername = \"a\"\npassword_hash = \"{hash}\"\n"
        );
        assert!(FileDirectory::from_toml(&twice)
            .unwrap_err()
            .to_string()
            .contains("twice"));
        let clash = format!(
            "[[users]]\nusername = \"job\"\npassword_hash = \"{hash}\"\n[[clients]]\nclient_id = \"job\"\nsecret_hash = \"{hash}\"\ngrants = [\"client_credentials\"]\naudience = [\"d\"]\n"
        );
        let error = FileDirectory::from_toml(&clash).unwrap_err().to_string();
        assert!(error.contains("same name as a user"), "{error}");
        let error = FileDirectory::from_toml(&format!(
            "[[users]]\nusername = \"a\"\npassword_hash = \"{hash}\"\nscopes = [\"bad scope\"]\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(!error.contains(&hash), "errors never echo a hash");
    }
}
