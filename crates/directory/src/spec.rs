//! The shape of a user and a client as people write them (the users file, the database, the
//! admin CLI and API), and the rules a record must meet before the directory keeps it: one set
//! of rules whatever the source.

use crate::password::is_argon2id_phc;
use crate::users_file_error::{RedirectUriProblem, Rule};
use portcullis_domain::directory::{ClientRecord, GrantType, UserRecord};
use portcullis_domain::identity::{ClientId, Subject, Username};
use portcullis_domain::scope::ScopeSet;
use portcullis_domain::secret::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A user as the users file, the database and the admin interfaces write it: plain values,
/// checked by [`UserSpec::validate`] before anything trusts them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// The login name.
    pub username: String,
    /// The argon2id PHC string of the password.
    pub password_hash: String,
    /// The `sub` of the user's tokens; the login name when absent (what the users file always
    /// meant, kept so existing items keep their owner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The most its tokens may grant.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Display name, released with the `profile` scope.
    #[serde(default)]
    pub name: Option<String>,
    /// E-mail address, released with the `email` scope.
    #[serde(default)]
    pub email: Option<String>,
}

/// A client as the users file, the database and the admin interfaces write it, checked by
/// [`ClientSpec::validate`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// The client id.
    pub client_id: String,
    /// The argon2id PHC string of the secret; absent for a public client.
    #[serde(default)]
    pub secret_hash: Option<String>,
    /// The grant types it may use.
    pub grants: Vec<String>,
    /// The most its tokens may grant.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The `aud` of its access tokens.
    pub audience: Vec<String>,
    /// Where authorization responses may go.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Where the browser may go after logout.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// First party: no consent page.
    #[serde(default)]
    pub trusted: bool,
    /// The algorithm of its id_tokens.
    #[serde(default)]
    pub id_token_signed_response_alg: Option<String>,
    /// Its tokens must be DPoP-bound.
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
}

impl UserSpec {
    /// The user as the directory keeps it, once every rule holds.
    pub fn validate(self) -> Result<UserRecord, Rule> {
        let username = Username::new(self.username.as_str())?;
        if !is_argon2id_phc(&self.password_hash) {
            return Err(Rule::PasswordHash);
        }
        if self.email.as_deref().is_some_and(|e| !e.contains('@')) {
            return Err(Rule::Email);
        }
        let subject = Subject::new(self.subject.as_deref().unwrap_or(self.username.as_str()))?;
        Ok(UserRecord {
            subject,
            scopes: scope_set(&self.scopes)?,
            name: self.name,
            email: self.email,
            password_hash: Secret::new(self.password_hash),
            username,
            sessions_not_before: 0,
        })
    }
}

impl From<&UserRecord> for UserSpec {
    fn from(user: &UserRecord) -> Self {
        Self {
            username: user.username.to_string(),
            password_hash: user.password_hash.expose().to_owned(),
            subject: Some(user.subject.to_string()),
            scopes: user.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            name: user.name.clone(),
            email: user.email.clone(),
        }
    }
}

impl From<&ClientRecord> for ClientSpec {
    fn from(client: &ClientRecord) -> Self {
        Self {
            client_id: client.client_id.to_string(),
            secret_hash: client.secret_hash.as_ref().map(|h| h.expose().to_owned()),
            grants: client
                .grants
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect(),
            scopes: client
                .scopes
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            audience: client.audience.clone(),
            redirect_uris: client.redirect_uris.clone(),
            post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
            trusted: client.trusted,
            id_token_signed_response_alg: client.id_token_signing_alg.map(|a| a.name().to_owned()),
            dpop_bound_access_tokens: client.dpop_bound,
        }
    }
}

pub(crate) fn scope_set(scopes: &[String]) -> Result<ScopeSet, Rule> {
    Ok(ScopeSet::from_strs(scopes.iter().map(String::as_str))?)
}

impl ClientSpec {
    /// The client as the directory keeps it, once every rule holds.
    pub fn validate(self) -> Result<ClientRecord, Rule> {
        let client = self;
        let client_id = ClientId::new(client.client_id.as_str())?;
        if client
            .secret_hash
            .as_deref()
            .is_some_and(|h| !is_argon2id_phc(h))
        {
            return Err(Rule::SecretHash);
        }
        let grants = client
            .grants
            .iter()
            .map(|g| GrantType::parse(g).ok_or_else(|| Rule::UnknownGrant(g.clone())))
            .collect::<Result<BTreeSet<_>, _>>()?;
        if grants.contains(&GrantType::ClientCredentials) && client.secret_hash.is_none() {
            return Err(Rule::CredentialsWithoutSecret);
        }
        if client.audience.is_empty() || client.audience.iter().any(String::is_empty) {
            return Err(Rule::NoAudience);
        }
        for uri in client
            .redirect_uris
            .iter()
            .chain(&client.post_logout_redirect_uris)
        {
            check_redirect_uri(uri).map_err(|problem| Rule::RedirectUri {
                uri: uri.clone(),
                problem,
            })?;
        }
        if grants.contains(&GrantType::AuthorizationCode) && client.redirect_uris.is_empty() {
            return Err(Rule::NoRedirectUri);
        }
        Ok(ClientRecord {
            scopes: scope_set(&client.scopes)?,
            secret_hash: client.secret_hash.map(Secret::new),
            grants,
            audience: client.audience,
            redirect_uris: client.redirect_uris,
            post_logout_redirect_uris: client.post_logout_redirect_uris,
            trusted: client.trusted,
            id_token_signing_alg: client
                .id_token_signed_response_alg
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(Rule::IdTokenAlgorithm)?,
            dpop_bound: client.dpop_bound_access_tokens,
            client_id,
        })
    }
}

/// A registered redirect URI must be absolute and fragment-free (RFC 6749 §3.1.2), and may use
/// plain http only on the loopback interface (RFC 8252 §7.3); private-use schemes for native
/// apps must be reverse domain names (RFC 8252 §7.1).
fn check_redirect_uri(uri: &str) -> Result<(), RedirectUriProblem> {
    if uri.contains('#') {
        return Err(RedirectUriProblem::Fragment);
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(RedirectUriProblem::Whitespace);
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err(RedirectUriProblem::Relative);
    };
    let private_use = scheme.contains('.')
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    match scheme {
        "https" if rest.starts_with("//") && rest.len() > 2 => Ok(()),
        "http" => {
            let loopback = ["//127.0.0.1", "//[::1]", "//localhost"]
                .iter()
                .any(|host| {
                    rest.strip_prefix(host)
                        .is_some_and(|r| r.is_empty() || r.starts_with([':', '/', '?']))
                });
            if loopback {
                Ok(())
            } else {
                Err(RedirectUriProblem::PlainHttp)
            }
        }
        _ if private_use => Ok(()),
        _ => Err(RedirectUriProblem::Scheme),
    }
}
