//! Both services on 127.0.0.1:0 with the known users, and what the suites ask of them.

use crate::users::{UsersFile, CLI_CLIENT, PASSWORD};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A running issuer and data API with users `alice`, `bob` (read and write) and `reader`
/// (read only), the public client `portcullis-cli`, and the confidential clients
/// `reporting-job` and `data-api` (the resource server, which may introspect tokens for it).
pub struct Stack {
    /// The issuer's base URL (also the tokens' `iss`).
    pub issuer: String,
    /// The data API's base URL.
    pub data_api: String,
    /// An HTTP client for the tests.
    pub http: reqwest::Client,
    /// Keeps the key, users file and database alive.
    pub dir: tempfile::TempDir,
    issuer_shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    issuer_config: auth_issuer::Args,
}

/// Adjusts a data API's configuration before it starts.
pub type DataApiTweak = Arc<dyn Fn(&mut data_api::Args) + Send + Sync>;

/// Adjusts an issuer's configuration before it starts.
pub type IssuerTweak = Arc<dyn Fn(&mut auth_issuer::Args) + Send + Sync>;

/// An issuer tweak that turns the refresh grace window off: a re-presented refresh token is
/// reuse at once, for suites that exercise reuse detection without waiting the window out.
pub fn strict_refresh_reuse() -> Option<IssuerTweak> {
    Some(Arc::new(|config: &mut auth_issuer::Args| {
        config.refresh_reuse_grace = Duration::ZERO;
    }))
}

/// Knobs the suites turn.
#[derive(Clone, Default)]
pub struct StackOptions {
    /// Redis for the data API (shared limiter and cache).
    pub redis_url: Option<String>,
    /// Redis for the issuer (login limits, refresh tokens).
    pub issuer_redis_url: Option<String>,
    /// The data API's rate limit, default `100/s,3000/min`.
    pub rate_limit: Option<String>,
    /// Re-read the issuer's keys every 100 ms, publish the JWKS with `max-age=1`, and let the
    /// data API refresh every second: key rotation in seconds instead of minutes.
    pub fast_key_rotation: bool,
    /// Any other change to the data API's configuration.
    pub data_api: Option<DataApiTweak>,
    /// Any other change to the issuer's configuration.
    pub issuer: Option<IssuerTweak>,
    /// The issuer's URL is `https://localhost:PORT` instead of `http://127.0.0.1:PORT`: for
    /// suites whose `issuer` tweak gives it a certificate (the stack's own client does not
    /// trust it; such suites bring a client that does).
    pub issuer_https: bool,
}

async fn listener() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind 127.0.0.1:0")
}

impl Stack {
    /// Starts both services on embedded adapters.
    pub async fn start() -> Self {
        Self::start_with(StackOptions::default()).await
    }

    /// Starts both services with the given options and waits until the data API is ready.
    pub async fn start_with(options: StackOptions) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = dir.path().join("keys");
        std::fs::create_dir(&keys).expect("keys dir");
        std::fs::write(
            keys.join("a.pem"),
            portcullis_jwt::generate_rsa_pem().expect("key"),
        )
        .expect("write key");
        let users = UsersFile::standard().write_in(dir.path());

        let issuer_listener = listener().await;
        let issuer_port = issuer_listener.local_addr().expect("addr").port();
        let issuer_url = if options.issuer_https {
            format!("https://localhost:{issuer_port}")
        } else {
            format!("http://127.0.0.1:{issuer_port}")
        };
        let mut issuer = auth_issuer::Args::defaults();
        issuer.issuer_url = issuer_url.clone();
        issuer.keys_dir = Some(keys);
        issuer.users_file = Some(users);
        issuer.redis_url = options.issuer_redis_url.clone();
        if options.fast_key_rotation {
            issuer.keys_reload_interval = Duration::from_millis(100);
            issuer.jwks_max_age = Duration::from_secs(1);
        }
        if let Some(tweak) = &options.issuer {
            tweak(&mut issuer);
        }
        let issuer_config = issuer.clone();
        let issuer_shutdown = Self::run_issuer(issuer, issuer_listener).await;

        let data = Self::start_data_api(&issuer_url, dir.path().join("items.db"), &options).await;
        let stack = Self {
            issuer: issuer_url,
            data_api: data,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            dir,
            issuer_shutdown: Some(issuer_shutdown),
            issuer_config,
        };
        stack.wait_ready(&stack.data_api).await;
        stack
    }

    /// Starts one more data API replica against this stack's issuer.
    pub async fn start_data_api(issuer: &str, db: PathBuf, options: &StackOptions) -> String {
        let data_listener = listener().await;
        let url = format!("http://{}", data_listener.local_addr().expect("addr"));
        let mut data = data_api::Args::defaults();
        data.issuer = issuer.to_string();
        data.database_url = format!("sqlite://{}", db.display());
        data.redis_url = options.redis_url.clone();
        // Every client of the suites is 127.0.0.1, and some send hundreds of requests at once:
        // the per-client transport limit is tested on its own (crates/http/tests).
        data.transport.max_concurrent_requests_per_client = data.transport.max_concurrent_requests;
        if options.fast_key_rotation {
            data.jwks_min_refresh_interval = Duration::from_secs(1);
        }
        if let Some(limit) = &options.rate_limit {
            data.rate_limit =
                portcullis_domain::ratelimit::RateLimitPolicy::parse(limit).expect("policy");
        }
        if let Some(tweak) = &options.data_api {
            tweak(&mut data);
        }
        let settings = data_api::Settings::try_from(data).expect("valid data api settings");
        let app = data_api::build_with_listener(settings, data_listener)
            .await
            .expect("data api starts");
        tokio::spawn(app.run_until(std::future::pending()));
        url
    }

    /// Builds and spawns an issuer; the returned sender stops it.
    async fn run_issuer(
        config: auth_issuer::Args,
        listener: tokio::net::TcpListener,
    ) -> tokio::sync::oneshot::Sender<()> {
        let settings = auth_issuer::Settings::try_from(config).expect("valid issuer settings");
        let issuer = auth_issuer::build_with_listener(settings, listener)
            .await
            .expect("issuer starts");
        let (issuer_shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(issuer.run_until(async {
            let _ = stopped.await;
        }));
        issuer_shutdown
    }

    /// Starts one more issuer replica with this stack's configuration (keys, identities, Redis,
    /// `iss`) on a port of its own: its base URL, and the handle that keeps it running.
    pub async fn start_issuer_replica(&self) -> (String, tokio::sync::oneshot::Sender<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a replica");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let shutdown = Self::run_issuer(self.issuer_config.clone(), listener).await;
        (url, shutdown)
    }

    /// Starts the issuer again after [`Stack::stop_issuer`], on the same address with the same
    /// keys, users and Redis: what a restarted pod looks like to the data API and to clients
    /// (refresh tokens survive only when the issuer keeps them on Redis).
    pub async fn restart_issuer(&mut self) {
        assert!(
            self.issuer_shutdown.is_none(),
            "restart_issuer needs a stopped issuer"
        );
        let address: SocketAddr = self
            .issuer
            .trim_start_matches("http://")
            .parse()
            .expect("the issuer URL is http://IP:PORT");
        let mut bound = None;
        for _ in 0..50 {
            match tokio::net::TcpListener::bind(address).await {
                Ok(listener) => {
                    bound = Some(listener);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let listener = bound.unwrap_or_else(|| panic!("{address} stayed busy for 5 s"));
        self.issuer_shutdown = Some(Self::run_issuer(self.issuer_config.clone(), listener).await);
        for _ in 0..100 {
            let alive = self
                .http
                .get(format!("{}/healthz", self.issuer))
                .send()
                .await;
            if alive.is_ok_and(|r| r.status() == 200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the restarted issuer did not answer /healthz within 5 s");
    }

    /// Stops the issuer (it stops accepting connections); the data API must carry on.
    pub async fn stop_issuer(&mut self) {
        if let Some(shutdown) = self.issuer_shutdown.take() {
            let _ = shutdown.send(());
        }
        for _ in 0..100 {
            if self
                .http
                .get(format!("{}/healthz", self.issuer))
                .send()
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the issuer did not stop");
    }

    /// The directory of the issuer's signing keys (`a.pem` is the first key).
    pub fn keys_dir(&self) -> PathBuf {
        self.dir.path().join("keys")
    }

    /// A metric's value in a service's `/metrics` (0 when absent).
    pub async fn metric(&self, base: &str, series: &str) -> u64 {
        self.metrics_text(base)
            .await
            .lines()
            .find_map(|line| line.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
            .map_or(0, |v| v.trim().parse().expect("a counter value"))
    }

    /// A service's whole `/metrics` exposition.
    pub async fn metrics_text(&self, base: &str) -> String {
        self.http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics text")
    }

    /// Polls `/readyz` until it answers 200 (at most 10 s).
    pub async fn wait_ready(&self, base: &str) {
        for _ in 0..200 {
            let ready = self.http.get(format!("{base}/readyz")).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{base} did not become ready within 10 s");
    }

    /// A token response for a password login.
    pub async fn login_response(&self, user: &str, password: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/oauth2/token", self.issuer))
            .form(&[
                ("grant_type", "password"),
                ("client_id", CLI_CLIENT),
                ("username", user),
                ("password", password),
            ])
            .send()
            .await
            .expect("token endpoint answers")
    }

    /// Logs in and returns (access token, refresh token).
    pub async fn login(&self, user: &str) -> (String, String) {
        let response = self.login_response(user, PASSWORD).await;
        assert_eq!(response.status(), 200, "login of {user} succeeds");
        let body: serde_json::Value = response.json().await.expect("json");
        (
            body["access_token"]
                .as_str()
                .expect("access_token")
                .to_string(),
            body["refresh_token"]
                .as_str()
                .expect("refresh_token")
                .to_string(),
        )
    }

    /// The data API's URL of an item.
    pub fn item_url(&self, id: &str) -> String {
        format!("{}/v1/items/{id}", self.data_api)
    }
}
