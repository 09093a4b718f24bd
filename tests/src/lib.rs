//! Support for the workspace-level suites: a full stack (issuer + data API) on 127.0.0.1:0 with
//! known users, Redis and PostgreSQL in containers, and a bounded background [`Load`] for the
//! fault-injection suites.
//!
//! Containers come from `PORTCULLIS_REDIS_IMAGE` (default: the public `redis:7` image) and
//! `PORTCULLIS_POSTGRES_IMAGE` (default `postgres:16`). When Docker is unavailable the container
//! helpers panic with the reason: a suite that needs a container fails loudly, it never passes
//! by skipping.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage};

/// Password of every test user.
pub const PASSWORD: &str = "correct horse battery staple";

/// The public client of the contract.
pub const CLI_CLIENT: &str = "portcullis-cli";

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
    issuer_config: auth_issuer::Config,
}

/// Adjusts a data API's configuration before it starts.
pub type DataApiTweak = Arc<dyn Fn(&mut data_api::Config) + Send + Sync>;

/// Adjusts an issuer's configuration before it starts.
pub type IssuerTweak = Arc<dyn Fn(&mut auth_issuer::Config) + Send + Sync>;

/// An issuer tweak that turns the refresh grace window off: a re-presented refresh token is
/// reuse at once, for suites that exercise reuse detection without waiting the window out.
pub fn strict_refresh_reuse() -> Option<IssuerTweak> {
    Some(Arc::new(|config: &mut auth_issuer::Config| {
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
}

fn users_toml() -> String {
    let hash = portcullis_store::hash_password(PASSWORD).expect("hash");
    let user = |name: &str, scopes: &str| {
        format!(
            "[[users]]\nusername = \"{name}\"\npassword_hash = \"{hash}\"\nscopes = [{scopes}]\n\n"
        )
    };
    format!(
        "{}{}{}[[clients]]\nclient_id = \"portcullis-cli\"\ngrants = [\"password\", \"refresh_token\"]\nscopes = [\"items:read\", \"items:write\"]\naudience = [\"data-api\"]\n\n[[clients]]\nclient_id = \"reporting-job\"\nsecret_hash = \"{hash}\"\ngrants = [\"client_credentials\"]\nscopes = [\"items:read\"]\naudience = [\"data-api\"]\n\n[[clients]]\nclient_id = \"data-api\"\nsecret_hash = \"{hash}\"\ngrants = [\"client_credentials\"]\nscopes = [\"items:read\"]\naudience = [\"data-api\"]\n",
        user("alice", "\"items:read\", \"items:write\""),
        user("bob", "\"items:read\", \"items:write\""),
        user("reader", "\"items:read\""),
    )
}

/// The users file of every stack, for suites that wire the issuer's parts themselves.
pub fn test_users_toml() -> String {
    users_toml()
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
        let users = dir.path().join("users.toml");
        std::fs::write(&users, users_toml()).expect("write users");

        let issuer_listener = listener().await;
        let issuer_url = format!("http://{}", issuer_listener.local_addr().expect("addr"));
        let mut issuer = auth_issuer::Config::from_env().expect("issuer defaults");
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
        let mut data = data_api::Config::from_env().expect("data api defaults");
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
        let app = data_api::build_with_listener(data, data_listener)
            .await
            .expect("data api starts");
        tokio::spawn(app.run_until(std::future::pending()));
        url
    }

    /// Builds and spawns an issuer; the returned sender stops it.
    async fn run_issuer(
        config: auth_issuer::Config,
        listener: tokio::net::TcpListener,
    ) -> tokio::sync::oneshot::Sender<()> {
        let issuer = auth_issuer::build_with_listener(config, listener)
            .await
            .expect("issuer starts");
        let (issuer_shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(issuer.run_until(async {
            let _ = stopped.await;
        }));
        issuer_shutdown
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
        let text = self
            .http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .find_map(|line| line.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
            .map_or(0, |v| v.trim().parse().expect("a counter value"))
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

/// Builds a compact JWS from arbitrary header and claims, signed RS256 with the PEM key: for
/// crafting the hostile tokens a conformance suite needs.
pub fn sign_rs256(pem: &str, header: &serde_json::Value, claims: &serde_json::Value) -> String {
    let key = portcullis_jwt::SigningKey::from_pem(pem).expect("an RSA key");
    let signing_input = format!("{}.{}", b64_json(header), b64_json(claims));
    let signature = key.sign(signing_input.as_bytes()).expect("sign");
    format!("{signing_input}.{}", b64(&signature))
}

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// base64url of a JSON value.
pub fn b64_json(value: &serde_json::Value) -> String {
    b64(&serde_json::to_vec(value).expect("json"))
}

/// The `kid` in a JWT's header.
pub fn kid_of(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().expect("a JWT");
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .expect("base64url header"),
    )
    .expect("JSON header");
    header["kid"].as_str().expect("a kid").to_string()
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// A Redis server in a container, removed when dropped.
pub struct RedisContainer {
    /// Keeps the container alive.
    pub container: ContainerAsync<GenericImage>,
    /// `redis://host:port`.
    pub url: String,
}

/// Splits `name[:tag]`, where a colon before the last `/` belongs to a registry host.
fn image_name_and_tag(image: &str) -> (String, String) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_string(), tag.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    }
}

/// Starts Redis from `PORTCULLIS_REDIS_IMAGE` (default `redis:7`). Panics with the reason if
/// Docker or the image is unavailable.
pub async fn start_redis() -> RedisContainer {
    start_redis_with(None).await
}

/// Like [`start_redis`], published on a fixed host port, so the address survives a container
/// stop and start (fault tests restart Redis under the services' feet).
pub async fn start_redis_on_fixed_port() -> RedisContainer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    start_redis_with(Some(port)).await
}

async fn start_redis_with(host_port: Option<u16>) -> RedisContainer {
    use testcontainers::ImageExt;
    let image = std::env::var("PORTCULLIS_REDIS_IMAGE").unwrap_or_else(|_| "redis:7".to_string());
    let (name, tag) = image_name_and_tag(&image);
    let request = GenericImage::new(name, tag)
        .with_exposed_port(6379.tcp())
        .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"));
    let started = match host_port {
        Some(port) => request.with_mapped_port(port, 6379.tcp()).start().await,
        None => request.start().await,
    };
    let container = started
        .unwrap_or_else(|e| {
            panic!("cannot start Redis from image {image} (is Docker running, is the image built? see scripts/build-images.sh): {e}")
        });
    let host = container.get_host().await.expect("container host");
    let port = container
        .get_host_port_ipv4(6379.tcp())
        .await
        .expect("redis port");
    RedisContainer {
        container,
        url: format!("redis://{host}:{port}"),
    }
}

/// A `redis-server` process on a free loopback port, stopped on drop: the benchmarks measure
/// Redis itself, without a container network in the way. Needs Debian's `redis-server`.
pub struct LocalRedisServer {
    process: std::process::Child,
    /// The port it listens on (for `redis-benchmark`).
    pub port: u16,
    /// A connection to it.
    pub connection: portcullis_redis::ConnectionManager,
}

impl Drop for LocalRedisServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Starts the server and connects to it (waiting at most 5 s).
pub async fn start_local_redis_server() -> LocalRedisServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut process = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server is installed (apt-get install redis-server)");
    let url = format!("redis://127.0.0.1:{port}");
    for _ in 0..50 {
        if let Ok(connection) = portcullis_redis::connect(&url, Duration::from_secs(1)).await {
            return LocalRedisServer {
                process,
                port,
                connection,
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = process.kill();
    let _ = process.wait();
    panic!("redis-server on port {port} never accepted a connection");
}

/// A PostgreSQL server in a container, removed when dropped.
pub struct PostgresContainer {
    /// Keeps the container alive.
    pub container: ContainerAsync<GenericImage>,
    /// `postgres://postgres:...@host:port/postgres`.
    pub url: String,
}

/// Starts PostgreSQL from `PORTCULLIS_POSTGRES_IMAGE` (default `postgres:16`) and waits until it
/// accepts a login. Panics with the reason if Docker or the image is unavailable.
pub async fn start_postgres() -> PostgresContainer {
    start_postgres_with(None).await
}

/// Like [`start_postgres`], published on a fixed host port, so the address (and the services'
/// connection URL) survives a container stop and start (fault tests restart the database under
/// the services' feet). The data lives in the container, so it survives the restart too.
pub async fn start_postgres_on_fixed_port() -> PostgresContainer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    start_postgres_with(Some(port)).await
}

async fn start_postgres_with(host_port: Option<u16>) -> PostgresContainer {
    use testcontainers::ImageExt;
    let image =
        std::env::var("PORTCULLIS_POSTGRES_IMAGE").unwrap_or_else(|_| "postgres:16".to_string());
    let (name, tag) = image_name_and_tag(&image);
    let request = GenericImage::new(name, tag)
        .with_exposed_port(5432.tcp())
        .with_wait_for(WaitFor::message_on_stderr(
            "database system is ready to accept connections",
        ))
        .with_env_var("POSTGRES_PASSWORD", "portcullis-test");
    let started = match host_port {
        Some(port) => request.with_mapped_port(port, 5432.tcp()).start().await,
        None => request.start().await,
    };
    let container = started.unwrap_or_else(|e| {
        panic!("cannot start PostgreSQL from image {image} (is Docker running, is the image built? see scripts/build-images.sh): {e}")
    });
    let host = container.get_host().await.expect("container host");
    let port = container
        .get_host_port_ipv4(5432.tcp())
        .await
        .expect("postgres port");
    let url = format!("postgres://postgres:portcullis-test@{host}:{port}/postgres");
    // Some images announce readiness once for a temporary set-up server: retry the first login.
    for _ in 0..100 {
        let probe = portcullis_store::PgItemStore::connect(&url, 1, Duration::from_secs(2)).await;
        if probe.is_ok() {
            return PostgresContainer { container, url };
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("PostgreSQL in {image} never accepted a login");
}

/// A three-master Redis Cluster: three containers of `PORTCULLIS_REDIS_IMAGE` on the host's
/// network (so the nodes, and the tests, reach each other on 127.0.0.1), removed when dropped.
pub struct RedisCluster {
    _nodes: Vec<ContainerAsync<GenericImage>>,
    /// `redis://127.0.0.1:PORT` of each master.
    pub urls: Vec<String>,
}

/// A port whose cluster-bus twin (port + 10000) is free too.
fn free_cluster_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        if port <= 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// Starts the cluster and waits until it serves. Panics with the reason if Docker or the image
/// is unavailable.
pub async fn start_redis_cluster() -> RedisCluster {
    use testcontainers::core::ExecCommand;
    use testcontainers::ImageExt;
    let image = std::env::var("PORTCULLIS_REDIS_IMAGE").unwrap_or_else(|_| "redis:7".to_string());
    let (name, tag) = image_name_and_tag(&image);
    let mut nodes = Vec::new();
    let mut addresses = Vec::new();
    for _ in 0..3 {
        let port = free_cluster_port().to_string();
        let node = GenericImage::new(name.clone(), tag.clone())
            .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
            .with_network("host")
            .with_cmd([
                "redis-server",
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--protected-mode",
                "no",
                "--cluster-enabled",
                "yes",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .start()
            .await
            .unwrap_or_else(|e| panic!("cannot start a Redis Cluster node from {image}: {e}"));
        nodes.push(node);
        addresses.push(format!("127.0.0.1:{port}"));
    }
    let mut create = vec!["redis-cli", "--cluster", "create"];
    create.extend(addresses.iter().map(String::as_str));
    create.extend(["--cluster-replicas", "0", "--cluster-yes"]);
    let mut result = nodes[0]
        .exec(ExecCommand::new(create))
        .await
        .expect("redis-cli runs");
    let output =
        String::from_utf8_lossy(&result.stdout_to_vec().await.unwrap_or_default()).into_owned();
    assert!(
        output.contains("All 16384 slots covered"),
        "cluster creation failed: {output}"
    );
    let cluster = RedisCluster {
        _nodes: nodes,
        urls: addresses.iter().map(|a| format!("redis://{a}")).collect(),
    };
    for url in &cluster.urls {
        let client = redis::Client::open(url.as_str()).expect("url");
        let mut ok = false;
        for _ in 0..100 {
            if let Ok(mut connection) = client.get_multiplexed_async_connection().await {
                let info: redis::RedisResult<String> = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async(&mut connection)
                    .await;
                if info.is_ok_and(|i| i.contains("cluster_state:ok")) {
                    ok = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ok, "{url} never reported cluster_state:ok");
    }
    cluster
}

/// How a [`Load`] runs: a few clients, each a sequential loop of GETs and PUTs of its own items
/// through the replicas in turn, every request bounded by a client-side timeout.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Concurrent clients.
    pub clients: usize,
    /// Items each client owns and cycles through (written before the load starts, so a read
    /// never meets "not found").
    pub items_per_client: usize,
    /// One request in `put_every` is a PUT, the others are GETs.
    pub put_every: usize,
    /// Pause between two requests of one client (keeps the load bounded).
    pub pause: Duration,
    /// Client-side bound of every request: a slower answer counts as [`Outcome::Timeout`].
    pub timeout: Duration,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            clients: 4,
            items_per_client: 4,
            put_every: 3,
            pause: Duration::from_millis(20),
            timeout: Duration::from_secs(2),
        }
    }
}

/// What one request of a [`Load`] got.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// An answer; `problem` says whether it was `application/problem+json`.
    Status {
        /// The status code.
        code: u16,
        /// `Content-Type: application/problem+json`.
        problem: bool,
    },
    /// No complete answer within the client-side timeout.
    Timeout,
    /// A transport failure (refused, reset, ...), by kind.
    Error(&'static str),
}

impl Outcome {
    /// A 2xx answer.
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Status { code, .. } if (200..300).contains(code))
    }

    /// A 503 RFC 9457 problem: the documented answer while the item store is down.
    pub fn is_unavailable_problem(&self) -> bool {
        matches!(
            self,
            Self::Status {
                code: 503,
                problem: true
            }
        )
    }

    /// A short label for the printed figures (`200`, `503 problem`, `timeout`, ...).
    pub fn label(&self) -> String {
        match self {
            Self::Status { code, problem } if *problem => format!("{code} problem"),
            Self::Status { code, .. } => code.to_string(),
            Self::Timeout => "timeout".to_string(),
            Self::Error(kind) => format!("error ({kind})"),
        }
    }
}

/// One request of a [`Load`].
#[derive(Clone, Debug)]
pub struct Sample {
    /// The phase the test had set when the request was sent.
    pub phase: &'static str,
    /// The phase in force when the answer (or the timeout) came: a request sent just before a
    /// fault may be answered during it.
    pub answered_in: &'static str,
    /// `GET` or `PUT`.
    pub method: &'static str,
    /// Index of the replica it went to.
    pub replica: usize,
    /// What it got.
    pub outcome: Outcome,
    /// How long it took (at most about the client timeout).
    pub latency: Duration,
}

/// What a [`Load`] wrote to one item: enough to say, after the faults, whether every
/// acknowledged write is still there.
#[derive(Clone, Debug, Default)]
pub struct WriteLog {
    /// The client that owns it (its token is the owner).
    pub client: usize,
    /// The last write answered 2xx: (version, sequence number written in its data).
    pub acked: Option<(u64, u64)>,
    /// Sequence numbers of writes that got no 2xx: each may or may not have committed.
    pub unacked: Vec<u64>,
}

/// A bounded background load on the data API replicas; [`Load::stop`] ends it and returns what
/// every request got. The test names phases (`before`, `fault`, ...) as it goes, and each
/// request is recorded under the phase in force when it was sent.
pub struct Load {
    phase: Arc<Mutex<&'static str>>,
    stop: Arc<AtomicBool>,
    clients: Vec<tokio::task::JoinHandle<ClientLog>>,
    tokens: Vec<String>,
}

struct ClientLog {
    samples: Vec<Sample>,
    writes: BTreeMap<String, WriteLog>,
    stale_reads: Vec<String>,
}

/// The item ids of one load client.
fn load_ids(client: usize, count: usize) -> Vec<String> {
    (0..count).map(|k| format!("load-{client}-{k}")).collect()
}

/// The version and the `seq` written in the data of an item answer.
fn version_and_seq(body: &serde_json::Value) -> (Option<u64>, Option<u64>) {
    (body["version"].as_u64(), body["data"]["seq"].as_u64())
}

struct LoadClient {
    index: usize,
    http: reqwest::Client,
    replicas: Vec<String>,
    token: String,
    options: LoadOptions,
}

impl LoadClient {
    /// Sends one request; returns its sample and, for a 200, the body.
    async fn send(
        &self,
        phase: &Mutex<&'static str>,
        replica: usize,
        id: &str,
        write: Option<u64>,
    ) -> (Sample, Option<serde_json::Value>) {
        let current = || *phase.lock().unwrap_or_else(|e| e.into_inner());
        let sent_in = current();
        let url = format!("{}/v1/items/{id}", self.replicas[replica]);
        let request = match write {
            Some(seq) => self.http.put(url).json(&serde_json::json!({
                "data": {"client": self.index, "seq": seq}
            })),
            None => self.http.get(url),
        }
        .bearer_auth(&self.token);
        let started = Instant::now();
        let answer = async {
            let response = request.send().await?;
            let code = response.status().as_u16();
            let problem = response
                .headers()
                .get("content-type")
                .is_some_and(|v| v == "application/problem+json");
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((code, problem, body))
        };
        // The client's own timeout bounds the request; this one only guards the guard.
        let bound = self.options.timeout + Duration::from_millis(500);
        let (outcome, body) = match tokio::time::timeout(bound, answer).await {
            Err(_) => (Outcome::Timeout, None),
            Ok(Err(e)) if e.is_timeout() => (Outcome::Timeout, None),
            Ok(Err(e)) => {
                let kind = if e.is_connect() {
                    "connect"
                } else if e.is_body() || e.is_decode() {
                    "body"
                } else {
                    "request"
                };
                (Outcome::Error(kind), None)
            }
            Ok(Ok((code, problem, body))) => {
                let json = (code == 200)
                    .then(|| serde_json::from_slice(&body).ok())
                    .flatten();
                (Outcome::Status { code, problem }, json)
            }
        };
        let sample = Sample {
            phase: sent_in,
            answered_in: current(),
            method: if write.is_some() { "PUT" } else { "GET" },
            replica,
            outcome,
            latency: started.elapsed(),
        };
        (sample, body)
    }

    async fn run(self, phase: Arc<Mutex<&'static str>>, stop: Arc<AtomicBool>) -> ClientLog {
        let ids = load_ids(self.index, self.options.items_per_client);
        let mut log = ClientLog {
            samples: Vec::new(),
            writes: BTreeMap::new(),
            stale_reads: Vec::new(),
        };
        let mut seq = 0u64;
        // Every item is written once before the load starts; these must succeed.
        for (k, id) in ids.iter().enumerate() {
            seq += 1;
            let replica = (self.index + k) % self.replicas.len();
            let (sample, body) = self
                .send(&Mutex::new("setup"), replica, id, Some(seq))
                .await;
            let version = body.as_ref().and_then(|b| version_and_seq(b).0);
            let version = version.unwrap_or_else(|| {
                panic!("setup write of {id} failed: {}", sample.outcome.label())
            });
            log.writes.insert(
                id.clone(),
                WriteLog {
                    client: self.index,
                    acked: Some((version, seq)),
                    unacked: Vec::new(),
                },
            );
        }
        let mut i = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let n = ids.len();
            let id = &ids[i % n];
            // Each round over the items moves to the next replica, so every item is read and
            // written through every replica.
            let replica = (i / n + self.index) % self.replicas.len();
            let write = (i % self.options.put_every == 0).then(|| {
                seq += 1;
                seq
            });
            let (sample, body) = self.send(&phase, replica, id, write).await;
            let current = sample.phase;
            let entry = log.writes.get_mut(id).expect("every item was written");
            match (write, body.as_ref().map(version_and_seq)) {
                (Some(seq), Some((Some(version), _))) if sample.outcome.is_success() => {
                    entry.acked = Some((version, seq));
                }
                (Some(seq), _) => entry.unacked.push(seq),
                (None, Some((Some(version), read_seq))) => {
                    if let Some((acked, acked_seq)) = entry.acked {
                        if version < acked {
                            log.stale_reads.push(format!(
                                "{id} via replica {replica} in phase {current}: read version {version} (seq {read_seq:?}) after the write of version {acked} (seq {acked_seq}) was acknowledged"
                            ));
                        }
                    }
                }
                (None, _) => {}
            }
            log.samples.push(sample);
            i += 1;
            tokio::time::sleep(self.options.pause).await;
        }
        log
    }
}

impl Load {
    /// Starts the clients: client `i` uses `tokens[i % tokens.len()]` and owns the items
    /// `load-{i}-{k}`. Each client first writes its items (a failure there panics), then loops
    /// in phase `before` until [`Load::stop`].
    pub fn start(replicas: &[String], tokens: &[String], options: LoadOptions) -> Self {
        assert!(!replicas.is_empty() && !tokens.is_empty());
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .build()
            .expect("client");
        let phase = Arc::new(Mutex::new("before"));
        let stop = Arc::new(AtomicBool::new(false));
        let clients = (0..options.clients)
            .map(|index| {
                let client = LoadClient {
                    index,
                    http: http.clone(),
                    replicas: replicas.to_vec(),
                    token: tokens[index % tokens.len()].clone(),
                    options: options.clone(),
                };
                tokio::spawn(client.run(phase.clone(), stop.clone()))
            })
            .collect();
        Self {
            phase,
            stop,
            clients,
            tokens: tokens.to_vec(),
        }
    }

    /// Names the phase the next requests belong to.
    pub fn set_phase(&self, phase: &'static str) {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = phase;
    }

    /// Stops every client (each finishes its request in flight) and collects what they saw.
    pub async fn stop(self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        let mut report = LoadReport {
            samples: Vec::new(),
            writes: BTreeMap::new(),
            stale_reads: Vec::new(),
            tokens: self.tokens,
        };
        for client in self.clients {
            let log = client.await.expect("a load client panicked");
            report.samples.extend(log.samples);
            report.writes.extend(log.writes);
            report.stale_reads.extend(log.stale_reads);
        }
        report
    }
}

/// Everything a [`Load`] saw.
pub struct LoadReport {
    /// Every request after the set-up writes, in no particular order.
    pub samples: Vec<Sample>,
    /// What was written to each item.
    pub writes: BTreeMap<String, WriteLog>,
    /// Reads that returned an older version than an already acknowledged write of the same
    /// client: the cache served a value the README promises is gone.
    pub stale_reads: Vec<String>,
    tokens: Vec<String>,
}

impl LoadReport {
    /// The requests sent in `phase`.
    pub fn phase(&self, phase: &str) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.phase == phase).collect()
    }

    /// The slowest request sent in `phase`.
    pub fn worst_latency(&self, phase: &str) -> Duration {
        self.phase(phase)
            .iter()
            .map(|s| s.latency)
            .max()
            .unwrap_or_default()
    }

    /// Outcomes of the requests of `phase`, as `label -> count` (labels carry the method).
    pub fn outcomes(&self, phase: &str) -> BTreeMap<String, usize> {
        let mut outcomes = BTreeMap::new();
        for sample in self.phase(phase) {
            *outcomes
                .entry(format!("{} {}", sample.method, sample.outcome.label()))
                .or_insert(0) += 1;
        }
        outcomes
    }

    /// Prints the figures of every phase in `phases`: requests, outcomes by status, worst
    /// latency (run the suite with `--no-capture` to see them).
    pub fn print(&self, title: &str, phases: &[&str]) {
        println!("== {title}: {} requests", self.samples.len());
        for phase in phases {
            let samples = self.phase(phase);
            let outcomes: Vec<String> = self
                .outcomes(phase)
                .into_iter()
                .map(|(label, count)| format!("{label}: {count}"))
                .collect();
            println!(
                "   {phase:<9} {:>5} requests, worst latency {:>8.1?}; {}",
                samples.len(),
                self.worst_latency(phase),
                outcomes.join(", ")
            );
        }
    }

    /// Reads every item through every replica and returns what contradicts the writes: an
    /// item must show its last acknowledged version and data, or a later version carrying one
    /// of the writes that got no answer (those may have committed). Empty when nothing
    /// written was lost.
    pub async fn lost_writes(&self, replicas: &[String]) -> Vec<String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        let mut lost = Vec::new();
        for (id, log) in &self.writes {
            let Some((acked, acked_seq)) = log.acked else {
                continue;
            };
            let token = &self.tokens[log.client % self.tokens.len()];
            for (r, replica) in replicas.iter().enumerate() {
                let read = http
                    .get(format!("{replica}/v1/items/{id}"))
                    .bearer_auth(token)
                    .send()
                    .await;
                let body = match read {
                    Ok(response) if response.status() == 200 => {
                        response.json::<serde_json::Value>().await.ok()
                    }
                    Ok(response) => {
                        lost.push(format!("{id} via replica {r}: {}", response.status()));
                        continue;
                    }
                    Err(e) => {
                        lost.push(format!("{id} via replica {r}: {e}"));
                        continue;
                    }
                };
                let (version, seq) = body.as_ref().map_or((None, None), version_and_seq);
                let fine = match (version, seq) {
                    (Some(v), Some(s)) if v == acked => s == acked_seq,
                    (Some(v), Some(s)) if v > acked => log.unacked.contains(&s),
                    _ => false,
                };
                if !fine {
                    lost.push(format!(
                        "{id} via replica {r}: version {version:?} seq {seq:?}, but the write of version {acked} (seq {acked_seq}) was acknowledged (unacknowledged writes: {:?})",
                        log.unacked
                    ));
                }
            }
        }
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::image_name_and_tag;

    #[test]
    fn image_names_split_on_the_tag_colon_only() {
        assert_eq!(image_name_and_tag("redis:7"), ("redis".into(), "7".into()));
        assert_eq!(
            image_name_and_tag("redis"),
            ("redis".into(), "latest".into())
        );
        assert_eq!(
            image_name_and_tag("localhost:5000/portcullis/redis:bookworm"),
            ("localhost:5000/portcullis/redis".into(), "bookworm".into())
        );
        assert_eq!(
            image_name_and_tag("localhost:5000/redis"),
            ("localhost:5000/redis".into(), "latest".into())
        );
    }
}
