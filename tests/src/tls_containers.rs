//! Redis and PostgreSQL in containers that speak TLS only, with certificates from a [`TestCa`]:
//! what managed Redis and TLS-only databases look like to the services.

use crate::certs::TestCa;
use crate::containers::{await_postgres_login, published};
use std::path::PathBuf;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

/// The ACL user the TLS Redis admits (`default` is off), and its password.
pub const REDIS_USER: &str = "portcullis";
/// The password of [`REDIS_USER`]; tests check it never shows in logs or answers.
pub const REDIS_PASSWORD: &str = "s3cret-acl-Passw0rd";

/// The files a test trusts and presents: the CA, and a client certificate it signed.
pub struct TlsFiles {
    /// Keeps the files alive.
    pub dir: tempfile::TempDir,
    /// The CA certificate (PEM): `*_REDIS_CA`, `DATA_API_DATABASE_CA`.
    pub ca: PathBuf,
    /// A client certificate signed by the CA (PEM).
    pub client_cert: PathBuf,
    /// Its private key (PEM).
    pub client_key: PathBuf,
}

/// A TLS-only server in a container, removed when dropped.
pub struct TlsServer {
    /// Keeps the container alive.
    pub container: ContainerAsync<GenericImage>,
    /// The URL to reach it with credentials: `rediss://portcullis:...@host:port` or
    /// `postgres://postgres:...@host:port/postgres`.
    pub url: String,
    /// The CA that signed the server's certificate, and a client pair from it.
    pub files: TlsFiles,
}

/// A CA, a server pair for `localhost` / `127.0.0.1`, and a client pair, as files in a new
/// directory; returns them with the server's PEM certificate and key.
fn files(ca: &TestCa) -> (TlsFiles, Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name);
    ca.write_pem(&path("ca.pem"));
    ca.write_server_pair(&path("server.crt"), &path("server.key"));
    ca.write_client_pair("data-api", &path("client.crt"), &path("client.key"));
    let read = |name: &str| std::fs::read(path(name)).expect("read a written file");
    let (cert, key) = (read("server.crt"), read("server.key"));
    let files = TlsFiles {
        ca: path("ca.pem"),
        client_cert: path("client.crt"),
        client_key: path("client.key"),
        dir,
    };
    (files, cert, key)
}

fn image(variable: &str, default: &str) -> (String, String, String) {
    let image = std::env::var(variable).unwrap_or_else(|_| default.to_string());
    let (name, tag) = crate::containers::image_name_and_tag(&image);
    (image, name, tag)
}

/// Redis from `PORTCULLIS_REDIS_IMAGE` listening with TLS only (`--port 0`), its certificate
/// signed by `ca`, the ACL user [`REDIS_USER`] limited to the `portcullis:*` keys and `default`
/// disabled. With `require_client_cert`, clients must show a certificate `ca` signed. Panics
/// with the reason if Docker or the image is unavailable.
pub async fn start_redis_tls(ca: &TestCa, require_client_cert: bool) -> TlsServer {
    let (image, name, tag) = image("PORTCULLIS_REDIS_IMAGE", "redis:7");
    let (files, cert, key) = files(ca);
    let user = format!(">{REDIS_PASSWORD}");
    let auth_clients = if require_client_cert { "yes" } else { "no" };
    let container = GenericImage::new(name, tag)
        .with_exposed_port(6380.tcp())
        .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
        .with_copy_to("/tmp/tls/server.crt", cert)
        .with_copy_to("/tmp/tls/server.key", key)
        .with_copy_to("/tmp/tls/ca.pem", files.ca.clone())
        .with_cmd([
            "redis-server",
            "--port",
            "0",
            "--tls-port",
            "6380",
            "--tls-cert-file",
            "/tmp/tls/server.crt",
            "--tls-key-file",
            "/tmp/tls/server.key",
            "--tls-ca-cert-file",
            "/tmp/tls/ca.pem",
            "--tls-auth-clients",
            auth_clients,
            "--save",
            "",
            "--appendonly",
            "no",
            "--user",
            "default",
            "off",
            "--user",
            REDIS_USER,
            "on",
            &user,
            "~portcullis:*",
            "&portcullis:*",
            "+@all",
            "-@dangerous",
        ])
        .start()
        .await
        .unwrap_or_else(|e| {
            panic!("cannot start a TLS Redis from image {image} (is Docker running, is the image built? see scripts/build-images.sh): {e}")
        });
    let address = published(&container, 6380).await;
    TlsServer {
        container,
        url: format!("rediss://{REDIS_USER}:{REDIS_PASSWORD}@{address}"),
        files,
    }
}

/// PostgreSQL from `PORTCULLIS_POSTGRES_IMAGE` with `ssl=on`, its certificate signed by `ca`,
/// admitting TCP clients over TLS only (`hostssl`), and waits until a TLS login works. Panics
/// with the reason if Docker or the image is unavailable.
pub async fn start_postgres_tls(ca: &TestCa) -> TlsServer {
    let (image, name, tag) = image("PORTCULLIS_POSTGRES_IMAGE", "postgres:16");
    let (files, cert, key) = files(ca);
    // The key must belong to the server's user and be private to it; the entrypoint runs the
    // command as root when it is not `postgres`, so this installs the key and then starts it.
    let start = "install -o postgres -g postgres -m 600 /tmp/tls/server.key /tmp/server.key \
        && exec bash /usr/local/bin/portcullis-postgres-entrypoint postgres -c ssl=on \
        -c ssl_cert_file=/tmp/tls/server.crt -c ssl_key_file=/tmp/server.key \
        -c hba_file=/tmp/tls/pg_hba.conf";
    let hba = "local all all trust\nhostssl all all all scram-sha-256\n";
    let container = GenericImage::new(name, tag)
        .with_exposed_port(5432.tcp())
        .with_wait_for(WaitFor::message_on_stderr(
            "database system is ready to accept connections",
        ))
        .with_env_var("POSTGRES_PASSWORD", "portcullis-test")
        .with_copy_to("/tmp/tls/server.crt", cert)
        .with_copy_to("/tmp/tls/server.key", key)
        .with_copy_to("/tmp/tls/pg_hba.conf", hba.as_bytes().to_vec())
        .with_cmd(["bash", "-c", start])
        .start()
        .await
        .unwrap_or_else(|e| {
            panic!("cannot start a TLS PostgreSQL from image {image} (is Docker running, is the image built? see scripts/build-images.sh): {e}")
        });
    let address = published(&container, 5432).await;
    let url = format!("postgres://postgres:portcullis-test@{address}/postgres");
    await_postgres_login(&url, Some(&files.ca), &image).await;
    TlsServer {
        container,
        url,
        files,
    }
}
