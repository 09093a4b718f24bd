//! The Portcullis auth issuer as a library: [`build`] wires the adapters and binds the listener
//! (port 0 allowed, so tests run real servers side by side), [`App::run`] serves.

mod admin;
pub mod admin_cli;
mod api_doc;
mod audit;
mod browser;
pub mod config;
mod dpop;
pub mod form;
mod identities;
mod limits;
pub mod login_settings;
pub mod oauth_error;
mod routes;

use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::Router;
use portcullis_directory::Argon2Verifier;
use portcullis_domain::clock::{Clock, SystemClock};
use portcullis_domain::directory::GrantType;
use portcullis_domain::ephemeral::EphemeralStore;
use portcullis_domain::login::LoginRecords;
use portcullis_domain::ratelimit::RateLimiter;
use portcullis_domain::refresh::RefreshTokenStore;
use portcullis_domain::usecase::dpop::DpopGuard;
use portcullis_domain::usecase::login::LoginService;
use portcullis_domain::usecase::tokens::TokenService;
use portcullis_http::health::{DependencyState, Readiness};
use portcullis_http::metrics::Metrics;
use portcullis_http::resilience::{Guard, GuardedLimiter};
use portcullis_jwt::{DpopProofVerifier, JwtSigner, KeyRing};
use portcullis_ratelimit::{FallbackLimiter, LocalRateLimiter, RedisRateLimiter};
use portcullis_store::{
    MemoryEphemeralStore, MemoryRefreshTokenStore, RedisEphemeralStore, RedisRefreshTokenStore,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

pub use config::{Args, Settings};
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
    Users(#[from] portcullis_directory::UsersFileError),
    /// The identity store could not be opened.
    #[error("identity store (ISSUER_DATABASE_URL)")]
    IdentityStore(#[source] portcullis_domain::directory_admin::AdminError),
    /// Redis could not be reached at start-up.
    #[error("redis")]
    Redis(#[source] portcullis_redis::ConnectError),
    /// The password hasher could not start.
    #[error("password hashing")]
    Password(#[from] portcullis_domain::directory::PasswordError),
    /// The verifier behind token introspection could not be created.
    #[error("introspection")]
    Introspection(#[from] portcullis_jwt::FetchError),
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

/// State shared by the issuer's handlers.
#[derive(Clone)]
pub(crate) struct IssuerState {
    pub tokens: Arc<TokenService>,
    pub login: Arc<LoginService>,
    pub ring: Arc<KeyRing>,
    pub limiter: Arc<dyn RateLimiter>,

    pub config: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    pub discovery: Arc<serde_json::Value>,
    pub introspector: Arc<routes::introspect::Introspector>,
    pub dpop: Arc<dpop::IssuerProofs>,
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

/// Loads keys and users, connects to Redis if configured and binds the listener. The settings
/// were checked when they were made ([`Settings::try_from`]), so nothing here re-checks them.
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
    let ring = Arc::new(KeyRing::load(config.keys_dir.clone())?);
    let identities =
        identities::Identities::open(&config.identities, config.users_reload_interval).await?;
    // What start-up derives from the clients (discovery, the introspection audiences) is fixed
    // until the next start; who may log in follows every change.
    tracing::info!(clients = identities.clients.len(), "identities loaded");
    let password_clients = identities.clients_with_grant(GrantType::Password);
    if !password_clients.is_empty() {
        tracing::warn!(
            clients = ?password_clients,
            "these clients may use the password grant, which RFC 9700 §2.4 says must not be used; \
             move them to the authorization code flow (or the device flow for CLIs)"
        );
    }
    let capabilities = routes::wellknown::Capabilities {
        grants: GrantType::ALL
            .into_iter()
            .filter(|g| !identities.clients_with_grant(*g).is_empty())
            .collect(),
        scopes: identities.client_scopes(),
    };
    let audiences = identities.audiences();
    let directory = identities.directory.clone();
    // Settings refuse the admin API without the identity store, so both are here or neither.
    let admin_store = config.admin_api.clone().zip(identities.admin.clone());
    let metrics = Arc::new(Metrics::new());
    let local_limiter: Arc<dyn RateLimiter> = Arc::new(LocalRateLimiter::default());
    type Stores = (
        Arc<dyn RateLimiter>,
        Arc<dyn RefreshTokenStore>,
        Arc<dyn EphemeralStore>,
    );
    let (limiter, refresh_tokens, login_store): Stores = match &config.redis {
        Some(redis) => {
            let connection = redis.connect().await.map_err(BuildError::Redis)?;
            let timeout = redis.call_timeout;
            let limiter =
                RedisRateLimiter::new(connection.clone(), "portcullis:issuer:rl:", timeout);
            let guard =
                Guard::with_settings("redis_login_limits", config.redis_breaker, metrics.clone());
            let shared = Arc::new(GuardedLimiter::new(Arc::new(limiter), guard));
            (
                Arc::new(FallbackLimiter::new(shared, local_limiter)),
                Arc::new(RedisRefreshTokenStore::new(
                    connection.clone(),
                    "portcullis:issuer:",
                    timeout,
                )),
                Arc::new(RedisEphemeralStore::new(
                    connection,
                    "portcullis:issuer:login:",
                    timeout,
                )),
            )
        }
        None => (
            local_limiter,
            Arc::new(MemoryRefreshTokenStore::default()),
            Arc::new(MemoryEphemeralStore::default()),
        ),
    };
    let passwords = Argon2Verifier::with_params(
        config.password_concurrency,
        Duration::from_secs(2),
        config.password_hash,
    )?;
    let client_secrets =
        Argon2Verifier::new(config.client_secret_concurrency, Duration::from_secs(2))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let dpop = dpop::IssuerProofs::new(
        DpopGuard::new(
            Arc::new(DpopProofVerifier::default()),
            login_store.clone(),
            None,
            clock.clone(),
        ),
        format!("{}/oauth2/token", config.issuer_url()),
        config.dpop_nonce.then(|| login_store.clone()),
    );
    let records = Arc::new(LoginRecords::new(
        login_store,
        clock.clone(),
        config.login.policy.clone(),
    ));
    let signer = Arc::new(JwtSigner::new(ring.clone()));
    let tokens = TokenService::new(
        directory.clone(),
        Arc::new(passwords),
        refresh_tokens,
        signer.clone(),
        clock.clone(),
        config.tokens.clone(),
    )
    .with_client_secret_verifier(Arc::new(client_secrets))
    .with_login(records.clone(), signer);
    let tokens = match identities.admin.clone() {
        Some(store) => tokens.with_password_upgrades(store),
        None => tokens,
    };
    let login = LoginService::new(directory, records, clock);
    let key_watch = ring.watch(config.keys_reload_interval);
    let readiness: Arc<dyn Readiness> = Arc::new(IssuerReadiness {
        ring: ring.clone(),
        redis: config.redis.is_some(),
    });
    let trusted_proxies = Arc::new(config.trusted_proxies.clone());
    let introspector =
        routes::introspect::Introspector::new(ring.clone(), config.issuer_url(), audiences)?;
    let state = IssuerState {
        introspector: Arc::new(introspector),
        discovery: Arc::new(routes::wellknown::discovery_document(
            config.issuer_url(),
            &capabilities,
            dpop.algorithms(),
        )),
        dpop: Arc::new(dpop),
        tokens: Arc::new(tokens),
        login: Arc::new(login),
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
        .route(
            "/oauth2/device_authorization",
            post(routes::device::device_authorization),
        )
        .route_layer(from_fn_with_state(state.clone(), limits::limit_ip_first))
        .route(
            "/oauth2/userinfo",
            get(routes::userinfo::userinfo_endpoint).post(routes::userinfo::userinfo_endpoint),
        )
        .with_state(state.clone())
        // The pages people log in with: their password checks are limited per user and
        // address like the token endpoint's, so they are not charged to the address up front.
        .merge(browser::router(state.clone()))
        .layer(axum::extract::DefaultBodyLimit::max(
            routes::token::MAX_FORM_BYTES,
        ))
        .merge(portcullis_http::openapi::route(&api_doc::document(
            admin_store.is_some(),
        )));
    // The admin API: its own body limit, authorisation and per-client limit.
    let oauth = match admin_store {
        Some((policy, store)) => oauth.merge(admin::router(state.clone(), store, policy)?),
        None => oauth,
    };
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
        oauth,
        open,
        readiness,
        metrics,
        &transport,
        trusted_proxies,
    );
    Ok(App::new(
        listener,
        router,
        transport,
        [Some(key_watch), identities.watch]
            .into_iter()
            .flatten()
            .collect(),
    )
    .with_tls(tls))
}
