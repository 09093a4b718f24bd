//! Transport limits: how long and how much a client may take of a service, and how a service
//! leaves. Hostile or broken clients (slow headers, floods, never-ending handlers) must cost a
//! bounded amount and get a clear answer, not a growing queue.

use crate::client_limits::{self, PerClientInFlight};
use crate::config_error::ConfigError;
use crate::problem::Problem;
use crate::tls::TlsFiles;
use axum::error_handling::HandleErrorLayer;
use axum::middleware::from_fn_with_state;
use axum::Router;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use portcullis_domain::duration_text::parse;
use std::path::PathBuf;
use std::time::Duration;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::error::Overloaded;
use tower::timeout::error::Elapsed;
use tower::{BoxError, ServiceBuilder};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The largest request head (request line and headers) a service reads; longer ones get 431.
/// Tokens are capped at 8 KiB, so 16 KiB leaves room for every legitimate header set.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// How long a client may take none of its response before its connection is closed: long
/// enough for any client that is reading at all, short enough that clients which stopped
/// cannot pile up their responses in memory.
pub const RESPONSE_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The transport defaults, written once: the command line of both services shows them (see
/// [`transport_args!`](crate::transport_args)) and [`TransportSettings::default`] reads them.
pub mod defaults {
    /// Default `*_REQUEST_TIMEOUT`.
    pub const REQUEST_TIMEOUT: &str = "10s";
    /// Default `*_HEADER_READ_TIMEOUT`.
    pub const HEADER_READ_TIMEOUT: &str = "5s";
    /// Default `*_MAX_CONCURRENT_REQUESTS`.
    pub const MAX_CONCURRENT_REQUESTS: usize = 512;
    /// Default `*_BODY_READ_TIMEOUT`.
    pub const BODY_READ_TIMEOUT: &str = "5s";
    /// Default `*_MAX_CONCURRENT_REQUESTS_PER_CLIENT`.
    pub const MAX_CONCURRENT_REQUESTS_PER_CLIENT: usize = 64;
    /// Default `*_SHUTDOWN_GRACE`.
    pub const SHUTDOWN_GRACE: &str = "20s";
}

/// What a service allows its clients, validated from [`TransportArgs`](crate::transport_args).
#[derive(Debug, Clone)]
pub struct TransportSettings {
    /// Longest a request may run before it is answered with a 503 problem.
    pub request_timeout: Duration,
    /// Longest a client may take to send a request head (slow-client protection).
    pub header_read_timeout: Duration,
    /// Requests served at once; the next one is refused at once with a 503 problem.
    pub max_concurrent_requests: usize,
    /// Longest a request body may take to arrive, from the request's start; then the handler's
    /// body read fails (a 400 answer) and the request's slot is freed.
    pub body_read_timeout: Duration,
    /// Requests one client address may have in flight; beyond it a 429 problem, before a
    /// shared slot is taken.
    pub max_concurrent_requests_per_client: usize,
    /// After a shutdown signal, how long in-flight requests may run before connections close.
    pub shutdown_grace: Duration,
    /// Longest a client may take no bytes of its response before its connection is closed
    /// (see [`crate::stall_guard`]).
    pub response_stall_timeout: Duration,
    /// Browser origins allowed by CORS; empty means no CORS headers at all.
    pub cors_allowed_origins: Vec<HeaderValue>,
    /// The certificate and key to serve HTTPS with; `None` serves plain HTTP.
    pub tls: Option<TlsFiles>,
}

impl Default for TransportSettings {
    fn default() -> Self {
        Self {
            request_timeout: parse(defaults::REQUEST_TIMEOUT),
            header_read_timeout: parse(defaults::HEADER_READ_TIMEOUT),
            max_concurrent_requests: defaults::MAX_CONCURRENT_REQUESTS,
            body_read_timeout: parse(defaults::BODY_READ_TIMEOUT),
            max_concurrent_requests_per_client: defaults::MAX_CONCURRENT_REQUESTS_PER_CLIENT,
            shutdown_grace: parse(defaults::SHUTDOWN_GRACE),
            response_stall_timeout: RESPONSE_STALL_TIMEOUT,
            cors_allowed_origins: Vec::new(),
            tls: None,
        }
    }
}

impl TransportSettings {
    /// The certificate to serve, if one is configured: loaded first thing by each service, so
    /// a pair that cannot be served stops it before it connects to anything.
    pub fn load_tls(&self) -> Result<Option<crate::tls::ServerTls>, crate::tls::TlsError> {
        self.tls
            .as_ref()
            .map(crate::tls::ServerTls::load)
            .transpose()
    }

    /// Checks the settings; `prefix` names the service's environment variables in messages.
    pub fn new(
        prefix: &str,
        request_timeout: Duration,
        header_read_timeout: Duration,
        max_concurrent_requests: usize,
        shutdown_grace: Duration,
        cors_allowed_origins: &[String],
    ) -> Result<Self, ConfigError> {
        let at_least = |value: Duration, min_ms: u64, name: &str| {
            if value < Duration::from_millis(min_ms) {
                Err(ConfigError::invalid(
                    format!("{prefix}_{name}"),
                    format!("must be at least {min_ms}ms"),
                ))
            } else {
                Ok(())
            }
        };
        at_least(request_timeout, 100, "REQUEST_TIMEOUT")?;
        at_least(header_read_timeout, 100, "HEADER_READ_TIMEOUT")?;
        if max_concurrent_requests == 0 {
            return Err(ConfigError::invalid(
                format!("{prefix}_MAX_CONCURRENT_REQUESTS"),
                "must be at least 1",
            ));
        }
        if shutdown_grace > Duration::from_secs(300) {
            return Err(ConfigError::invalid(
                format!("{prefix}_SHUTDOWN_GRACE"),
                "must be at most 5m",
            ));
        }
        let cors_allowed_origins = cors_allowed_origins
            .iter()
            .map(|origin| parse_origin(origin))
            .collect::<Result<_, _>>()
            .map_err(|bad| {
                ConfigError::invalid(
                    format!("{prefix}_CORS_ALLOWED_ORIGINS"),
                    format!("must list origins like https://app.example.com, not {bad:?}"),
                )
            })?;
        Ok(Self {
            request_timeout,
            header_read_timeout,
            max_concurrent_requests,
            shutdown_grace,
            cors_allowed_origins,
            ..Self::default()
        })
    }

    /// Sets the per-client limits: the body-read timeout (at least 100 ms, at most the request
    /// timeout) and the requests one client address may have in flight (at least 1).
    pub fn with_client_limits(
        mut self,
        prefix: &str,
        body_read_timeout: Duration,
        max_concurrent_requests_per_client: usize,
    ) -> Result<Self, ConfigError> {
        if body_read_timeout < Duration::from_millis(100)
            || body_read_timeout > self.request_timeout
        {
            return Err(ConfigError::invalid(
                format!("{prefix}_BODY_READ_TIMEOUT"),
                format!("must be between 100ms and {prefix}_REQUEST_TIMEOUT"),
            ));
        }
        if max_concurrent_requests_per_client == 0 {
            return Err(ConfigError::invalid(
                format!("{prefix}_MAX_CONCURRENT_REQUESTS_PER_CLIENT"),
                "must be at least 1",
            ));
        }
        self.body_read_timeout = body_read_timeout;
        self.max_concurrent_requests_per_client = max_concurrent_requests_per_client;
        Ok(self)
    }

    /// Serves HTTPS with `cert` and `key` (`{prefix}_TLS_CERT`, `{prefix}_TLS_KEY`), or plain
    /// HTTP when neither is set; one without the other is refused rather than guessed at.
    pub fn with_tls(
        mut self,
        prefix: &str,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
    ) -> Result<Self, ConfigError> {
        let (cert_setting, key_setting) =
            (format!("{prefix}_TLS_CERT"), format!("{prefix}_TLS_KEY"));
        self.tls = match (cert, key) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    cert_setting,
                    format!("needs {key_setting}"),
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    key_setting,
                    format!("needs {cert_setting}"),
                ))
            }
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert,
                key,
                cert_setting,
                key_setting,
            }),
        };
        Ok(self)
    }

    /// Wraps the API routes (not health or metrics, which must answer under overload) in the
    /// per-client limit (429), the concurrency limit and the request timeout (503), and the
    /// body-read deadline, in that order: one `layer` call, since axum boxes and re-clones a
    /// service per call on every request.
    pub fn limit(&self, router: Router) -> Router {
        router.layer(
            ServiceBuilder::new()
                .layer(from_fn_with_state(
                    PerClientInFlight::new(self.max_concurrent_requests_per_client),
                    client_limits::per_client_in_flight,
                ))
                .layer(HandleErrorLayer::new(overload_problem))
                .load_shed()
                .layer(GlobalConcurrencyLimitLayer::new(
                    self.max_concurrent_requests,
                ))
                .timeout(self.request_timeout)
                .layer(client_limits::body_read_deadline(self.body_read_timeout)),
        )
    }

    /// CORS answers for the allowed origins, or none when none are configured: browsers then
    /// refuse cross-origin calls, the safe default for an API.
    pub fn cors(&self) -> Option<CorsLayer> {
        if self.cors_allowed_origins.is_empty() {
            return None;
        }
        let origins = if self.cors_allowed_origins.iter().any(|o| o == "*") {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(self.cors_allowed_origins.iter().cloned())
        };
        Some(
            CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([Method::GET, Method::PUT, Method::DELETE, Method::POST])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    header::IF_MATCH,
                    header::IF_NONE_MATCH,
                    crate::server::REQUEST_ID.clone(),
                ])
                .expose_headers([
                    header::ETAG,
                    header::RETRY_AFTER,
                    HeaderName::from_static("ratelimit"),
                    HeaderName::from_static("ratelimit-policy"),
                    crate::server::REQUEST_ID.clone(),
                ])
                .max_age(Duration::from_secs(600)),
        )
    }
}

/// `*`, or `scheme://host[:port]` with nothing after it.
fn parse_origin(origin: &str) -> Result<HeaderValue, &str> {
    let well_formed = origin == "*"
        || origin.split_once("://").is_some_and(|(scheme, rest)| {
            matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains('/')
        });
    if !well_formed {
        return Err(origin);
    }
    HeaderValue::from_str(origin).map_err(|_| origin)
}

async fn overload_problem(error: BoxError) -> Problem {
    if error.is::<Overloaded>() {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE)
            .detail("the service is at its concurrency limit; retry shortly")
            .header(header::RETRY_AFTER, HeaderValue::from_static("1"))
    } else if error.is::<Elapsed>() {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE)
            .detail("the request took longer than the service allows")
    } else {
        tracing::error!(%error, "request failed in the transport layers");
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// Declares `TransportArgs`, the transport flags of one service, under its environment prefix
/// (`ISSUER`, `DATA_API`): both services take the same settings, each under its own names.
#[macro_export]
macro_rules! transport_args {
    ($prefix:literal) => {
        /// Limits on what one client may take of the service, and how it shuts down.
        #[derive(clap::Args, Debug, Clone)]
        pub struct TransportArgs {
            /// Longest a request may run before it is answered with a 503 problem.
            #[arg(long, env = concat!($prefix, "_REQUEST_TIMEOUT"), default_value = $crate::transport::defaults::REQUEST_TIMEOUT, value_parser = humantime::parse_duration)]
            pub request_timeout: std::time::Duration,

            /// Longest a client may take to send a request's headers; slower clients (and idle
            /// keep-alive connections) are disconnected.
            #[arg(long, env = concat!($prefix, "_HEADER_READ_TIMEOUT"), default_value = $crate::transport::defaults::HEADER_READ_TIMEOUT, value_parser = humantime::parse_duration)]
            pub header_read_timeout: std::time::Duration,

            /// Requests served at once; beyond it requests are refused at once with a 503
            /// problem rather than queued.
            #[arg(long, env = concat!($prefix, "_MAX_CONCURRENT_REQUESTS"), default_value_t = $crate::transport::defaults::MAX_CONCURRENT_REQUESTS)]
            pub max_concurrent_requests: usize,

            /// Longest a request body may take to arrive (from the request's start); a slower
            /// body gets a 400 answer and frees its request slot. At most the request timeout.
            #[arg(long, env = concat!($prefix, "_BODY_READ_TIMEOUT"), default_value = $crate::transport::defaults::BODY_READ_TIMEOUT, value_parser = humantime::parse_duration)]
            pub body_read_timeout: std::time::Duration,

            /// Requests one client address may have in flight; beyond it a 429 problem, so one
            /// address cannot hold the shared request slots.
            #[arg(long, env = concat!($prefix, "_MAX_CONCURRENT_REQUESTS_PER_CLIENT"), default_value_t = $crate::transport::defaults::MAX_CONCURRENT_REQUESTS_PER_CLIENT)]
            pub max_concurrent_requests_per_client: usize,

            /// After SIGTERM, how long in-flight requests may finish before connections close.
            #[arg(long, env = concat!($prefix, "_SHUTDOWN_GRACE"), default_value = $crate::transport::defaults::SHUTDOWN_GRACE, value_parser = humantime::parse_duration)]
            pub shutdown_grace: std::time::Duration,

            /// Browser origins allowed to call the service (CORS), comma-separated, e.g.
            /// `https://app.example.com`; unset = no CORS.
            #[arg(long, env = concat!($prefix, "_CORS_ALLOWED_ORIGINS"), value_delimiter = ',')]
            pub cors_allowed_origins: Vec<String>,

            /// PEM certificate chain (leaf first) to serve HTTPS with (TLS 1.2+), re-read when
            /// the file changes; unset = plain HTTP. Needs the matching key setting.
            #[arg(long, env = concat!($prefix, "_TLS_CERT"))]
            pub tls_cert: Option<std::path::PathBuf>,

            /// PEM private key of the TLS certificate, re-read with it.
            #[arg(long, env = concat!($prefix, "_TLS_KEY"))]
            pub tls_key: Option<std::path::PathBuf>,
        }

        impl TransportArgs {
            /// The validated settings; the services' `TryFrom<Args>` calls it once.
            pub fn settings(
                &self,
            ) -> Result<$crate::transport::TransportSettings, $crate::config_error::ConfigError> {
                $crate::transport::TransportSettings::new(
                    $prefix,
                    self.request_timeout,
                    self.header_read_timeout,
                    self.max_concurrent_requests,
                    self.shutdown_grace,
                    &self.cors_allowed_origins,
                )?
                .with_client_limits(
                    $prefix,
                    self.body_read_timeout,
                    self.max_concurrent_requests_per_client,
                )?
                .with_tls($prefix, self.tls_cert.clone(), self.tls_key.clone())
            }
        }
    };
}

#[cfg(test)]
#[path = "transport_tests.rs"]
mod tests;
