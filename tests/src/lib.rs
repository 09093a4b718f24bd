//! Support for the workspace-level suites: a full stack (issuer + data API) on 127.0.0.1:0 with
//! known users, and Redis in a container.
//!
//! Containers come from `PORTCULLIS_REDIS_IMAGE` (default: the public `redis:7` image). When
//! Docker is unavailable the container helpers panic with the reason: a suite that needs Redis
//! fails loudly, it never passes by skipping.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage};

/// Password of every test user.
pub const PASSWORD: &str = "correct horse battery staple";

/// The public client of the contract.
pub const CLI_CLIENT: &str = "portcullis-cli";

/// A running issuer and data API with users `alice`, `bob` (read and write) and `reader`
/// (read only), the public client `portcullis-cli`, and the confidential client `reporting-job`.
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
}

/// Adjusts a data API's configuration before it starts.
pub type DataApiTweak = Arc<dyn Fn(&mut data_api::Config) + Send + Sync>;

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
}

fn users_toml() -> String {
    let hash = portcullis_store::hash_password(PASSWORD).expect("hash");
    let user = |name: &str, scopes: &str| {
        format!(
            "[[users]]\nusername = \"{name}\"\npassword_hash = \"{hash}\"\nscopes = [{scopes}]\n\n"
        )
    };
    format!(
        "{}{}{}[[clients]]\nclient_id = \"portcullis-cli\"\ngrants = [\"password\", \"refresh_token\"]\nscopes = [\"items:read\", \"items:write\"]\naudience = [\"data-api\"]\n\n[[clients]]\nclient_id = \"reporting-job\"\nsecret_hash = \"{hash}\"\ngrants = [\"client_credentials\"]\nscopes = [\"items:read\"]\naudience = [\"data-api\"]\n",
        user("alice", "\"items:read\", \"items:write\""),
        user("bob", "\"items:read\", \"items:write\""),
        user("reader", "\"items:read\""),
    )
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
        let issuer = auth_issuer::build_with_listener(issuer, issuer_listener)
            .await
            .expect("issuer starts");
        let (issuer_shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(issuer.run_until(async {
            let _ = stopped.await;
        }));

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
    pub connection: portcullis_ratelimit::ConnectionManager,
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
        if let Ok(connection) =
            portcullis_ratelimit::connect_redis(&url, Duration::from_secs(1)).await
        {
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
    use testcontainers::ImageExt;
    let image =
        std::env::var("PORTCULLIS_POSTGRES_IMAGE").unwrap_or_else(|_| "postgres:16".to_string());
    let (name, tag) = image_name_and_tag(&image);
    let container = GenericImage::new(name, tag)
        .with_exposed_port(5432.tcp())
        .with_wait_for(WaitFor::message_on_stderr("database system is ready to accept connections"))
        .with_env_var("POSTGRES_PASSWORD", "portcullis-test")
        .start()
        .await
        .unwrap_or_else(|e| {
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
