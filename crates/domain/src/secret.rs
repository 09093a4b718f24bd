//! Values that must never reach a log line.
//!
//! Redaction and wiping come from the `secrecy` crate ([`SecretString`]: `Debug` prints
//! `[REDACTED]`, the memory is zeroed on drop). [`Secret`] wraps it under the name the ports
//! and handlers already use, so a secret can only be read through [`ExposeSecret`] or
//! [`Secret::expose`], both easy to grep for.

pub use secrecy::{ExposeSecret, SecretString};
use std::fmt;

/// A secret string (password, client secret, refresh token, password hash): its `Debug` is
/// redacted so that a stray `{:?}` in a log statement cannot leak it, and it has no `Display`
/// or `PartialEq` (comparisons of secrets belong to constant-time code that exposes them).
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The secret itself, for the one place that must use it (hashing, verifying, responding);
    /// the same as [`ExposeSecret::expose_secret`].
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl ExposeSecret<str> for Secret {
    fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<SecretString> for Secret {
    fn from(secret: SecretString) -> Self {
        Self(secret)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Secret").field(&self.0).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("hunter2");
        let shown = format!("{secret:?} {:?}", Some(secret.clone()));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
        assert_eq!(secret.expose(), "hunter2");
        assert_eq!(secret.expose_secret(), "hunter2");
    }
}
