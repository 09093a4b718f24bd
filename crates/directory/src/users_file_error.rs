//! Why a users file was refused: the entry at fault and the rule it breaks, typed so callers
//! (the start-up log, `auth-issuer check-config`, tests) can tell one refusal from another and
//! no message is assembled from strings. Never carries a hash.

use portcullis_domain::InvalidValue;
use std::fmt;

/// Why the users file was refused.
#[derive(Debug, thiserror::Error)]
pub enum UsersFileError {
    /// The file could not be read.
    #[error("cannot read users file: {0}")]
    Io(#[from] std::io::Error),
    /// Not valid TOML of the expected shape.
    #[error("users file is not valid: {}", .0.message())]
    Syntax(#[source] toml::de::Error),
    /// An entry breaks a rule.
    #[error("users file: {entry}: {rule}")]
    Invalid {
        /// The user or client at fault.
        entry: Entry,
        /// What is wrong with it.
        rule: Rule,
    },
}

/// A user or client of the file, by the name it was given there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A `[[users]]` entry.
    User(String),
    /// A `[[clients]]` entry.
    Client(String),
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(name) => write!(f, "user {name:?}"),
            Self::Client(id) => write!(f, "client {id:?}"),
        }
    }
}

impl Entry {
    /// The refusal of this entry for `rule`.
    pub(crate) fn breaks(&self, rule: impl Into<Rule>) -> UsersFileError {
        UsersFileError::Invalid {
            entry: self.clone(),
            rule: rule.into(),
        }
    }
}

/// The rules an entry can break.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rule {
    /// A name or scope is not a valid value.
    #[error(transparent)]
    Value(#[from] InvalidValue),
    /// A user's `password_hash` is not argon2id.
    #[error("password_hash is not an argon2id PHC string (use `auth-issuer hash-password`)")]
    PasswordHash,
    /// A client's `secret_hash` is not argon2id.
    #[error("secret_hash is not an argon2id PHC string")]
    SecretHash,
    /// A user's `email` has no `@`.
    #[error("email is not an address")]
    Email,
    /// The name appears twice.
    #[error("is listed twice")]
    Duplicate,
    /// A grant name that is no RFC `grant_type`.
    #[error("unknown grant {0:?}")]
    UnknownGrant(String),
    /// `client_credentials` on a client without a secret.
    #[error("client_credentials needs a secret_hash (public clients cannot use it)")]
    CredentialsWithoutSecret,
    /// No audience.
    #[error("audience must name at least one resource server")]
    NoAudience,
    /// A redirect URI breaks a rule of RFC 6749 §3.1.2 or RFC 8252.
    #[error("redirect URI {uri:?} {problem}")]
    RedirectUri {
        /// The URI.
        uri: String,
        /// What is wrong with it.
        problem: RedirectUriProblem,
    },
    /// `authorization_code` without a redirect URI.
    #[error("authorization_code needs at least one redirect_uris entry")]
    NoRedirectUri,
    /// An `id_token_signed_response_alg` the issuer cannot sign with.
    #[error("id_token_signed_response_alg: {0}")]
    IdTokenAlgorithm(String),
    /// A client named like a user: tokens it gets for itself would speak for that user.
    #[error("has the same name as a user; token subjects would collide")]
    SubjectClash,
}

/// What is wrong with a registered redirect URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriProblem {
    /// It has a `#fragment` (RFC 6749 §3.1.2).
    #[error("must not have a fragment")]
    Fragment,
    /// It has spaces or control characters.
    #[error("must not contain spaces or control characters")]
    Whitespace,
    /// It is relative.
    #[error("must be an absolute URI")]
    Relative,
    /// Plain http off the loopback interface.
    #[error("may use http only on the loopback interface (127.0.0.1, [::1], localhost)")]
    PlainHttp,
    /// Another scheme that is not a reverse domain name.
    #[error("must be https, loopback http, or a reverse-domain private-use scheme")]
    Scheme,
}
