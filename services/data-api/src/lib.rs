//! The Portcullis data API as a library: [`build`] wires the adapters and binds the listener
//! (port 0 allowed), [`App::run`] serves.

mod adapters;
mod api_doc;
mod body_budget;
mod conditions;
pub mod config;
pub mod counting_store;
mod dpop;
mod extract;
mod items;

use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::Router;
use body_budget::BodyBudget;
use counting_store::CountingStore;
use portcullis_cache::{LocalCache, TierResult};
use portcullis_domain::cache::Cache;
use portcullis_domain::clock::SystemClock;
use portcullis_domain::dpop::ProofRejection;
use portcullis_domain::ratelimit::RateLimiter;
use portcullis_domain::store::ItemStore;
use portcullis_domain::token::TokenRejection;
use portcullis_domain::token::TokenVerifier;
use portcullis_domain::usecase::items::{CacheResult, ItemService};
use portcullis_http::auth::AuthState;
use portcullis_http::dpop::{DpopSettings, SCHEME_REASONS};
use portcullis_http::health::{DependencyState, Readiness};
use portcullis_http::metrics::Metrics;
use portcullis_http::protect::{self, Guards};
use portcullis_http::ratelimit::{
    FailureMode, KeySource, RateLimitSettings, RateLimitState, DECISIONS,
};
use portcullis_http::resilience::Guard;
use portcullis_jwt::JwksVerifier;
use portcullis_ratelimit::LocalRateLimiter;
use portcullis_store::{PgConnectError, PgItemStore, SqliteItemStore};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower::ServiceBuilder;

use config::Database;
pub use config::{Args, Settings};
/// A built service, bound and ready to serve.
pub use portcullis_http::server::Service as App;

pub use adapters::{CACHE_INVALIDATIONS, CACHE_PREFIX};

/// Why the data API could not start; each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The configuration breaks a rule.
    #[error("configuration")]
    Config(#[from] portcullis_http::config_error::ConfigError),
    /// The item store could not be opened.
    #[error("item store")]
    Store(#[from] portcullis_domain::store::StoreError),
    /// The TLS handshake with PostgreSQL failed.
    #[error("DATA_API_DATABASE_CA (or the sslrootcert in DATA_API_DATABASE_URL) does not verify the PostgreSQL server's certificate for the URL's host, or the server does not offer TLS")]
    DatabaseTls(#[source] PgConnectError),
    /// Redis could not be reached at start-up.
    #[error("redis")]
    Redis(#[source] portcullis_redis::ConnectError),
    /// The JWKS client could not be created.
    #[error("token verifier")]
    Verifier(#[from] portcullis_jwt::verifier::FetchError),
    /// The TLS certificate or key cannot be served.
    #[error("TLS")]
    Tls(#[from] portcullis_http::tls::TlsError),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// State shared by the item handlers, behind one `Arc` (axum clones it for every request).
pub(crate) type DataState = Arc<ItemHandlers>;

/// What the item handlers need.
pub(crate) struct ItemHandlers {
    pub items: ItemService,
    pub metrics: Arc<Metrics>,
    pub body_budget: BodyBudget,
}

struct DataReadiness {
    verifier: Arc<dyn TokenVerifier>,
    limiter_guard: Guard,
    cache_guard: Guard,
    redis: bool,
    failure: FailureMode,
    shadow: bool,
}

impl Readiness for DataReadiness {
    fn ready(&self) -> bool {
        // Redis outages are absorbed (fallback limits, cache bypass): only keys gate readiness.
        self.verifier.is_ready()
    }

    fn dependencies(&self) -> BTreeMap<&'static str, DependencyState> {
        let keys = self.verifier.is_ready();
        let redis = self.redis;
        let in_process = || "in-process".to_string();
        let limiter = format!(
            "redis, breaker {:?}; on failure: {}{}",
            self.limiter_guard.state(),
            self.failure.as_str(),
            if self.shadow { "; shadow mode" } else { "" }
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

async fn open_store(database: &Database) -> Result<Arc<dyn ItemStore>, BuildError> {
    Ok(match database {
        Database::Sqlite { url } => Arc::new(SqliteItemStore::connect(url).await?),
        Database::Postgres {
            url,
            root_cert,
            max_connections,
            timeout,
        } => Arc::new(
            PgItemStore::connect(url, root_cert.as_deref(), *max_connections, *timeout)
                .await
                .map_err(|error| match error {
                    PgConnectError::Tls(_) => BuildError::DatabaseTls(error),
                    PgConnectError::Store(error) => BuildError::Store(error),
                })?,
        ),
    })
}

/// Opens the store, connects to Redis if configured, starts the key-set loader and binds the
/// listener. The settings were checked when they were made ([`Settings::try_from`]), so
/// nothing here re-checks them.
pub async fn build(config: Settings) -> Result<App, BuildError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| BuildError::Bind {
            addr: config.listen,
            source,
        })?;
    build_with_listener(config, listener).await
}

/// Like [`build`], on a listener the caller bound (to know the address before building).
pub async fn build_with_listener(
    config: Settings,
    listener: TcpListener,
) -> Result<App, BuildError> {
    let transport = config.transport.clone();
    // First, so a certificate that cannot be served stops the service before it connects.
    let tls = transport.load_tls()?;
    let metrics = Arc::new(Metrics::new());
    Metrics::zero(&metrics.ratelimit_decisions, DECISIONS);
    Metrics::zero(
        &metrics.cache_requests,
        CacheResult::ALL.iter().map(CacheResult::as_str),
    );
    Metrics::zero(
        &metrics.cache_tier_requests,
        TierResult::ALL.iter().map(TierResult::as_str),
    );
    Metrics::zero(
        &metrics.auth_failures,
        TokenRejection::ALL
            .iter()
            .map(TokenRejection::reason)
            .chain(ProofRejection::REASONS)
            .chain(SCHEME_REASONS),
    );
    let store: Arc<dyn ItemStore> = Arc::new(CountingStore::new(
        open_store(&config.database).await?,
        metrics.store_queries.clone(),
    ));
    let local_limiter: Arc<dyn RateLimiter> = Arc::new(LocalRateLimiter::default());
    let guard = |name| Guard::with_settings(name, config.redis_breaker, metrics.clone());
    let (limiter_guard, cache_guard) = (guard("redis_ratelimit"), guard("redis_cache"));
    let connection = match &config.redis {
        Some(redis) => Some(redis.connect().await.map_err(BuildError::Redis)?),
        None => None,
    };
    let dpop = DpopSettings {
        guard: dpop::guard(connection.as_ref(), &config),
        public_url: dpop::public_url(
            &config,
            listener.local_addr().map_err(|source| BuildError::Bind {
                addr: config.listen,
                source,
            })?,
            tls.is_some(),
        )
        .into(),
        required: config.dpop_required,
    };
    let mut tasks = Vec::new();
    let (limiter, cache) = match (&config.redis, connection) {
        (Some(redis), Some(connection)) => {
            let guards = (limiter_guard.clone(), cache_guard.clone());
            let shared = adapters::on_redis(&config, redis, connection, guards, &metrics);
            tasks.extend(shared.tasks);
            (shared.limiter, shared.cache)
        }
        _ => (
            local_limiter.clone(),
            Arc::new(LocalCache::new(config.cache_max_bytes)) as Arc<dyn Cache>,
        ),
    };
    let items = ItemService::new(
        store,
        cache,
        config.cache,
        Arc::new(|task| {
            tokio::spawn(task);
        }),
        Arc::new(|duration| Box::pin(tokio::time::sleep(duration))),
        Arc::new(SystemClock),
    )
    .with_limits(config.limits);
    if config::plain_http_elsewhere(&config.verifier.issuer) {
        tracing::warn!(
            issuer = %config.verifier.issuer,
            "DATA_API_ALLOW_INSECURE_ISSUER: the signing keys are fetched over plain http from \
             another host; anyone who can spoof that traffic can mint tokens (development only)"
        );
    }
    let verifier = JwksVerifier::new(config.verifier.clone())?;
    let jwks_refresh = verifier.start();
    let shared_verifier: Arc<dyn TokenVerifier> = Arc::new(verifier.clone());
    metrics.track_jwks_age(shared_verifier.clone());
    let auth = AuthState {
        verifier: shared_verifier.clone(),
        metrics: metrics.clone(),
        dpop: dpop.clone(),
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
            if config.rate_limit_by_dpop_key {
                KeySource::DpopKey
            } else {
                KeySource::Subject
            },
            config.rate_limit.clone(),
            config.write_rate_limit.clone(),
            true,
        ),
        &metrics,
    );
    // Flood protection before any RSA work is enforced per replica, in process: it needs no
    // cross-replica exactness, and a request then costs Redis one EVALSHA (the subject limit)
    // and one HGET (the cache) instead of two EVALSHAs and an HGET.
    let ip_limits = RateLimitState::new(
        local_limiter.clone(),
        local_limiter,
        settings(
            "ip",
            KeySource::ClientIp,
            config.ip_rate_limit.clone(),
            None,
            false,
        ),
        &metrics,
    );
    let guards = Guards {
        ip_limits,
        auth,
        subject_limits,
    };
    let trusted_proxies = Arc::new(config.trusted_proxies.clone());
    let body_budget = BodyBudget::new(config.body_memory_bytes, body_budget::RESERVE_WAIT);
    let readiness: Arc<dyn Readiness> = Arc::new(DataReadiness {
        verifier: shared_verifier,
        limiter_guard,
        cache_guard,
        redis: config.redis.is_some(),
        failure: config.rate_limit_failure,
        shadow: config.rate_limit_shadow,
    });
    let state = Arc::new(ItemHandlers {
        items,
        metrics: metrics.clone(),
        body_budget,
    });
    let router = Router::new()
        .route("/v1/items", get(items::list_items))
        .route(
            "/v1/items/{id}",
            get(items::get_item)
                .put(items::put_item)
                .delete(items::delete_item),
        )
        // One layer for the whole stack: axum boxes and re-clones a service per layer call.
        .route_layer(
            ServiceBuilder::new()
                .layer(axum::extract::DefaultBodyLimit::max(items::MAX_BODY_BYTES))
                .layer(from_fn_with_state(Arc::new(guards), protect::guard)),
        )
        .with_state(state)
        .merge(dpop::metadata_route(&config, &dpop))
        .merge(portcullis_http::openapi::route(&api_doc::document()));
    let router = portcullis_http::server::with_common_layers(
        router,
        readiness,
        metrics,
        &transport,
        trusted_proxies,
    );
    tasks.push(jwks_refresh);
    Ok(App::new(listener, router, transport, tasks).with_tls(tls))
}
