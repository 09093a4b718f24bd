//! The issuer's settings: every one a flag and an environment variable, so `--help` lists them.

use clap::Args;
use portcullis_domain::ratelimit::RateLimitPolicy;
use portcullis_http::client_ip::TrustedProxies;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

portcullis_http::transport_args!("ISSUER");

/// Settings of `auth-issuer serve`.
#[derive(Args, Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "ISSUER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Public issuer identifier, used as `iss` exactly (no trailing slash).
    #[arg(long, env = "ISSUER_URL", default_value = "http://127.0.0.1:8080")]
    pub issuer_url: String,

    /// Required: the directory of PEM signing keys (PKCS#8 or PKCS#1); `ACTIVE` names the
    /// signing one.
    #[arg(long, env = "ISSUER_KEYS_DIR")]
    pub keys_dir: Option<PathBuf>,

    /// How often the keys directory is re-read (rotation without restart).
    #[arg(long, env = "ISSUER_KEYS_RELOAD_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub keys_reload_interval: Duration,

    /// Required: the users and clients file (TOML, argon2id hashes).
    #[arg(long, env = "ISSUER_USERS_FILE")]
    pub users_file: Option<PathBuf>,

    /// Redis URL for login limits and refresh tokens shared by all replicas; unset = in process
    /// (refresh tokens then die with the process: fine for one replica in development). May
    /// carry a password, so `--help` never shows its value.
    #[arg(long, env = "ISSUER_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Access-token lifetime, 1 to 60 minutes.
    #[arg(long, env = "ISSUER_ACCESS_TOKEN_TTL", default_value = "10m", value_parser = humantime::parse_duration)]
    pub access_token_ttl: Duration,

    /// Refresh-token lifetime, each rotation starting a new one: the session's idle timeout (a
    /// session unused this long ends).
    #[arg(long, env = "ISSUER_REFRESH_TOKEN_TTL", default_value = "24h", value_parser = humantime::parse_duration)]
    pub refresh_token_ttl: Duration,

    /// Longest a login session (a refresh-token family) lasts however actively it is used; then
    /// the user logs in again. Bounds how long a stolen, still-rotating family stays useful.
    #[arg(long, env = "ISSUER_REFRESH_ABSOLUTE_LIFETIME", default_value = "7d", value_parser = humantime::parse_duration)]
    pub refresh_absolute_lifetime: Duration,

    /// How long after a rotation the retired refresh token may be presented again and get the
    /// same successor: a client retrying a refresh whose answer it lost, or several threads
    /// sharing one token, keep their session. After it, presenting a retired token is reuse and
    /// revokes the family. At most 60 s; 0 turns the tolerance off.
    #[arg(long, env = "ISSUER_REFRESH_REUSE_GRACE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub refresh_reuse_grace: Duration,

    /// Failed password checks allowed per username from one client address. The windows
    /// escalate the cool-down: a burst waits out a minute, persistent guessing an hour, then a
    /// day. Only failures count, and a successful login clears them.
    #[arg(
        long,
        env = "ISSUER_LOGIN_RATE_LIMIT",
        default_value = "5/min,20/h,50/d"
    )]
    pub login_rate_limit: RateLimitPolicy,

    /// Failed password checks allowed per username from all addresses together: the backstop
    /// against guessing spread over many addresses, loose enough that one address can never
    /// lock the user out (it reaches its own limit first).
    #[arg(
        long,
        env = "ISSUER_LOGIN_USER_RATE_LIMIT",
        default_value = "30/min,200/h,500/d"
    )]
    pub login_user_rate_limit: RateLimitPolicy,

    /// Token-endpoint requests allowed per client IP.
    #[arg(long, env = "ISSUER_IP_RATE_LIMIT", default_value = "60/min,600/h")]
    pub ip_rate_limit: RateLimitPolicy,

    /// Proxies whose X-Forwarded-For is believed: comma-separated addresses or CIDR networks.
    /// Login limits and audit records key on the client address this yields.
    #[arg(long, env = "ISSUER_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: TrustedProxies,

    /// Password hashes computed at once (each takes 19 MiB and one core for ~20 ms).
    #[arg(long, env = "ISSUER_PASSWORD_CONCURRENCY", default_value_t = 2)]
    pub password_concurrency: usize,

    /// Client-secret hashes computed at once: a budget of its own, so a flood of password
    /// logins cannot starve client authentication (client credentials, introspection).
    #[arg(long, env = "ISSUER_CLIENT_SECRET_CONCURRENCY", default_value_t = 2)]
    pub client_secret_concurrency: usize,

    /// `max-age` of the JWKS response: how long verifiers may cache the key set.
    #[arg(long, env = "ISSUER_JWKS_MAX_AGE", default_value = "5m", value_parser = humantime::parse_duration)]
    pub jwks_max_age: Duration,

    /// Timeout of each Redis call.
    #[arg(long, env = "ISSUER_REDIS_TIMEOUT", default_value = "100ms", value_parser = humantime::parse_duration)]
    pub redis_timeout: Duration,

    /// Transport limits and shutdown.
    #[command(flatten)]
    pub transport: TransportArgs,
}

/// Why the configuration was refused at start-up (shared with the data API).
pub use portcullis_http::config_error::ConfigError;

impl Config {
    /// The configuration from environment variables and defaults alone (no command line), for
    /// embedding the service: the all-in-one launcher and the tests.
    pub fn from_env() -> Result<Self, clap::Error> {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            config: Config,
        }
        <Only as clap::Parser>::try_parse_from(["portcullis"]).map(|only| only.config)
    }

    /// Checks the rules clap cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let minute = Duration::from_secs(60);
        if self.access_token_ttl < minute || self.access_token_ttl > 60 * minute {
            return Err(ConfigError::invalid(
                "ISSUER_ACCESS_TOKEN_TTL",
                format!(
                    "must be between 1m and 60m (got {})",
                    humantime::format_duration(self.access_token_ttl)
                ),
            ));
        }
        if self.refresh_token_ttl < self.access_token_ttl {
            return Err(ConfigError::invalid(
                "ISSUER_REFRESH_TOKEN_TTL",
                "must not be shorter than the access-token lifetime",
            ));
        }
        if self.refresh_absolute_lifetime < self.refresh_token_ttl {
            return Err(ConfigError::invalid(
                "ISSUER_REFRESH_ABSOLUTE_LIFETIME",
                "must not be shorter than ISSUER_REFRESH_TOKEN_TTL",
            ));
        }
        if self.refresh_reuse_grace > Duration::from_secs(60) {
            return Err(ConfigError::invalid(
                "ISSUER_REFRESH_REUSE_GRACE",
                "must be at most 60s",
            ));
        }
        if self.issuer_url.ends_with('/') || !self.issuer_url.starts_with("http") {
            return Err(ConfigError::invalid(
                "ISSUER_URL",
                "must be an http(s) URL without a trailing slash",
            ));
        }
        if self.keys_dir.is_none() {
            return Err(ConfigError::Missing("ISSUER_KEYS_DIR (--keys-dir)"));
        }
        if self.users_file.is_none() {
            return Err(ConfigError::Missing("ISSUER_USERS_FILE (--users-file)"));
        }
        self.transport.settings()?;
        Ok(())
    }
}
