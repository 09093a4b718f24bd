//! The Portcullis auth issuer as a library: [`build`] wires the adapters and binds the listener
//! (port 0 allowed, so tests run real servers side by side), [`App::run`] serves.

mod api_doc;
mod audit;
pub mod config;
pub mod form;
mod limits;
pub mod oauth_error;
mod routes;

use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::Router;
use portcullis_domain::clock::SystemClock;
use portcullis_domain::ratelimit::RateLimiter;
use portcullis_domain::refresh::RefreshTokenStore;
use portcullis_domain::usecase::tokens::{TokenPolicy, TokenService};
use portcullis_http::client_ip::resolve_client_ip;
use portcullis_http::health::{DependencyState, Readiness};
use portcullis_http::metrics::Metrics;
use portcullis_http::resilience::{Guard, GuardedLimiter};
use portcullis_jwt::{JwtSigner, KeyRing};
use portcullis_ratelimit::{FallbackLimiter, LocalRateLimiter, RedisRateLimiter};
use portcullis_store::{
    Argon2Verifier, FileDirectory, MemoryRefreshTokenStore, RedisRefreshTokenStore,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

pub use config::Config;
/// A built service, bound and ready to serve.
pub use portcullis_http::server::Service as App;

/// Why the issuer could not start; each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The configuration breaks a rule.
    #[error("configuration")]
    Config(#[from] config::ConfigError),
    /// The signing keys could not be loaded.
    #[error("signing keys")]
    Keys(#[from] portcullis_jwt::KeyRingError),
    /// The users file is unusable.
    #[error("users and clients file")]
    Users(#[from] portcullis_store::UsersFileError),
    /// Redis could not be reached at start-up.
    #[error("redis")]
    Redis(#[source] portcullis_redis::ConnectError),
    /// The password hasher could not start.
    #[error("password hashing")]
    Password(#[from] portcullis_domain::directory::PasswordError),
    /// The verifier behind token introspection could not be created.
    #[error("introspection")]
    Introspection(#[from] portcullis_jwt::FetchError),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// State shared by the issuer's handlers.
#[derive(Clone)]
pub(crate) struct IssuerState {
    pub tokens: Arc<TokenService>,
    pub ring: Arc<KeyRing>,
    pub limiter: Arc<dyn RateLimiter>,

    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    pub discovery: Arc<serde_json::Value>,
    pub introspector: Arc<routes::introspect::Introspector>,
}

struct IssuerReadiness {
    ring: Arc<KeyRing>,
    redis: bool,
}

impl Readiness for IssuerReadiness {
    fn ready(&self) -> bool {
        // A key ring always has an active key once loaded; a failed reload keeps the old one.
        !self.ring.current().active().kid().is_empty()
    }

    fn dependencies(&self) -> BTreeMap<&'static str, DependencyState> {
        let mut deps = BTreeMap::new();
        deps.insert(
            "signing_keys",
            DependencyState {
                ok: true,
                detail: format!("active kid {}", self.ring.current().active().kid()),
            },
        );
        deps.insert(
            "login_limits",
            DependencyState {
                ok: true,
                detail: if self.redis {
                    "redis (login limits with an in-process fallback; refresh tokens)".into()
                } else {
                    "in-process".into()
                },
            },
        );
        deps
    }
}

/// Validates the configuration, loads keys and users, connects to Redis if configured and
/// binds the listener.
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
    let keys_dir = config
        .keys_dir
        .clone()
        .ok_or(config::ConfigError::Missing("ISSUER_KEYS_DIR"))?;
    let users_file = config
        .users_file
        .clone()
        .ok_or(config::ConfigError::Missing("ISSUER_USERS_FILE"))?;
    let ring = Arc::new(KeyRing::load(keys_dir)?);
    let directory = FileDirectory::load(&users_file)?;
    let (users, clients) = directory.counts();
    let audiences = directory.audiences();
    tracing::info!(users, clients, "users file loaded");
    let metrics = Arc::new(Metrics::new());
    let local_limiter: Arc<dyn RateLimiter> = Arc::new(LocalRateLimiter::default());
    let (limiter, refresh_tokens): (Arc<dyn RateLimiter>, Arc<dyn RefreshTokenStore>) =
        match &config.redis_url {
            Some(url) => {
                let connection = portcullis_redis::connect(url, Duration::from_secs(5))
                    .await
                    .map_err(BuildError::Redis)?;
                let timeout = config.redis_timeout;
                let limiter =
                    RedisRateLimiter::new(connection.clone(), "portcullis:issuer:rl:", timeout);
                let guard = Guard::new(
                    "redis_login_limits",
                    5,
                    Duration::from_secs(2),
                    metrics.clone(),
                );
                let shared = Arc::new(GuardedLimiter::new(Arc::new(limiter), guard));
                (
                    Arc::new(FallbackLimiter::new(shared, local_limiter)),
                    Arc::new(RedisRefreshTokenStore::new(
                        connection,
                        "portcullis:issuer:",
                        timeout,
                    )),
                )
            }
            None => (local_limiter, Arc::new(MemoryRefreshTokenStore::default())),
        };
    let passwords = Argon2Verifier::new(config.password_concurrency, Duration::from_secs(2))?;
    let client_secrets =
        Argon2Verifier::new(config.client_secret_concurrency, Duration::from_secs(2))?;
    let tokens = TokenService::new(
        Arc::new(directory),
        Arc::new(passwords),
        refresh_tokens,
        Arc::new(JwtSigner::new(ring.clone())),
        Arc::new(SystemClock),
        TokenPolicy {
            issuer: config.issuer_url.clone(),
            access_ttl: config.access_token_ttl,
            refresh_ttl: config.refresh_token_ttl,
            refresh_absolute_lifetime: config.refresh_absolute_lifetime,
            refresh_reuse_grace: config.refresh_reuse_grace,
        },
    )
    .with_client_secret_verifier(Arc::new(client_secrets));
    let key_watch = ring.watch(config.keys_reload_interval);
    let readiness: Arc<dyn Readiness> = Arc::new(IssuerReadiness {
        ring: ring.clone(),
        redis: config.redis_url.is_some(),
    });
    let trusted_proxies = Arc::new(config.trusted_proxies.clone());
    let introspector =
        routes::introspect::Introspector::new(ring.clone(), &config.issuer_url, audiences)?;
    let state = IssuerState {
        introspector: Arc::new(introspector),
        discovery: Arc::new(routes::wellknown::discovery_document(&config.issuer_url)),
        tokens: Arc::new(tokens),
        ring,
        limiter,
        config: Arc::new(config),
        metrics: metrics.clone(),
    };
    // The OAuth endpoints: charged to the client address before their bodies are read, and
    // served in the shared request slots.
    let oauth = Router::new()
        .route("/oauth2/token", post(routes::token::token))
        .route("/oauth2/revoke", post(routes::token::revoke))
        .route("/oauth2/introspect", post(routes::introspect::introspect))
        .route_layer(from_fn_with_state(state.clone(), limits::limit_ip_first))
        .layer(axum::extract::DefaultBodyLimit::max(
            routes::token::MAX_FORM_BYTES,
        ))
        .with_state(state.clone())
        .merge(portcullis_http::openapi::route(&api_doc::document()));
    // Keys and discovery: static answers outside the request slots, so verifiers can always
    // fetch the keys, whatever is holding the slots.
    let open = Router::new()
        .route("/.well-known/jwks.json", get(routes::wellknown::jwks))
        .route(
            "/.well-known/openid-configuration",
            get(routes::wellknown::discovery),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(routes::wellknown::authorization_server_metadata),
        )
        .with_state(state);
    let router = portcullis_http::server::with_common_layers_and_open_routes(
        oauth, open, readiness, metrics, &transport,
    )
    // The client address is resolved first, so the transport's per-client limit counts clients
    // behind a trusted proxy one by one.
    .layer(from_fn_with_state(trusted_proxies, resolve_client_ip));
    Ok(App::new(listener, router, transport, vec![key_watch]))
}
