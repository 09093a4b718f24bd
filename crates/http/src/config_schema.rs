//! The settings a binary accepts, read from its own command-line definition.
//!
//! The README's configuration tables are generated from this (`scripts/check_config_docs.py
//! --write`; CI runs it without `--write` to check), so the documentation cannot drift from the
//! binaries: a setting added, renamed or given a new default shows up as a difference.

use serde::Serialize;

/// One setting: its environment variable, flag, default and help.
#[derive(Debug, Serialize)]
pub struct Setting {
    /// The environment variable, e.g. `DATA_API_LISTEN`.
    pub env: String,
    /// The long flag, e.g. `listen`.
    pub flag: Option<String>,
    /// The default, as the command line would read it; `None` when there is none.
    pub default: Option<String>,
    /// The help text, on one line.
    pub help: String,
    /// Whether `--help` hides the value (settings that may carry a secret).
    pub hides_value: bool,
}

/// Every argument of `command` that has an environment variable.
pub fn settings(command: &clap::Command) -> Vec<Setting> {
    command
        .get_arguments()
        .filter_map(|arg| {
            let env = arg.get_env()?.to_string_lossy().into_owned();
            let defaults: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            let help = arg
                .get_long_help()
                .or(arg.get_help())
                .map(|h| {
                    h.to_string()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            Some(Setting {
                env,
                flag: arg.get_long().map(str::to_string),
                default: (!defaults.is_empty()).then(|| defaults.join(",")),
                help,
                hides_value: arg.is_hide_env_values_set(),
            })
        })
        .collect()
}

/// The settings of `command` as a JSON array, for `config-schema` subcommands.
pub fn json(command: &clap::Command) -> String {
    serde_json::to_string_pretty(&settings(command)).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    /// Reads settings.
    #[derive(Parser)]
    struct Example {
        /// Where to listen.
        #[arg(long, env = "EX_LISTEN", default_value = "127.0.0.1:1")]
        listen: String,
        /// A secret URL.
        #[arg(long, env = "EX_URL", hide_env_values = true)]
        url: Option<String>,
        /// No environment variable: not a setting.
        #[arg(long)]
        verbose: bool,
    }

    #[test]
    fn every_argument_with_an_environment_variable_is_listed() {
        let settings = settings(&Example::command());
        assert_eq!(settings.len(), 2);
        assert_eq!(settings[0].env, "EX_LISTEN");
        assert_eq!(settings[0].default.as_deref(), Some("127.0.0.1:1"));
        assert_eq!(
            settings[0].help, "Where to listen",
            "clap drops the closing period"
        );
        assert!(settings[1].hides_value && settings[1].default.is_none());
    }
}
