//! The issuer's settings: every one a flag and an environment variable, so `--help` lists them.
//!
//! [`Args`] is what the command line and the environment say, as clap reads it; [`Settings`]
//! (built from it by `TryFrom`, see `settings.rs`) is what the issuer runs with, every rule
//! checked once and required values no longer optional. A default is written once: in the
//! attribute below, or as a constant where a `Default` impl or another binary needs it too.

mod settings;

use portcullis_directory::HashParams;
use portcullis_domain::ratelimit::RateLimitPolicy;
use portcullis_http::client_ip::TrustedProxies;
use portcullis_http::resilience::{DEFAULT_BREAKER_COOLDOWN, DEFAULT_BREAKER_THRESHOLD};
use portcullis_redis::{DEFAULT_CALL_TIMEOUT, DEFAULT_CONNECT_TIMEOUT};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use settings::{IdentitySource, Settings};

portcullis_http::transport_args!("ISSUER");
portcullis_http::redis_tls_args!("ISSUER");

/// Default `ISSUER_LISTEN`; also the health check's and `portcullis dev`'s default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default `ISSUER_URL`: the issuer at its default listen address.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// The command line and environment of `auth-issuer serve`, before any rule is checked.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "ISSUER_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Public issuer identifier, used as `iss` exactly (no trailing slash).
    #[arg(long, env = "ISSUER_URL", default_value = DEFAULT_URL)]
    pub issuer_url: String,

    /// Required: the directory of PEM signing keys (PKCS#8 or PKCS#1); `ACTIVE` names the
    /// signing one.
    #[arg(long, env = "ISSUER_KEYS_DIR")]
    pub keys_dir: Option<PathBuf>,

    /// How often the keys directory is re-read (rotation without restart).
    #[arg(long, env = "ISSUER_KEYS_RELOAD_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub keys_reload_interval: Duration,

    /// The users and clients file (TOML, argon2id hashes); this or `ISSUER_DATABASE_URL` is
    /// required, never both.
    #[arg(long, env = "ISSUER_USERS_FILE")]
    pub users_file: Option<PathBuf>,

    /// The identity store instead of the users file: `sqlite://PATH` (one host) or
    /// `postgres://...` (shared by every replica), changed live with `auth-issuer users ...` and
    /// `clients ...`. Its own database, not the data API's. May carry a password, so `--help`
    /// never shows its value.
    #[arg(long, env = "ISSUER_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// A file holding the identity store URL; instead of `ISSUER_DATABASE_URL`, never with it.
    #[arg(long, env = "ISSUER_DATABASE_URL_FILE")]
    pub database_url_file: Option<PathBuf>,

    /// Serve the admin API (`/admin/v1/users`, `/admin/v1/clients`) for automation: access
    /// tokens of this issuer for the audience `portcullis-admin` with the scope
    /// `portcullis:admin` may change the identity store, so it needs `ISSUER_DATABASE_URL`.
    /// Off by default: an API that can create users is exposed only when asked for.
    #[arg(long, env = "ISSUER_ADMIN_API", default_value_t = false)]
    pub admin_api: bool,

    /// Admin API requests allowed per client (the token's `client_id`), on the issuer's limiter.
    #[arg(long, env = "ISSUER_ADMIN_RATE_LIMIT", default_value = "10/s,300/min")]
    pub admin_rate_limit: RateLimitPolicy,

    /// How often the users file is re-read: an edit (or an updated Secret) takes effect without
    /// a restart; a file that no longer validates is logged and the last good one stays.
    #[arg(long, env = "ISSUER_USERS_RELOAD_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub users_reload_interval: Duration,

    /// Require a server nonce in every DPoP proof at the token endpoint (RFC 9449 §8): a
    /// client's first proof is answered `use_dpop_nonce` with a `DPoP-Nonce` header, so proofs
    /// cannot be made ahead of time. Costs clients one round trip per nonce (5 minutes).
    #[arg(long, env = "ISSUER_DPOP_NONCE", default_value_t = false)]
    pub dpop_nonce: bool,

    /// Redis URL for login limits and refresh tokens shared by all replicas; unset = in process
    /// (refresh tokens then die with the process: fine for one replica in development). May
    /// carry a password, so `--help` never shows its value.
    #[arg(long, env = "ISSUER_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// A file holding the Redis URL (the `*_FILE` convention of Docker and Kubernetes secrets);
    /// instead of `ISSUER_REDIS_URL`, never with it.
    #[arg(long, env = "ISSUER_REDIS_URL_FILE")]
    pub redis_url_file: Option<PathBuf>,

    /// TLS to Redis: the CA to trust and a client certificate.
    #[command(flatten)]
    pub redis_tls: RedisTlsArgs,

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

    /// argon2id memory per password hash, KiB; at least OWASP's 19456. Raising it (or the
    /// iterations) re-hashes each identity-store user's password at their next login.
    #[arg(long, env = "ISSUER_PASSWORD_HASH_MEMORY_KIB", default_value_t = HashParams::OWASP_MINIMUM.memory_kib)]
    pub password_hash_memory_kib: u32,

    /// argon2id passes per password hash; at least OWASP's 2.
    #[arg(long, env = "ISSUER_PASSWORD_HASH_ITERATIONS", default_value_t = HashParams::OWASP_MINIMUM.iterations)]
    pub password_hash_iterations: u32,

    /// Client-secret hashes computed at once: a budget of its own, so a flood of password
    /// logins cannot starve client authentication (client credentials, introspection).
    #[arg(long, env = "ISSUER_CLIENT_SECRET_CONCURRENCY", default_value_t = 2)]
    pub client_secret_concurrency: usize,

    /// `max-age` of the JWKS response: how long verifiers may cache the key set.
    #[arg(long, env = "ISSUER_JWKS_MAX_AGE", default_value = "5m", value_parser = humantime::parse_duration)]
    pub jwks_max_age: Duration,

    /// Timeout of each Redis call.
    #[arg(long, env = "ISSUER_REDIS_TIMEOUT", default_value = DEFAULT_CALL_TIMEOUT, value_parser = humantime::parse_duration)]
    pub redis_timeout: Duration,

    /// Longest wait for Redis at start-up; an unreachable Redis then fails the start.
    #[arg(long, env = "ISSUER_REDIS_CONNECT_TIMEOUT", default_value = DEFAULT_CONNECT_TIMEOUT, value_parser = humantime::parse_duration)]
    pub redis_connect_timeout: Duration,

    /// Consecutive Redis failures that open the login limits' circuit breaker (the in-process
    /// fallback then decides).
    #[arg(long, env = "ISSUER_REDIS_BREAKER_THRESHOLD", default_value_t = DEFAULT_BREAKER_THRESHOLD)]
    pub redis_breaker_threshold: u32,

    /// How long an open breaker fails fast before probing Redis again.
    #[arg(long, env = "ISSUER_REDIS_BREAKER_COOLDOWN", default_value = DEFAULT_BREAKER_COOLDOWN, value_parser = humantime::parse_duration)]
    pub redis_breaker_cooldown: Duration,

    /// Browser sessions and device login.
    #[command(flatten)]
    pub login: crate::login_settings::LoginArgs,

    /// Transport limits and shutdown.
    #[command(flatten)]
    pub transport: TransportArgs,
}

/// Why the configuration was refused at start-up (shared with the data API).
pub use portcullis_http::config_error::ConfigError;

impl Args {
    /// The defaults alone, reading no environment variable: what tests start from, so a
    /// variable left in a developer's shell cannot change them.
    pub fn defaults() -> Self {
        portcullis_http::config_source::defaults()
    }

    /// The environment and the defaults (no command line), for embedding the service: the
    /// all-in-one launcher, which promises that the issuer's variables apply.
    pub fn from_env() -> Result<Self, clap::Error> {
        portcullis_http::config_source::from_env()
    }
}
