//! Redis and PostgreSQL in containers (and a local `redis-server` for the benchmarks).

use std::time::Duration;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage};

/// A Redis server in a container, removed when dropped.
pub struct RedisContainer {
    /// Keeps the container alive.
    pub container: ContainerAsync<GenericImage>,
    /// `redis://host:port`.
    pub url: String,
}

/// Splits `name[:tag]`, where a colon before the last `/` belongs to a registry host.
pub(crate) fn image_name_and_tag(image: &str) -> (String, String) {
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
    let address = published(&container, 6379).await;
    RedisContainer {
        container,
        url: format!("redis://{address}"),
    }
}

/// `host:port` where the tests reach `port` of `container`.
pub(crate) async fn published(container: &ContainerAsync<GenericImage>, port: u16) -> String {
    let host = container.get_host().await.expect("container host");
    let port = container
        .get_host_port_ipv4(port.tcp())
        .await
        .unwrap_or_else(|e| panic!("container port {port} is not published: {e}"));
    format!("{host}:{port}")
}

/// Waits until the PostgreSQL at `url` accepts a login (with `ca`, over verified TLS): some
/// images announce readiness once for a temporary set-up server, so the first logins may fail.
pub(crate) async fn await_postgres_login(url: &str, ca: Option<&std::path::Path>, image: &str) {
    for _ in 0..100 {
        let probe = portcullis_store::PgItemStore::connect(url, ca, 1, Duration::from_secs(2));
        if probe.await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("PostgreSQL in {image} never accepted a login");
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
    let address = published(&container, 5432).await;
    let url = format!("postgres://postgres:portcullis-test@{address}/postgres");
    await_postgres_login(&url, None, &image).await;
    PostgresContainer { container, url }
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

/// A Redis master, one replica and one Sentinel (quorum 1), each a container on the host
/// network (so the addresses the Sentinel hands out are the ones the services reach).
pub struct RedisSentinelSet {
    /// The master at start; stop it to make the Sentinel promote the replica.
    pub master: ContainerAsync<GenericImage>,
    /// The replica at start.
    pub replica: ContainerAsync<GenericImage>,
    _sentinel: ContainerAsync<GenericImage>,
    /// `redis://127.0.0.1:PORT` of the master at start.
    pub master_url: String,
    /// `127.0.0.1:PORT` of the Sentinel.
    pub sentinel: String,
    /// The name the Sentinel monitors the master under.
    pub master_name: &'static str,
}

/// Starts a master, a replica (synced) and a Sentinel that marks the master down after 1 s.
/// Debian's image has no `redis-sentinel` link; `redis-server FILE --sentinel` is the same.
pub async fn start_redis_sentinel() -> RedisSentinelSet {
    use testcontainers::ImageExt;
    let image = std::env::var("PORTCULLIS_REDIS_IMAGE").unwrap_or_else(|_| "redis:7".to_string());
    let (name, tag) = image_name_and_tag(&image);
    let (master_port, replica_port, sentinel_port) = (
        free_cluster_port(),
        free_cluster_port(),
        free_cluster_port(),
    );
    let node = |port: u16, extra: Vec<String>, ready: &'static str| {
        let mut cmd = vec![
            "redis-server".to_string(),
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--protected-mode".into(),
            "no".into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
        ];
        cmd.extend(extra);
        GenericImage::new(name.clone(), tag.clone())
            .with_wait_for(WaitFor::message_on_stdout(ready))
            .with_network("host")
            .with_cmd(cmd)
    };
    let master = node(master_port, vec![], "Ready to accept connections")
        .start()
        .await
        .unwrap_or_else(|e| panic!("cannot start a Redis master from {image}: {e}"));
    let replica = node(
        replica_port,
        vec![
            "--replicaof".into(),
            "127.0.0.1".into(),
            master_port.to_string(),
        ],
        "MASTER <-> REPLICA sync: Finished with success",
    )
    .start()
    .await
    .unwrap_or_else(|e| panic!("cannot start a Redis replica from {image}: {e}"));
    let master_name = "portcullis";
    let config = format!(
        "port {sentinel_port}\nbind 127.0.0.1\nprotected-mode no\n\
         sentinel monitor {master_name} 127.0.0.1 {master_port} 1\n\
         sentinel down-after-milliseconds {master_name} 1000\n\
         sentinel failover-timeout {master_name} 5000\n"
    );
    let sentinel = GenericImage::new(name.clone(), tag.clone())
        .with_entrypoint("sh")
        .with_wait_for(WaitFor::message_on_stdout("+monitor master"))
        .with_network("host")
        .with_cmd([
            "-c".to_string(),
            format!(
                "printf '{config}' > /tmp/sentinel.conf && exec redis-server /tmp/sentinel.conf --sentinel"
            ),
        ])
        .start()
        .await
        .unwrap_or_else(|e| panic!("cannot start a Redis Sentinel from {image}: {e}"));
    RedisSentinelSet {
        master,
        replica,
        _sentinel: sentinel,
        master_url: format!("redis://127.0.0.1:{master_port}"),
        sentinel: format!("127.0.0.1:{sentinel_port}"),
        master_name,
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
