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
