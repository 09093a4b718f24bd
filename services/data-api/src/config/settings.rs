//! What the data API runs with: [`Args`] with every rule checked once and every derived value
//! (a replica's share of a limit, bytes from MiB, the cache and verifier policies) computed
//! once, so [`crate::build`] only wires adapters.

use super::database::{database, Database};
use super::{Args, ConfigError};
use crate::config::MIB;
use portcullis_cache::TierSettings;
use portcullis_domain::ratelimit::{RateLimitPolicy, Window};
use portcullis_domain::store::Quota;
use portcullis_domain::usecase::items::{CachePolicy, ItemLimits};
use portcullis_http::client_ip::TrustedProxies;
use portcullis_http::config_error::secret_or_file;
use portcullis_http::ratelimit::{FailureMode, LimitRule};
use portcullis_http::resilience::BreakerSettings;
use portcullis_http::transport::TransportSettings;
use portcullis_jwt::verifier::CaBundle;
use portcullis_jwt::VerifierConfig;
use portcullis_redis::RedisSettings;
use std::net::SocketAddr;
use std::time::Duration;

/// The data API's validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// How tokens are verified: issuer, audience, leeway and the key-set schedule.
    pub verifier: VerifierConfig,
    /// The public base URL (`DATA_API_PUBLIC_URL`); `None` = derived from the bound address.
    pub public_url: Option<String>,
    /// Refuse bearer tokens, accept DPoP-bound ones only.
    pub dpop_required: bool,
    /// Key the per-caller limit of DPoP requests on the proof key.
    pub rate_limit_by_dpop_key: bool,
    /// Redis for the shared limiter and cache; `None` = in-process adapters.
    pub redis: Option<RedisSettings>,
    /// The breakers around the limiter and the cache on Redis.
    pub redis_breaker: BreakerSettings,
    /// Per-subject limits, with one replica's share for the local fallback.
    pub rate_limit: LimitRule,
    /// Separate per-subject limits for writes; `None` = writes share `rate_limit`.
    pub write_rate_limit: Option<LimitRule>,
    /// Per-client-IP limits, enforced per replica in process: policy and share are both one
    /// replica's share.
    pub ip_rate_limit: LimitRule,
    /// What the subject limits do when Redis fails.
    pub rate_limit_failure: FailureMode,
    /// Evaluate and count limits, never reject.
    pub rate_limit_shadow: bool,
    /// Proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: TrustedProxies,
    /// The item store.
    pub database: Database,
    /// Cache lifetimes.
    pub cache: CachePolicy,
    /// Memory bound of the in-process cache, in bytes.
    pub cache_max_bytes: u64,
    /// The memory tier in front of the Redis cache; `None` = off (or no Redis).
    pub cache_tier: Option<TierSettings>,
    /// Share of the smallest subject limit leased at once; 0 = a Redis call per request.
    pub rate_limit_lease: f64,
    /// Per-owner quotas and the list page budget.
    pub limits: ItemLimits,
    /// Memory for request and response bodies in flight, in bytes.
    pub body_memory_bytes: u64,
    /// Transport limits and shutdown.
    pub transport: TransportSettings,
}

/// `policy` and one replica's share of it, for the local fallback (never below 1).
fn rule(policy: RateLimitPolicy, replicas: u32) -> LimitRule {
    let windows = policy
        .windows()
        .iter()
        .map(|w| Window {
            limit: w.limit.div_ceil(u64::from(replicas)).max(1),
            period: w.period,
        })
        .collect();
    LimitRule {
        local_share: RateLimitPolicy::new(windows).unwrap_or_else(|_| policy.clone()),
        policy,
    }
}

/// Whether `issuer` is plain http to a host other than this one: keys fetched that way can be
/// replaced by anyone who can spoof the traffic.
pub(crate) fn plain_http_elsewhere(issuer: &str) -> bool {
    let Some(rest) = issuer.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !loopback
}

/// An absolute http(s) URL without trailing slash, query, fragment or user info: proofs'
/// `htu` are compared with it plus a path, and it appears inside `WWW-Authenticate`.
fn check_public_url(url: &str) -> Result<(), ConfigError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let fine = rest.is_some_and(|rest| {
        let authority = rest.split('/').next().unwrap_or_default();
        !authority.is_empty()
            && !rest.ends_with('/')
            && !rest.contains(['?', '#', '@', '"', '\\'])
            && rest.bytes().all(|b| b.is_ascii_graphic())
    });
    if fine {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            "DATA_API_PUBLIC_URL",
            "must be an http(s) URL without a trailing slash, query or user info",
        ))
    }
}

/// The rules clap cannot express, in the order operators have always seen them.
fn check(args: &Args) -> Result<(), ConfigError> {
    if args.issuer.ends_with('/') || !args.issuer.starts_with("http") {
        return Err(ConfigError::invalid(
            "DATA_API_ISSUER",
            "must be an http(s) URL without a trailing slash",
        ));
    }
    if plain_http_elsewhere(&args.issuer) && !args.allow_insecure_issuer {
        return Err(ConfigError::invalid(
            "DATA_API_ISSUER",
            "must be https (plain http only for a loopback issuer, or with DATA_API_ALLOW_INSECURE_ISSUER=true)",
        ));
    }
    if let Some(url) = &args.public_url {
        check_public_url(url)?;
    }
    if args.audience.is_empty() {
        return Err(ConfigError::invalid(
            "DATA_API_AUDIENCE",
            "must not be empty",
        ));
    }
    if args.cache_lease_wait > CachePolicy::default().lease_ttl {
        return Err(ConfigError::invalid(
            "DATA_API_CACHE_LEASE_WAIT",
            "must be at most 2s (the lease's lifetime)",
        ));
    }
    if args.token_leeway > Duration::from_secs(60) {
        return Err(ConfigError::invalid(
            "DATA_API_TOKEN_LEEWAY",
            "must be at most 60s",
        ));
    }
    if args.jwks_min_refresh_interval < Duration::from_secs(1) {
        return Err(ConfigError::invalid(
            "DATA_API_JWKS_MIN_REFRESH_INTERVAL",
            "must be at least 1s",
        ));
    }
    if args.page_max_bytes == 0 {
        return Err(ConfigError::invalid(
            "DATA_API_PAGE_MAX_BYTES",
            "must be at least 1",
        ));
    }
    if !(1..=4095).contains(&args.body_memory_mib) {
        return Err(ConfigError::invalid(
            "DATA_API_BODY_MEMORY_MIB",
            "must be 1 to 4095",
        ));
    }
    let largest = crate::items::largest_reservation(args.page_max_bytes) as u64;
    if args.body_memory_mib * MIB < largest {
        return Err(ConfigError::invalid(
            "DATA_API_BODY_MEMORY_MIB",
            format!(
                "must hold the largest request: at least {} MiB with DATA_API_PAGE_MAX_BYTES={}",
                largest.div_ceil(MIB),
                args.page_max_bytes
            ),
        ));
    }
    if args.replicas == 0 {
        return Err(ConfigError::invalid(
            "DATA_API_REPLICAS",
            "must be at least 1",
        ));
    }
    Ok(())
}

/// The extra certificate authorities of `DATA_API_ISSUER_CA`, checked at start so a wrong file
/// is one clear line, not a readiness that never comes.
fn issuer_ca(path: &std::path::Path) -> Result<CaBundle, ConfigError> {
    const SETTING: &str = "DATA_API_ISSUER_CA";
    let pem = std::fs::read(path).map_err(|source| ConfigError::Unreadable {
        setting: SETTING,
        source,
    })?;
    CaBundle::from_pem(&pem).map_err(|error| {
        let cause = std::error::Error::source(&error).map(|c| format!(": {c}"));
        ConfigError::invalid(SETTING, format!("{error}{}", cause.unwrap_or_default()))
    })
}

impl TryFrom<Args> for Settings {
    type Error = ConfigError;

    fn try_from(args: Args) -> Result<Self, ConfigError> {
        check(&args)?;
        let transport = args.transport.settings()?;
        let issuer_ca = args.issuer_ca.as_deref().map(issuer_ca).transpose()?;
        let database = database(&args)?;
        let replicas = args.replicas;
        let ip_share = rule(args.ip_rate_limit, replicas).local_share;
        let redis_url = secret_or_file(
            args.redis_url,
            args.redis_url_file.as_deref(),
            "DATA_API_REDIS_URL",
            "DATA_API_REDIS_URL_FILE",
        )?;
        let redis_tls = args.redis_tls.settings(redis_url.as_deref())?;
        let redis_sentinel = args.redis_tls.sentinel(redis_url.as_deref())?;
        let rate_limit_lease = args.rate_limit_lease;
        if !(0.0..=0.5).contains(&rate_limit_lease) {
            return Err(ConfigError::invalid(
                "DATA_API_RATE_LIMIT_LEASE",
                "must be a share from 0 to 0.5",
            ));
        }
        Ok(Self {
            listen: args.listen,
            verifier: VerifierConfig {
                leeway: args.token_leeway,
                refresh_interval: args.jwks_refresh_interval,
                min_refresh_interval: args.jwks_min_refresh_interval,
                token_cache_capacity: args.token_cache_capacity,
                unknown_kid_cooldown: args.jwks_unknown_kid_cooldown,
                max_staleness: args.jwks_max_staleness,
                issuer_ca,
                ..VerifierConfig::new(args.issuer, args.audience)
            },
            public_url: args.public_url,
            dpop_required: args.dpop_required,
            rate_limit_by_dpop_key: args.rate_limit_by_dpop_key,
            redis: redis_url.map(|url| RedisSettings {
                url,
                tls: redis_tls,
                sentinel: redis_sentinel,
                prefix: "DATA_API",
                connect_timeout: args.redis_connect_timeout,
                call_timeout: args.redis_timeout,
            }),
            redis_breaker: BreakerSettings {
                threshold: args.redis_breaker_threshold,
                cooldown: args.redis_breaker_cooldown,
            },
            rate_limit: rule(args.rate_limit, replicas),
            write_rate_limit: args.write_rate_limit.map(|p| rule(p, replicas)),
            ip_rate_limit: LimitRule {
                policy: ip_share.clone(),
                local_share: ip_share,
            },
            rate_limit_failure: args.rate_limit_failure,
            rate_limit_shadow: args.rate_limit_shadow,
            trusted_proxies: args.trusted_proxies,
            database,
            cache: CachePolicy {
                ttl: args.cache_ttl,
                negative_ttl: args.cache_negative_ttl,
                stale_while_revalidate: args.cache_stale_while_revalidate,
                stale_if_error: args.cache_stale_if_error,
                lease_wait: args.cache_lease_wait,
                // Every replica's breaker has closed, and the writer has repaired, by then.
                recovery_grace: args.redis_breaker_cooldown * 2 + Duration::from_secs(1),
                ..CachePolicy::default()
            },
            cache_max_bytes: args.cache_max_mib * MIB,
            cache_tier: (!args.cache_tier_window.is_zero()).then(|| TierSettings {
                window: args.cache_tier_window,
                max_bytes: args.cache_tier_mib * MIB,
                // A copy lives no longer than its Redis entry, and never longer than this.
                max_age: args.cache_ttl.mul_f64(1.1)
                    + args
                        .cache_stale_while_revalidate
                        .max(args.cache_stale_if_error),
            }),
            rate_limit_lease,
            limits: ItemLimits {
                quota: Quota {
                    max_items: args.max_items_per_owner,
                    max_bytes: args.max_mib_per_owner.saturating_mul(MIB),
                },
                page_max_bytes: args.page_max_bytes,
            },
            body_memory_bytes: args.body_memory_mib * MIB,
            transport,
        })
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
