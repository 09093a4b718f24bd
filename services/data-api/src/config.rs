//! The data API's settings: every one a flag and an environment variable.

use clap::Args;
use portcullis_domain::ratelimit::{RateLimitPolicy, Window};
use portcullis_domain::usecase::items::{
    DEFAULT_MAX_BYTES_PER_OWNER, DEFAULT_MAX_ITEMS_PER_OWNER, DEFAULT_PAGE_MAX_BYTES,
};
use portcullis_http::client_ip::TrustedProxies;
use portcullis_http::config_error::ConfigError;
use portcullis_http::ratelimit::{FailureMode, LimitRule};
use std::net::SocketAddr;
use std::time::Duration;

portcullis_http::transport_args!("DATA_API");

/// Bytes in a MiB, for the settings given in MiB.
pub const MIB: u64 = 1024 * 1024;

/// Settings of `data-api`.
#[derive(Args, Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "DATA_API_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,

    /// Issuer base URL: discovery and JWKS are fetched from it, and `iss` must equal it.
    #[arg(long, env = "DATA_API_ISSUER", default_value = "http://127.0.0.1:8080")]
    pub issuer: String,

    /// The `aud` every token must contain.
    #[arg(long, env = "DATA_API_AUDIENCE", default_value = "data-api")]
    pub audience: String,

    /// Redis URL for the shared rate limiter and cache; unset = in-process adapters. May carry
    /// a password, so `--help` never shows its value.
    #[arg(long, env = "DATA_API_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Per-subject rate-limit windows, e.g. `100/s,3000/min`.
    #[arg(long, env = "DATA_API_RATE_LIMIT", default_value = "100/s,3000/min")]
    pub rate_limit: RateLimitPolicy,

    /// Separate per-subject windows for writes (PUT, DELETE); unset = writes share the read policy.
    #[arg(long, env = "DATA_API_WRITE_RATE_LIMIT")]
    pub write_rate_limit: Option<RateLimitPolicy>,

    /// Per-client-IP windows checked before token verification (flood protection). Behind a
    /// load balancer, set DATA_API_TRUSTED_PROXIES or every client shares the balancer's address.
    #[arg(
        long,
        env = "DATA_API_IP_RATE_LIMIT",
        default_value = "500/s,20000/min"
    )]
    pub ip_rate_limit: RateLimitPolicy,

    /// Evaluate and count limits but never reject (for rolling out a new policy).
    #[arg(long, env = "DATA_API_RATE_LIMIT_SHADOW", default_value_t = false)]
    pub rate_limit_shadow: bool,

    /// Proxies whose X-Forwarded-For is believed: comma-separated addresses or CIDR networks.
    #[arg(long, env = "DATA_API_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: TrustedProxies,

    /// Consecutive Redis failures that open the circuit breaker.
    #[arg(long, env = "DATA_API_REDIS_BREAKER_THRESHOLD", default_value_t = 5)]
    pub redis_breaker_threshold: u32,

    /// How long an open breaker fails fast before probing Redis again.
    #[arg(long, env = "DATA_API_REDIS_BREAKER_COOLDOWN", default_value = "2s", value_parser = humantime::parse_duration)]
    pub redis_breaker_cooldown: Duration,

    /// When Redis fails: `local` (each replica enforces its share), `open` or `closed`.
    #[arg(long, env = "DATA_API_RATE_LIMIT_FAILURE", default_value = "local")]
    pub rate_limit_failure: FailureMode,

    /// Replicas sharing the limit; in `local` mode each enforces `limit / replicas`.
    #[arg(long, env = "DATA_API_REPLICAS", default_value_t = 1)]
    pub replicas: u32,

    /// Item store: `sqlite://PATH` (created if missing; one replica) or `postgres://...`
    /// (shared by replicas). Migrations run at start-up. May carry a password, so `--help`
    /// never shows its value.
    #[arg(
        long,
        env = "DATA_API_DATABASE_URL",
        default_value = "sqlite://data-api.db",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Connections in the PostgreSQL pool of each replica.
    #[arg(long, env = "DATA_API_DATABASE_MAX_CONNECTIONS", default_value_t = 10)]
    pub database_max_connections: u32,

    /// Longest a request waits for a database connection: while the database is down, requests
    /// that need it get a 503 problem after this rather than hanging.
    #[arg(long, env = "DATA_API_DATABASE_TIMEOUT", default_value = "1s", value_parser = humantime::parse_duration)]
    pub database_timeout: Duration,

    /// How long a read item stays cached.
    #[arg(long, env = "DATA_API_CACHE_TTL", default_value = "60s", value_parser = humantime::parse_duration)]
    pub cache_ttl: Duration,

    /// How long "not found" stays cached.
    #[arg(long, env = "DATA_API_CACHE_NEGATIVE_TTL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub cache_negative_ttl: Duration,

    /// After an item's cache freshness ends, how long the stale copy is still served while
    /// one background refresh runs.
    #[arg(long, env = "DATA_API_CACHE_STALE_WHILE_REVALIDATE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub cache_stale_while_revalidate: Duration,

    /// After an item's cache freshness ends, how long the stale copy is served when the store
    /// fails.
    #[arg(long, env = "DATA_API_CACHE_STALE_IF_ERROR", default_value = "5m", value_parser = humantime::parse_duration)]
    pub cache_stale_if_error: Duration,

    /// Most items one owner may keep; more writes are refused with a 403 problem.
    #[arg(long, env = "DATA_API_MAX_ITEMS_PER_OWNER", default_value_t = DEFAULT_MAX_ITEMS_PER_OWNER)]
    pub max_items_per_owner: u64,

    /// Most bytes of item data one owner may keep, in MiB; more writes are refused with a 403
    /// problem.
    #[arg(long, env = "DATA_API_MAX_MIB_PER_OWNER", default_value_t = DEFAULT_MAX_BYTES_PER_OWNER / MIB)]
    pub max_mib_per_owner: u64,

    /// Bytes of item data after which a list page ends (it always holds one item at least).
    #[arg(long, env = "DATA_API_PAGE_MAX_BYTES", default_value_t = DEFAULT_PAGE_MAX_BYTES)]
    pub page_max_bytes: usize,

    /// Memory for request and response bodies in flight, in MiB: requests that carry or return
    /// documents reserve their share first, and get a 503 problem when none frees up in time.
    #[arg(long, env = "DATA_API_BODY_MEMORY_MIB", default_value_t = 96)]
    pub body_memory_mib: u64,

    /// Memory bound of the in-process cache, in MiB.
    #[arg(long, env = "DATA_API_CACHE_MAX_MIB", default_value_t = 64)]
    pub cache_max_mib: u64,

    /// Timeout of each Redis call.
    #[arg(long, env = "DATA_API_REDIS_TIMEOUT", default_value = "100ms", value_parser = humantime::parse_duration)]
    pub redis_timeout: Duration,

    /// Clock skew tolerated on token times (at most 60s).
    #[arg(long, env = "DATA_API_TOKEN_LEEWAY", default_value = "30s", value_parser = humantime::parse_duration)]
    pub token_leeway: Duration,

    /// How often the issuer's key set is refreshed.
    #[arg(long, env = "DATA_API_JWKS_REFRESH_INTERVAL", default_value = "5m", value_parser = humantime::parse_duration)]
    pub jwks_refresh_interval: Duration,

    /// Shortest time between scheduled key-set refreshes, whatever the JWKS `max-age` says.
    #[arg(long, env = "DATA_API_JWKS_MIN_REFRESH_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub jwks_min_refresh_interval: Duration,

    /// Verified tokens remembered, so a token is verified once per lifetime; 0 disables.
    #[arg(long, env = "DATA_API_TOKEN_CACHE_CAPACITY", default_value_t = 100_000)]
    pub token_cache_capacity: u64,

    /// Least time between refetches caused by unknown key ids.
    #[arg(long, env = "DATA_API_JWKS_UNKNOWN_KID_COOLDOWN", default_value = "30s", value_parser = humantime::parse_duration)]
    pub jwks_unknown_kid_cooldown: Duration,

    /// How long the last good key set is used while the issuer is unreachable.
    #[arg(long, env = "DATA_API_JWKS_MAX_STALENESS", default_value = "6h", value_parser = humantime::parse_duration)]
    pub jwks_max_staleness: Duration,

    /// Transport limits and shutdown.
    #[command(flatten)]
    pub transport: TransportArgs,
}

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
        if self.issuer.ends_with('/') || !self.issuer.starts_with("http") {
            return Err(ConfigError::invalid(
                "DATA_API_ISSUER",
                "must be an http(s) URL without a trailing slash",
            ));
        }
        if self.audience.is_empty() {
            return Err(ConfigError::invalid(
                "DATA_API_AUDIENCE",
                "must not be empty",
            ));
        }
        if self.token_leeway > Duration::from_secs(60) {
            return Err(ConfigError::invalid(
                "DATA_API_TOKEN_LEEWAY",
                "must be at most 60s",
            ));
        }
        if self.jwks_min_refresh_interval < Duration::from_secs(1) {
            return Err(ConfigError::invalid(
                "DATA_API_JWKS_MIN_REFRESH_INTERVAL",
                "must be at least 1s",
            ));
        }
        if self.page_max_bytes == 0 {
            return Err(ConfigError::invalid(
                "DATA_API_PAGE_MAX_BYTES",
                "must be at least 1",
            ));
        }
        if !(1..=4095).contains(&self.body_memory_mib) {
            return Err(ConfigError::invalid(
                "DATA_API_BODY_MEMORY_MIB",
                "must be 1 to 4095",
            ));
        }
        let largest = crate::items::largest_reservation(self.page_max_bytes) as u64;
        if self.body_memory_mib * MIB < largest {
            return Err(ConfigError::invalid(
                "DATA_API_BODY_MEMORY_MIB",
                format!(
                    "must hold the largest request: at least {} MiB with DATA_API_PAGE_MAX_BYTES={}",
                    largest.div_ceil(MIB),
                    self.page_max_bytes
                ),
            ));
        }
        if self.replicas == 0 {
            return Err(ConfigError::invalid(
                "DATA_API_REPLICAS",
                "must be at least 1",
            ));
        }
        self.transport.settings()?;
        Ok(())
    }

    /// A policy and one replica's share of it, for the local fallback (never below 1).
    pub fn rule(&self, policy: &RateLimitPolicy) -> LimitRule {
        let windows = policy
            .windows()
            .iter()
            .map(|w| Window {
                limit: w.limit.div_ceil(u64::from(self.replicas)).max(1),
                period: w.period,
            })
            .collect();
        LimitRule {
            local_share: RateLimitPolicy::new(windows).unwrap_or_else(|_| policy.clone()),
            policy: policy.clone(),
        }
    }
}
