//! Who is asking: token subjects, OAuth client ids and usernames.

use crate::InvalidValue;
use std::fmt;

/// Longest subject, client id or username accepted; bounds key sizes in stores and caches.
pub const MAX_IDENTIFIER_LEN: usize = 255;

fn validate_identifier(field: &'static str, value: &str) -> Result<(), InvalidValue> {
    if value.is_empty() {
        return Err(InvalidValue::new(field, "must not be empty"));
    }
    if value.len() > MAX_IDENTIFIER_LEN {
        return Err(InvalidValue::new(field, "must be at most 255 bytes"));
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidValue::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps the value: non-empty, at most 255 bytes, no control characters.
            pub fn new(value: impl Into<String>) -> Result<Self, InvalidValue> {
                let value = value.into();
                validate_identifier($field, &value)?;
                Ok(Self(value))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

identifier!(
    /// The principal a token speaks for (`sub`): items belong to subjects, limits apply per subject.
    Subject,
    "subject"
);
identifier!(
    /// The OAuth client a token was issued to (`client_id`).
    ClientId,
    "client_id"
);
identifier!(
    /// A login name in the user directory; the subject of a user's tokens.
    Username,
    "username"
);

impl From<Username> for Subject {
    fn from(username: Username) -> Self {
        Subject(username.0)
    }
}

impl From<ClientId> for Subject {
    fn from(client: ClientId) -> Self {
        Subject(client.0)
    }
}

/// A fresh opaque subject for a new user: `u-` and 128 random bits, base64url. Never derived
/// from the name, so a name given again never gets the old owner's items.
pub fn new_subject() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "u-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_reject_empty_long_and_control_characters() {
        assert!(Subject::new("").is_err());
        assert!(Subject::new("a".repeat(256)).is_err());
        assert!(Subject::new("a\nb").is_err());
        assert_eq!(Subject::new("alice").unwrap().as_str(), "alice");
        assert!(Subject::new("a".repeat(255)).is_ok());
    }
}
