//! Settings of browser and device login: sessions, device codes and their guessing limit.

use clap::Args;
use portcullis_domain::login::LoginPolicy;
use portcullis_domain::ratelimit::RateLimitPolicy;
use portcullis_http::config_error::ConfigError;
use std::time::Duration;

/// Sessions and device login.
#[derive(Args, Debug, Clone)]
pub struct LoginArgs {
    /// A browser session (single sign-on) unused this long ends; using it, or refreshing tokens
    /// issued under it, restarts the clock.
    #[arg(long, env = "ISSUER_SESSION_IDLE_TIMEOUT", default_value = "24h", value_parser = humantime::parse_duration)]
    pub session_idle_timeout: Duration,

    /// A browser session ends this long after the password was entered, however active; the
    /// refresh tokens issued under it end with it.
    #[arg(long, env = "ISSUER_SESSION_LIFETIME", default_value = "7d", value_parser = humantime::parse_duration)]
    pub session_lifetime: Duration,

    /// How long a device's codes wait for the user's approval (RFC 8628 `expires_in`).
    #[arg(long, env = "ISSUER_DEVICE_CODE_LIFETIME", default_value = "10m", value_parser = humantime::parse_duration)]
    pub device_code_lifetime: Duration,

    /// The polling interval devices are told to keep (RFC 8628 `interval`).
    #[arg(long, env = "ISSUER_DEVICE_POLL_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub device_poll_interval: Duration,

    /// Unknown user codes a signed-in user, and a client address, may enter: the guessing
    /// budget against the device codes of others.
    #[arg(
        long,
        env = "ISSUER_DEVICE_CODE_RATE_LIMIT",
        default_value = "5/min,20/h"
    )]
    pub device_code_rate_limit: RateLimitPolicy,
}

/// The validated login settings.
#[derive(Debug, Clone)]
pub struct LoginSettings {
    /// The lifetimes the login records are kept under.
    pub policy: LoginPolicy,
    /// The guessing budget for device user codes.
    pub device_code_rate_limit: RateLimitPolicy,
}

impl TryFrom<LoginArgs> for LoginSettings {
    type Error = ConfigError;

    fn try_from(args: LoginArgs) -> Result<Self, ConfigError> {
        if args.session_idle_timeout < Duration::from_secs(60) {
            return Err(ConfigError::invalid(
                "ISSUER_SESSION_IDLE_TIMEOUT",
                "must be at least 1m",
            ));
        }
        if args.session_lifetime < args.session_idle_timeout {
            return Err(ConfigError::invalid(
                "ISSUER_SESSION_LIFETIME",
                "must not be shorter than ISSUER_SESSION_IDLE_TIMEOUT",
            ));
        }
        let lifetime = args.device_code_lifetime;
        if lifetime < Duration::from_secs(60) || lifetime > Duration::from_secs(1800) {
            return Err(ConfigError::invalid(
                "ISSUER_DEVICE_CODE_LIFETIME",
                "must be between 1m and 30m",
            ));
        }
        let interval = args.device_poll_interval;
        if interval < Duration::from_secs(1) || interval > Duration::from_secs(60) {
            return Err(ConfigError::invalid(
                "ISSUER_DEVICE_POLL_INTERVAL",
                "must be between 1s and 60s",
            ));
        }
        Ok(Self {
            policy: LoginPolicy {
                session_idle: args.session_idle_timeout,
                session_absolute: args.session_lifetime,
                device_code_lifetime: lifetime,
                device_poll_interval: interval,
            },
            device_code_rate_limit: args.device_code_rate_limit,
        })
    }
}
