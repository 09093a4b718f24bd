//! The users-and-clients file (`ISSUER_USERS_FILE`): TOML that operators edit and Kubernetes
//! mounts from a Secret. Validated whole at load: a typo fails start-up, not a login.

use crate::spec::{ClientSpec, UserSpec};
pub use crate::users_file_error::UsersFileError;
use crate::users_file_error::{Entry, Rule};
use async_trait::async_trait;
use portcullis_domain::directory::{
    ClientRecord, DirectoryError, GrantType, UserDirectory, UserRecord,
};
use portcullis_domain::identity::{ClientId, Username};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    users: Vec<UserSpec>,
    #[serde(default)]
    clients: Vec<ClientSpec>,
}

/// The directory loaded from the users file.
#[derive(Debug, Default)]
pub struct FileDirectory {
    users: HashMap<Username, UserRecord>,
    /// Login names by subject.
    subjects: HashMap<String, Username>,
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
        let mut directory = Self::default();
        for user in file.users {
            let entry = Entry::User(user.username.clone());
            let record = user.validate().map_err(|rule| entry.breaks(rule))?;
            let subject = record.subject.to_string();
            let name = record.username.clone();
            if directory.users.insert(name.clone(), record).is_some()
                || directory.subjects.insert(subject, name).is_some()
            {
                return Err(entry.breaks(Rule::Duplicate));
            }
        }
        for client in file.clients {
            let entry = Entry::Client(client.client_id.clone());
            let record = client.validate().map_err(|rule| entry.breaks(rule))?;
            let client_id = record.client_id.clone();
            if directory.clients.insert(client_id, record).is_some() {
                return Err(entry.breaks(Rule::Duplicate));
            }
        }
        // A client acting for itself gets `sub = client_id`: sharing a user's name or subject
        // would let it read and write that user's items.
        if let Some(clash) = directory.clients.keys().find(|id| {
            directory.subjects.contains_key(id.as_str())
                || Username::new(id.as_str()).is_ok_and(|name| directory.users.contains_key(&name))
        }) {
            return Err(Entry::Client(clash.to_string()).breaks(Rule::SubjectClash));
        }
        Ok(directory)
    }

    /// Every user and client, for an import into the identity store.
    pub fn records(&self) -> (Vec<UserRecord>, Vec<ClientRecord>) {
        (
            self.users.values().cloned().collect(),
            self.clients.values().cloned().collect(),
        )
    }

    /// The clients, in no particular order: start-up derives discovery from them.
    pub fn clients(&self) -> Vec<ClientRecord> {
        self.clients.values().cloned().collect()
    }

    /// The clients allowed `grant`, sorted: start-up names those allowed the password grant.
    pub fn clients_with_grant(&self, grant: GrantType) -> Vec<&ClientId> {
        clients_with_grant(self.clients.values(), grant)
    }

    /// How many users and clients were loaded, for the start-up log.
    pub fn counts(&self) -> (usize, usize) {
        (self.users.len(), self.clients.len())
    }
}

/// The ids of the `clients` allowed `grant`, sorted: whatever holds the clients (the file, the
/// identity store's start-up read) derives discovery and the password-grant warning this way.
pub fn clients_with_grant<'a>(
    clients: impl IntoIterator<Item = &'a ClientRecord>,
    grant: GrantType,
) -> Vec<&'a ClientId> {
    let mut ids: Vec<&ClientId> = clients
        .into_iter()
        .filter(|c| c.grants.contains(&grant))
        .map(|c| &c.client_id)
        .collect();
    ids.sort();
    ids
}

#[async_trait]
impl UserDirectory for FileDirectory {
    async fn user(&self, username: &Username) -> Result<Option<UserRecord>, DirectoryError> {
        Ok(self.users.get(username).cloned())
    }

    async fn user_by_subject(&self, subject: &str) -> Result<Option<UserRecord>, DirectoryError> {
        Ok(self
            .subjects
            .get(subject)
            .and_then(|name| self.users.get(name))
            .cloned())
    }

    async fn client(&self, client_id: &ClientId) -> Result<Option<ClientRecord>, DirectoryError> {
        Ok(self.clients.get(client_id).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::hash_password;
    use crate::RedirectUriProblem;

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

    #[test]
    fn browser_clients_register_safe_redirect_uris() {
        let client = |redirects: &str| {
            format!(
                "[[clients]]\nclient_id = \"app\"\ngrants = [\"authorization_code\"]\naudience = [\"d\"]\nredirect_uris = [{redirects}]\n"
            )
        };
        let refused = [
            ("", Rule::NoRedirectUri),
            (
                "\"https://app.example/cb#x\"",
                problem("https://app.example/cb#x", RedirectUriProblem::Fragment),
            ),
            (
                "\"http://app.example/cb\"",
                problem("http://app.example/cb", RedirectUriProblem::PlainHttp),
            ),
            (
                "\"http://127.0.0.1.evil.example/cb\"",
                problem(
                    "http://127.0.0.1.evil.example/cb",
                    RedirectUriProblem::PlainHttp,
                ),
            ),
            (
                "\"javascript:alert(1)\"",
                problem("javascript:alert(1)", RedirectUriProblem::Scheme),
            ),
            ("\"/cb\"", problem("/cb", RedirectUriProblem::Relative)),
        ];
        for (redirects, rule) in refused {
            match FileDirectory::from_toml(&client(redirects)) {
                Err(UsersFileError::Invalid { entry, rule: got }) => {
                    assert_eq!(entry, Entry::Client("app".into()));
                    assert_eq!(got, rule, "{redirects}");
                }
                other => panic!("{redirects}: {other:?}"),
            }
        }
        for good in [
            "\"https://app.example/cb\"",
            "\"http://127.0.0.1/cb\"",
            "\"http://[::1]:8000/cb\"",
            "\"http://localhost/cb\"",
            "\"com.example.app:/cb\"",
        ] {
            assert!(FileDirectory::from_toml(&client(good)).is_ok(), "{good}");
        }
    }

    fn problem(uri: &str, problem: RedirectUriProblem) -> Rule {
        Rule::RedirectUri {
            uri: uri.into(),
            problem,
        }
    }
}
