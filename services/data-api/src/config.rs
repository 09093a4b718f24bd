//! The data API's settings: every one a flag and an environment variable.
//!
//! [`Args`] is what the command line and the environment say, as clap reads it; [`Settings`]
//! (built from it by `TryFrom`, see `settings.rs`) is what the service runs with, every rule
//! checked once. A default is written once: in the attribute below, or as a constant where a
//! `Default` impl (the cache policy, the token verifier, the transport) or another binary needs
//! it too.

mod database;
mod settings;

use portcullis_domain::ratelimit::RateLimitPolicy;
use portcullis_domain::usecase::items::{
    DEFAULT_CACHE_LEASE_WAIT, DEFAULT_CACHE_NEGATIVE_TTL, DEFAULT_CACHE_STALE_IF_ERROR,
    DEFAULT_CACHE_STALE_WHILE_REVALIDATE, DEFAULT_CACHE_TTL, DEFAULT_MAX_BYTES_PER_OWNER,
    DEFAULT_MAX_ITEMS_PER_OWNER, DEFAULT_PAGE_MAX_BYTES,
};
use portcullis_http::client_ip::TrustedProxies;
use portcullis_http::ratelimit::FailureMode;
use portcullis_http::resilience::{DEFAULT_BREAKER_COOLDOWN, DEFAULT_BREAKER_THRESHOLD};
use portcullis_jwt::verifier::defaults as verifier;
use portcullis_redis::{DEFAULT_CALL_TIMEOUT, DEFAULT_CONNECT_TIMEOUT};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use database::Database;
pub use portcullis_http::config_error::ConfigError;
pub(crate) use settings::plain_http_elsewhere;
pub use settings::Settings;

portcullis_http::transport_args!("DATA_API");
portcullis_http::redis_tls_args!("DATA_API");

/// Default `DATA_API_LISTEN`; also the health check's and `portcullis dev`'s default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";
/// Default `DATA_API_ISSUER`: the issuer's own default `ISSUER_URL` (the data API does not
/// depend on the issuer's crate to read it; a test of the launcher checks they agree).
pub const DEFAULT_ISSUER: &str = "http://127.0.0.1:8080";

/// Default `DATA_API_DATABASE_URL`: SQLite beside the binary, for one replica.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data-api.db";

/// Default `DATA_API_CACHE_TIER_WINDOW`: short enough that a write waits little, long enough
/// that a loaded Redis still returns heartbeats in time (they go out every fifth of it).
pub const DEFAULT_CACHE_TIER_WINDOW: &str = "25ms";

/// Bytes in a MiB, for the settings given in MiB.
pub const MIB: u64 = 1024 * 1024;

/// The command line and environment of `data-api serve`, before any rule is checked.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "DATA_API_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Issuer base URL: discovery and JWKS are fetched from it, and `iss` must equal it.
    #[arg(long, env = "DATA_API_ISSUER", default_value = DEFAULT_ISSUER)]
    pub issuer: String,

    /// Trust an issuer reached over plain http on another host than this one. The signing keys
    /// are fetched from the issuer, so whoever can spoof that traffic (in-cluster DNS, a
    /// compromised proxy) could mint tokens for every user; only for development, and logged as
    /// a warning at start. Loopback issuers (127.0.0.0/8, ::1, localhost) need no exception.
    #[arg(long, env = "DATA_API_ALLOW_INSECURE_ISSUER", default_value_t = false)]
    pub allow_insecure_issuer: bool,

    /// PEM bundle of certificate authorities trusted for an https issuer besides the system's
    /// roots (a cluster's private CA); unset = the system's roots only.
    #[arg(long, env = "DATA_API_ISSUER_CA")]
    pub issuer_ca: Option<std::path::PathBuf>,

    /// The data API's public base URL as clients call it (scheme, host, port, and a path prefix
    /// a proxy strips, without a trailing slash): DPoP proofs must name it plus the request's
    /// path as `htu`, and it is the `resource` of the RFC 9728 metadata. Unset = `http://` (or
    /// `https://` with TLS) plus the bound listen address, which is only right when clients
    /// connect to that address directly.
    #[arg(long, env = "DATA_API_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Refuse bearer tokens: only DPoP-bound tokens with a proof are accepted, and the metadata
    /// says `dpop_bound_access_tokens_required`.
    #[arg(long, env = "DATA_API_DPOP_REQUIRED", default_value_t = false)]
    pub dpop_required: bool,

    /// Key the per-caller rate limit of DPoP requests on the proof key's thumbprint instead of
    /// the subject (bearer requests stay keyed on the subject).
    #[arg(long, env = "DATA_API_RATE_LIMIT_BY_DPOP_KEY", default_value_t = false)]
    pub rate_limit_by_dpop_key: bool,

    /// The `aud` every token must contain.
    #[arg(long, env = "DATA_API_AUDIENCE", default_value = "data-api")]
    pub audience: String,

    /// Redis URL for the shared rate limiter and cache; unset = in-process adapters. May carry
    /// a password, so `--help` never shows its value.
    #[arg(long, env = "DATA_API_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// A file holding the Redis URL (the `*_FILE` convention of Docker and Kubernetes secrets);
    /// instead of `DATA_API_REDIS_URL`, never with it.
    #[arg(long, env = "DATA_API_REDIS_URL_FILE")]
    pub redis_url_file: Option<PathBuf>,

    /// TLS to Redis: the CA to trust and a client certificate.
    #[command(flatten)]
    pub redis_tls: RedisTlsArgs,

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
    #[arg(long, env = "DATA_API_REDIS_BREAKER_THRESHOLD", default_value_t = DEFAULT_BREAKER_THRESHOLD)]
    pub redis_breaker_threshold: u32,

    /// How long an open breaker fails fast before probing Redis again.
    #[arg(long, env = "DATA_API_REDIS_BREAKER_COOLDOWN", default_value = DEFAULT_BREAKER_COOLDOWN, value_parser = humantime::parse_duration)]
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
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true
    )]
    pub database_url: String,

    /// A file holding the database URL (the `*_FILE` convention of Docker and Kubernetes secrets);
    /// instead of `DATA_API_DATABASE_URL`, never with it.
    #[arg(long, env = "DATA_API_DATABASE_URL_FILE")]
    pub database_url_file: Option<PathBuf>,

    /// PEM bundle of the certificate authority that signed PostgreSQL's certificate: the
    /// connection is then `sslmode=verify-full` (TLS required, the certificate must verify and
    /// name the URL's host). Unset = as the URL says (`?sslmode=verify-full&sslrootcert=PATH`
    /// works too). Needs a postgres:// URL.
    #[arg(long, env = "DATA_API_DATABASE_CA")]
    pub database_ca: Option<PathBuf>,

    /// Connections in the PostgreSQL pool of each replica.
    #[arg(long, env = "DATA_API_DATABASE_MAX_CONNECTIONS", default_value_t = 10)]
    pub database_max_connections: u32,

    /// Longest a request waits for a database connection: while the database is down, requests
    /// that need it get a 503 problem after this rather than hanging.
    #[arg(long, env = "DATA_API_DATABASE_TIMEOUT", default_value = "1s", value_parser = humantime::parse_duration)]
    pub database_timeout: Duration,

    /// How long a read item stays cached.
    #[arg(long, env = "DATA_API_CACHE_TTL", default_value = DEFAULT_CACHE_TTL, value_parser = humantime::parse_duration)]
    pub cache_ttl: Duration,

    /// How long "not found" stays cached.
    #[arg(long, env = "DATA_API_CACHE_NEGATIVE_TTL", default_value = DEFAULT_CACHE_NEGATIVE_TTL, value_parser = humantime::parse_duration)]
    pub cache_negative_ttl: Duration,

    /// After an item's cache freshness ends, how long the stale copy is still served while
    /// one background refresh runs.
    #[arg(long, env = "DATA_API_CACHE_STALE_WHILE_REVALIDATE", default_value = DEFAULT_CACHE_STALE_WHILE_REVALIDATE, value_parser = humantime::parse_duration)]
    pub cache_stale_while_revalidate: Duration,

    /// After an item's cache freshness ends, how long the stale copy is served when the store
    /// fails.
    #[arg(long, env = "DATA_API_CACHE_STALE_IF_ERROR", default_value = DEFAULT_CACHE_STALE_IF_ERROR, value_parser = humantime::parse_duration)]
    pub cache_stale_if_error: Duration,

    /// How long a replica that missed waits for another replica's load of the same item (the
    /// stampede lease) before loading it itself: longer spares the store more under a burst,
    /// shorter bounds a reader's wait when the loading replica is slow. At most 2s, the lease's
    /// own lifetime.
    #[arg(long, env = "DATA_API_CACHE_LEASE_WAIT", default_value = DEFAULT_CACHE_LEASE_WAIT, value_parser = humantime::parse_duration)]
    pub cache_lease_wait: Duration,

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

    /// With Redis: the coherence window of each replica's memory tier in front of the Redis
    /// cache. Hot items are served from memory only while Redis has proved, within this window,
    /// that no write was missed, and every write waits this long before it is acknowledged; 0s
    /// turns the tier off.
    #[arg(long, env = "DATA_API_CACHE_TIER_WINDOW", default_value = DEFAULT_CACHE_TIER_WINDOW, value_parser = humantime::parse_duration)]
    pub cache_tier_window: Duration,

    /// With Redis: memory bound of that tier, in MiB.
    #[arg(long, env = "DATA_API_CACHE_TIER_MIB", default_value_t = 64)]
    pub cache_tier_mib: u64,

    /// With Redis: the share of the smallest per-subject limit a replica leases from Redis at
    /// once and spends locally (0 to 0.5; leases shrink near the limit). Admitted requests
    /// never exceed the policy; 0 asks Redis for every request.
    #[arg(long, env = "DATA_API_RATE_LIMIT_LEASE", default_value_t = portcullis_ratelimit::DEFAULT_LEASE_FRACTION)]
    pub rate_limit_lease: f64,

    /// Timeout of each Redis call.
    #[arg(long, env = "DATA_API_REDIS_TIMEOUT", default_value = DEFAULT_CALL_TIMEOUT, value_parser = humantime::parse_duration)]
    pub redis_timeout: Duration,

    /// Longest wait for Redis at start-up; an unreachable Redis then fails the start.
    #[arg(long, env = "DATA_API_REDIS_CONNECT_TIMEOUT", default_value = DEFAULT_CONNECT_TIMEOUT, value_parser = humantime::parse_duration)]
    pub redis_connect_timeout: Duration,

    /// Clock skew tolerated on token times (at most 60s).
    #[arg(long, env = "DATA_API_TOKEN_LEEWAY", default_value = verifier::LEEWAY, value_parser = humantime::parse_duration)]
    pub token_leeway: Duration,

    /// How often the issuer's key set is refreshed.
    #[arg(long, env = "DATA_API_JWKS_REFRESH_INTERVAL", default_value = verifier::REFRESH_INTERVAL, value_parser = humantime::parse_duration)]
    pub jwks_refresh_interval: Duration,

    /// Shortest time between scheduled key-set refreshes, whatever the JWKS `max-age` says.
    #[arg(long, env = "DATA_API_JWKS_MIN_REFRESH_INTERVAL", default_value = verifier::MIN_REFRESH_INTERVAL, value_parser = humantime::parse_duration)]
    pub jwks_min_refresh_interval: Duration,

    /// Verified tokens remembered, so a token is verified once per lifetime; 0 disables.
    #[arg(long, env = "DATA_API_TOKEN_CACHE_CAPACITY", default_value_t = verifier::TOKEN_CACHE_CAPACITY)]
    pub token_cache_capacity: u64,

    /// Least time between refetches caused by unknown key ids.
    #[arg(long, env = "DATA_API_JWKS_UNKNOWN_KID_COOLDOWN", default_value = verifier::UNKNOWN_KID_COOLDOWN, value_parser = humantime::parse_duration)]
    pub jwks_unknown_kid_cooldown: Duration,

    /// How long the last good key set is used while the issuer is unreachable.
    #[arg(long, env = "DATA_API_JWKS_MAX_STALENESS", default_value = verifier::MAX_STALENESS, value_parser = humantime::parse_duration)]
    pub jwks_max_staleness: Duration,

    /// Transport limits and shutdown.
    #[command(flatten)]
    pub transport: TransportArgs,
}

impl Args {
    /// The defaults alone, reading no environment variable: what tests start from, so a
    /// variable left in a developer's shell cannot change them.
    pub fn defaults() -> Self {
        portcullis_http::config_source::defaults()
    }

    /// The environment and the defaults (no command line), for embedding the service: the
    /// all-in-one launcher, which promises that the data API's variables apply.
    pub fn from_env() -> Result<Self, clap::Error> {
        portcullis_http::config_source::from_env()
    }
}
