//! The Portcullis data API as a library: [`build`] wires the adapters and binds the listener
//! (port 0 allowed), [`App::run`] serves.

mod api_doc;
mod body_budget;
mod conditions;
pub mod config;
pub mod counting_store;
mod items;

use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::Router;
use body_budget::BodyBudget;
use counting_store::CountingStore;
use portcullis_cache::{LocalCache, RedisCache};
use portcullis_domain::cache::Cache;
use portcullis_domain::clock::SystemClock;
use portcullis_domain::ratelimit::RateLimiter;
use portcullis_domain::store::ItemStore;
use portcullis_domain::store::Quota;
use portcullis_domain::token::TokenRejection;
use portcullis_domain::token::TokenVerifier;
use portcullis_domain::usecase::items::{CachePolicy, CacheResult, ItemLimits, ItemService};
use portcullis_http::auth::{require_bearer, AuthState};
use portcullis_http::client_ip::resolve_client_ip;
use portcullis_http::config_error::ConfigError;
use portcullis_http::health::{DependencyState, Readiness};
use portcullis_http::metrics::Metrics;
use portcullis_http::ratelimit::{
    limit, KeySource, LimitRule, RateLimitSettings, RateLimitState, DECISIONS,
};
use portcullis_http::resilience::{Guard, GuardedCache, GuardedLimiter};
use portcullis_jwt::{JwksVerifier, VerifierConfig};
use portcullis_ratelimit::{LocalRateLimiter, RedisRateLimiter};
use portcullis_store::{PgItemStore, SqliteItemStore};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

pub use config::Config;
/// A built service, bound and ready to serve.
pub use portcullis_http::server::Service as App;

/// Why the data API could not start; each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The configuration breaks a rule.
    #[error("configuration")]
    Config(#[from] portcullis_http::config_error::ConfigError),
    /// The item store could not be opened.
    #[error("item store")]
    Store(#[from] portcullis_domain::store::StoreError),
    /// Redis could not be reached at start-up.
    #[error("redis")]
    Redis(#[source] portcullis_redis::ConnectError),
    /// The JWKS client could not be created.
    #[error("token verifier")]
    Verifier(#[from] portcullis_jwt::verifier::FetchError),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// State shared by the item handlers.
#[derive(Clone)]
pub(crate) struct DataState {
    pub items: Arc<ItemService>,
    pub metrics: Arc<Metrics>,
    pub body_budget: BodyBudget,
}

struct DataReadiness {
    verifier: Arc<dyn TokenVerifier>,
    limiter_guard: Guard,
    cache_guard: Guard,
    config: Config,
}

impl Readiness for DataReadiness {
    fn ready(&self) -> bool {
        // Redis outages are absorbed (fallback limits, cache bypass): only keys gate readiness.
        self.verifier.is_ready()
    }

    fn dependencies(&self) -> BTreeMap<&'static str, DependencyState> {
        let keys = self.verifier.is_ready();
        let redis = self.config.redis_url.is_some();
        let in_process = || "in-process".to_string();
        let limiter = format!(
            "redis, breaker {:?}; on failure: {}{}",
            self.limiter_guard.state(),
            self.config.rate_limit_failure.as_str(),
            if self.config.rate_limit_shadow {
                "; shadow mode"
            } else {
                ""
            }
        );
        let cache = format!(
            "redis, breaker {:?}; on failure: read the store directly",
            self.cache_guard.state()
        );
        BTreeMap::from([
            (
                "issuer_keys",
                DependencyState {
                    ok: keys,
                    detail: if keys {
                        "key set loaded"
                    } else {
                        "no key set loaded yet"
                    }
                    .into(),
                },
            ),
            (
                "rate_limiter",
                DependencyState {
                    ok: true,
                    detail: if redis { limiter } else { in_process() },
                },
            ),
            (
                "cache",
                DependencyState {
                    ok: true,
                    detail: if redis { cache } else { in_process() },
                },
            ),
        ])
    }
}

async fn open_store(config: &Config) -> Result<Arc<dyn ItemStore>, BuildError> {
    let url = &config.database_url;
    if url.starts_with("sqlite:") {
        return Ok(Arc::new(SqliteItemStore::connect(url).await?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PgItemStore::connect(
            url,
            config.database_max_connections,
            config.database_timeout,
        )
        .await?;
        return Ok(Arc::new(store));
    }
    Err(BuildError::Config(ConfigError::invalid(
        "DATA_API_DATABASE_URL",
        "must be sqlite://PATH or postgres://...",
    )))
}

/// Validates the configuration, opens the store, connects to Redis if configured, starts the
/// key-set loader and binds the listener.
pub async fn build(config: Config) -> Result<App, BuildError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| BuildError::Bind {
            addr: config.listen,
            source,
        })?;
    build_with_listener(config, listener).await
}

/// Like [`build`], on a listener the caller bound (to know the address before building).
pub async fn build_with_listener(config: Config, listener: TcpListener) -> Result<App, BuildError> {
    config.validate()?;
    let transport = config.transport.settings()?;
    let metrics = Arc::new(Metrics::new());
    Metrics::zero(&metrics.ratelimit_decisions, DECISIONS);
    Metrics::zero(
        &metrics.cache_requests,
        CacheResult::ALL.iter().map(CacheResult::as_str),
    );
    Metrics::zero(
        &metrics.auth_failures,
        TokenRejection::ALL.iter().map(TokenRejection::reason),
    );
    let store: Arc<dyn ItemStore> = Arc::new(CountingStore::new(
        open_store(&config).await?,
        metrics.store_queries.clone(),
    ));
    let local_limiter: Arc<dyn RateLimiter> = Arc::new(LocalRateLimiter::default());
    let guard = |name| {
        Guard::new(
            name,
            config.redis_breaker_threshold,
            config.redis_breaker_cooldown,
            metrics.clone(),
        )
    };
    let (limiter_guard, cache_guard) = (guard("redis_ratelimit"), guard("redis_cache"));
    let (limiter, cache): (Arc<dyn RateLimiter>, Arc<dyn Cache>) = match &config.redis_url {
        Some(url) => {
            let connection = portcullis_redis::connect(url, Duration::from_secs(5))
                .await
                .map_err(BuildError::Redis)?;
            let timeout = config.redis_timeout;
            let limiter = RedisRateLimiter::new(connection.clone(), "portcullis:data:rl:", timeout);
            let cache = RedisCache::new(connection, "portcullis:data:cache:", timeout);
            (
                Arc::new(GuardedLimiter::new(
                    Arc::new(limiter),
                    limiter_guard.clone(),
                )),
                Arc::new(GuardedCache::new(Arc::new(cache), cache_guard.clone())),
            )
        }
        None => (
            local_limiter.clone(),
            Arc::new(LocalCache::new(config.cache_max_mib * 1024 * 1024)),
        ),
    };
    let items = ItemService::new(
        store,
        cache,
        CachePolicy {
            ttl: config.cache_ttl,
            negative_ttl: config.cache_negative_ttl,
            stale_while_revalidate: config.cache_stale_while_revalidate,
            stale_if_error: config.cache_stale_if_error,
            // Every replica's breaker has closed, and the writer has repaired, by then.
            recovery_grace: config.redis_breaker_cooldown * 2 + Duration::from_secs(1),
            ..CachePolicy::default()
        },
        Arc::new(|task| {
            tokio::spawn(task);
        }),
        Arc::new(|duration| Box::pin(tokio::time::sleep(duration))),
        Arc::new(SystemClock),
    )
    .with_limits(ItemLimits {
        quota: Quota {
            max_items: config.max_items_per_owner,
            max_bytes: config.max_mib_per_owner.saturating_mul(config::MIB),
        },
        page_max_bytes: config.page_max_bytes,
    });
    let verifier = JwksVerifier::new(VerifierConfig {
        leeway: config.token_leeway,
        refresh_interval: config.jwks_refresh_interval,
        min_refresh_interval: config.jwks_min_refresh_interval,
        token_cache_capacity: config.token_cache_capacity,
        unknown_kid_cooldown: config.jwks_unknown_kid_cooldown,
        max_staleness: config.jwks_max_staleness,
        ..VerifierConfig::new(config.issuer.clone(), config.audience.clone())
    })?;
    let jwks_refresh = verifier.start();
    let shared_verifier: Arc<dyn TokenVerifier> = Arc::new(verifier.clone());
    metrics.track_jwks_age(shared_verifier.clone());
    let auth = AuthState {
        verifier: shared_verifier.clone(),
        metrics: metrics.clone(),
    };
    let settings = |scope, key_source, reads, writes, headers_when_allowed| RateLimitSettings {
        scope,
        key_source,
        reads,
        writes,
        failure: config.rate_limit_failure,
        shadow: config.rate_limit_shadow,
        headers_when_allowed,
    };
    let subject_limits = RateLimitState::new(
        limiter.clone(),
        local_limiter.clone(),
        settings(
            "sub",
            KeySource::Subject,
            config.rule(&config.rate_limit),
            config.write_rate_limit.as_ref().map(|p| config.rule(p)),
            true,
        ),
        metrics.clone(),
    );
    // Flood protection before any RSA work is enforced per replica, in process: it needs no
    // cross-replica exactness, and a request then costs Redis one EVALSHA (the subject limit)
    // and one HGET (the cache) instead of two EVALSHAs and an HGET.
    let ip_share = config.rule(&config.ip_rate_limit).local_share;
    let ip_limits = RateLimitState::new(
        local_limiter.clone(),
        local_limiter,
        settings(
            "ip",
            KeySource::ClientIp,
            LimitRule {
                policy: ip_share.clone(),
                local_share: ip_share,
            },
            None,
            false,
        ),
        metrics.clone(),
    );
    let trusted_proxies = Arc::new(config.trusted_proxies.clone());
    let body_budget = BodyBudget::new(
        config.body_memory_mib * config::MIB,
        body_budget::RESERVE_WAIT,
    );
    let readiness: Arc<dyn Readiness> = Arc::new(DataReadiness {
        verifier: shared_verifier,
        limiter_guard,
        cache_guard,
        config,
    });
    let state = DataState {
        items: Arc::new(items),
        metrics: metrics.clone(),
        body_budget,
    };
    let router = Router::new()
        .route("/v1/items", get(items::list_items))
        .route(
            "/v1/items/{id}",
            get(items::get_item)
                .put(items::put_item)
                .delete(items::delete_item),
        )
        // Outermost last: a coarse per-IP limit before any RSA work, then authentication,
        // then the per-subject limit.
        .route_layer(from_fn_with_state(subject_limits, limit))
        .route_layer(from_fn_with_state(auth, require_bearer))
        .route_layer(from_fn_with_state(ip_limits, limit))
        .layer(axum::extract::DefaultBodyLimit::max(items::MAX_BODY_BYTES))
        .with_state(state)
        .merge(portcullis_http::openapi::route(&api_doc::document()));
    // The client address is resolved first, so the transport's per-client limit counts clients
    // behind a trusted proxy one by one.
    let router =
        portcullis_http::server::with_common_layers(router, readiness, metrics, &transport)
            .layer(from_fn_with_state(trusted_proxies, resolve_client_ip));
    Ok(App::new(listener, router, transport, vec![jwks_refresh]))
}
