//! The one error both services give for configuration they cannot use.

/// A setting a service cannot start with. It names the setting by its environment variable, so
/// an operator knows which line of a deployment to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required setting is missing.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A setting breaks a rule.
    #[error("{setting} {rule}")]
    Invalid {
        /// The setting's environment variable, e.g. `DATA_API_ISSUER`.
        setting: String,
        /// The rule it breaks, phrased to be fixed: "must be at least 1".
        rule: String,
    },
    /// A `*_FILE` setting names a file that cannot be read.
    #[error("{setting} names a file that cannot be read")]
    Unreadable {
        /// The setting, e.g. `DATA_API_DATABASE_URL_FILE`.
        setting: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A certificate, key or CA bundle cannot be used (the error names its setting).
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

impl ConfigError {
    /// `setting` breaks `rule`.
    pub fn invalid(setting: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::Invalid {
            setting: setting.into(),
            rule: rule.into(),
        }
    }
}

/// A secret-bearing setting given either directly or as the path of a file that holds it (the
/// `*_FILE` convention of Docker and Kubernetes secrets, so the value never sits in an
/// environment that `ps`, `/proc` or a crash dump can show). The file's content is the value,
/// without its trailing newline. Setting both is refused: neither may silently win.
pub fn secret_or_file(
    value: Option<String>,
    file: Option<&std::path::Path>,
    setting: &'static str,
    file_setting: &'static str,
) -> Result<Option<String>, ConfigError> {
    match (value, file) {
        (Some(_), Some(_)) => Err(ConfigError::invalid(
            setting,
            format!("and {file_setting} are both set; set one"),
        )),
        (value, None) => Ok(value),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
                setting: file_setting,
                source,
            })?;
            Ok(Some(text.trim_end_matches(['\n', '\r']).to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_comes_from_its_variable_or_its_file_never_both() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("redis-url");
        std::fs::write(&path, "redis://:s3cret@redis:6379\n").unwrap();
        let read = secret_or_file(None, Some(&path), "X_URL", "X_URL_FILE").unwrap();
        assert_eq!(read.as_deref(), Some("redis://:s3cret@redis:6379"));
        let direct = secret_or_file(Some("v".into()), None, "X_URL", "X_URL_FILE").unwrap();
        assert_eq!(direct.as_deref(), Some("v"));
        assert!(secret_or_file(None, None, "X_URL", "X_URL_FILE")
            .unwrap()
            .is_none());
        let both = secret_or_file(Some("v".into()), Some(&path), "X_URL", "X_URL_FILE");
        assert!(both
            .unwrap_err()
            .to_string()
            .contains("X_URL_FILE are both set"));
        let missing = secret_or_file(None, Some(&dir.path().join("nope")), "X_URL", "X_URL_FILE");
        let error = missing.unwrap_err();
        assert!(error.to_string().starts_with("X_URL_FILE"));
        assert!(
            std::error::Error::source(&error).is_some(),
            "the I/O cause is kept"
        );
    }
}
