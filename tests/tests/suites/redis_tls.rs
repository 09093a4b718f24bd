//! Both services on a Redis that speaks TLS only (`--port 0`), with an ACL user limited to the
//! `portcullis:*` keys and the `default` user disabled: the limiter, the cache, refresh tokens
//! and login records all work over `rediss://`; a certificate that does not verify, a missing
//! client certificate and refused credentials each stop the start with the setting's name.
//! Needs Docker and `PORTCULLIS_REDIS_IMAGE`; without them these tests fail, they never skip.

use portcullis_domain::cause::Chain;
use portcullis_redis::{ClientIdentity, RedisSettings, RedisTls};
use portcullis_tests::{
    start_redis_tls, Stack, StackOptions, TestCa, TlsServer, UsersFile, CLI_CLIENT, REDIS_PASSWORD,
};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a service is told about the TLS Redis: its CA, and a client pair when `client` is set.
#[derive(Clone)]
struct Trust {
    ca: Option<PathBuf>,
    client: Option<(PathBuf, PathBuf)>,
}

impl Trust {
    fn of(redis: &TlsServer, client: bool) -> Self {
        Self {
            ca: Some(redis.files.ca.clone()),
            client: client.then(|| {
                (
                    redis.files.client_cert.clone(),
                    redis.files.client_key.clone(),
                )
            }),
        }
    }

    fn data_api(&self, args: &mut data_api::Args) {
        args.redis_tls.redis_ca = self.ca.clone();
        args.redis_tls.redis_client_cert = self.client.as_ref().map(|c| c.0.clone());
        args.redis_tls.redis_client_key = self.client.as_ref().map(|c| c.1.clone());
    }

    fn issuer(&self, args: &mut auth_issuer::Args) {
        args.redis_tls.redis_ca = self.ca.clone();
        args.redis_tls.redis_client_cert = self.client.as_ref().map(|c| c.0.clone());
        args.redis_tls.redis_client_key = self.client.as_ref().map(|c| c.1.clone());
    }
}

/// Both services on `redis` with `trust`, and a subject limit of 5 a minute.
async fn stack_on(redis: &TlsServer, trust: Trust) -> Stack {
    let (for_data, for_issuer) = (trust.clone(), trust);
    Stack::start_with(StackOptions {
        redis_url: Some(redis.url.clone()),
        issuer_redis_url: Some(redis.url.clone()),
        rate_limit: Some("5/min".into()),
        data_api: Some(Arc::new(move |args: &mut data_api::Args| {
            for_data.data_api(args)
        })),
        issuer: Some(Arc::new(move |args: &mut auth_issuer::Args| {
            for_issuer.issuer(args)
        })),
        ..StackOptions::default()
    })
    .await
}

/// Every key on the TLS Redis, read as the services' ACL user (SCAN: KEYS is not allowed),
/// with the client certificate (which a Redis that does not require one accepts too).
async fn keys(redis: &TlsServer) -> Vec<String> {
    let read = |path: &PathBuf| std::fs::read(path).expect("a TLS file");
    let mut settings = RedisSettings::new(redis.url.clone(), "TEST", Duration::from_secs(5));
    settings.tls = Some(RedisTls {
        ca_pem: Some(read(&redis.files.ca)),
        client: Some(ClientIdentity {
            cert_pem: read(&redis.files.client_cert),
            key_pem: read(&redis.files.client_key),
        }),
    });
    let mut connection = settings.connect().await.expect("connect over TLS");
    let (_, keys): (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("COUNT")
        .arg(10_000)
        .query_async(&mut connection)
        .await
        .expect("SCAN");
    keys
}

#[tokio::test]
async fn both_services_keep_their_state_on_a_tls_redis_with_an_acl_user() {
    let redis = start_redis_tls(&TestCa::new(), false).await;
    let stack = stack_on(&redis, Trust::of(&redis, false)).await;
    // A failed login is charged to the login limits; a good one starts a refresh-token family,
    // rotated once.
    let wrong = stack.login_response("alice", "not-the-password").await;
    assert_eq!(wrong.status(), 400);
    let (token, refresh) = stack.login("alice").await;
    let refreshed = stack
        .http
        .post(format!("{}/oauth2/token", stack.issuer))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", CLI_CLIENT),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .expect("token endpoint answers");
    assert_eq!(refreshed.status(), 200, "the refresh family lives on Redis");
    // The cache and the limiter: a write, a miss, a hit, then the limit of 5 a minute.
    let put = stack.put_item(&token, "x", &json!({"data": 1})).await;
    assert_eq!(put.status(), 200);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(stack.get_item(&token, "x").await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200]);
    let limited = stack.get_item(&token, "x").await;
    assert_eq!(limited.status(), 429);
    let metric = |series: &'static str| stack.metric(&stack.data_api, series);
    assert!(metric("portcullis_cache_requests_total{result=\"hit\"}").await >= 1);
    assert_eq!(
        metric("portcullis_ratelimit_decisions_total{decision=\"fallback\"}").await,
        0,
        "every decision came from Redis"
    );
    assert!(metric("portcullis_ratelimit_decisions_total{decision=\"limited\"}").await >= 1);
    let keys = keys(&redis).await;
    for prefix in [
        "portcullis:issuer:rl:",
        "portcullis:issuer:{rt}:",
        "portcullis:data:rl:",
        "portcullis:data:cache:",
    ] {
        assert!(
            keys.iter().any(|k| k.starts_with(prefix)),
            "no {prefix} key in {keys:?}"
        );
    }
    for base in [&stack.issuer, &stack.data_api] {
        let readiness = stack
            .http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("readyz");
        assert_eq!(readiness.status(), 200);
        let body = readiness.text().await.expect("body");
        assert!(!body.contains(REDIS_PASSWORD), "{body}");
    }
}

/// Starts a data API and an issuer on `url` with `trust`, and returns each one's start-up
/// error as one line; they must fail, and fast (no retrying what cannot heal).
async fn start_errors(url: &str, trust: &Trust) -> [String; 2] {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut data = data_api::Args::defaults();
    data.listen = "127.0.0.1:0".parse().expect("address");
    data.redis_url = Some(url.to_owned());
    data.database_url = format!("sqlite://{}", dir.path().join("items.db").display());
    trust.data_api(&mut data);
    let started = Instant::now();
    let settings = data_api::Settings::try_from(data).expect("valid settings");
    let data_error = match data_api::build(settings).await {
        Ok(_) => panic!("the data API started on a Redis it cannot trust"),
        Err(error) => Chain(&error).to_string(),
    };
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).expect("keys dir");
    std::fs::write(
        keys.join("a.pem"),
        portcullis_jwt::generate_rsa_pem().expect("key"),
    )
    .expect("write key");
    let mut issuer = auth_issuer::Args::defaults();
    issuer.listen = "127.0.0.1:0".parse().expect("address");
    issuer.keys_dir = Some(keys);
    issuer.users_file = Some(UsersFile::standard().write_in(dir.path()));
    issuer.redis_url = Some(url.to_owned());
    trust.issuer(&mut issuer);
    let settings = auth_issuer::Settings::try_from(issuer).expect("valid settings");
    let issuer_error = match auth_issuer::build(settings).await {
        Ok(_) => panic!("the issuer started on a Redis it cannot trust"),
        Err(error) => Chain(&error).to_string(),
    };
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a failure retrying cannot heal waited out the connect timeout"
    );
    for error in [&data_error, &issuer_error] {
        assert!(!error.contains(REDIS_PASSWORD), "{error}");
        assert!(!error.contains('\n'), "one line: {error}");
    }
    [data_error, issuer_error]
}

#[tokio::test]
async fn a_redis_certificate_that_does_not_verify_stops_the_start_naming_the_ca_setting() {
    let redis = start_redis_tls(&TestCa::new(), false).await;
    let stranger = tempfile::tempdir().expect("temp dir");
    let other_ca = stranger.path().join("other-ca.pem");
    TestCa::new().write_pem(&other_ca);
    for trust in [
        Trust {
            ca: Some(other_ca.clone()),
            client: None,
        },
        // Unset: the system's roots, which do not know the private CA either.
        Trust {
            ca: None,
            client: None,
        },
    ] {
        let [data, issuer] = start_errors(&redis.url, &trust).await;
        assert!(
            data.contains("DATA_API_REDIS_CA (or, unset, the system's roots) does not verify"),
            "{data}"
        );
        assert!(
            data.contains("invalid peer certificate"),
            "the TLS cause is kept: {data}"
        );
        assert!(issuer.contains("ISSUER_REDIS_CA"), "{issuer}");
    }
}

#[tokio::test]
async fn a_redis_that_requires_client_certificates_gets_one_or_refuses_the_start() {
    let redis = start_redis_tls(&TestCa::new(), true).await;
    let [data, issuer] = start_errors(&redis.url, &Trust::of(&redis, false)).await;
    assert!(data.contains("DATA_API_REDIS_CLIENT_CERT"), "{data}");
    assert!(issuer.contains("ISSUER_REDIS_CLIENT_CERT"), "{issuer}");
    let stack = stack_on(&redis, Trust::of(&redis, true)).await;
    let (token, _) = stack.login("alice").await;
    assert_eq!(stack.get_item(&token, "x").await.status(), 404);
    let metric = |series: &'static str| stack.metric(&stack.data_api, series);
    assert!(metric("portcullis_ratelimit_decisions_total{decision=\"allowed\"}").await >= 1);
    assert_eq!(
        metric("portcullis_ratelimit_decisions_total{decision=\"fallback\"}").await,
        0
    );
    assert!(
        !keys(&redis).await.is_empty(),
        "the services wrote to Redis"
    );
}

#[tokio::test]
async fn refused_credentials_stop_the_start_without_showing_the_password() {
    let redis = start_redis_tls(&TestCa::new(), false).await;
    let wrong = redis.url.replace(REDIS_PASSWORD, "wrong-password");
    let [data, issuer] = start_errors(&wrong, &Trust::of(&redis, false)).await;
    assert!(
        data.contains("redis refused the user name or password in DATA_API_REDIS_URL"),
        "{data}"
    );
    assert!(!data.contains("wrong-password"), "{data}");
    assert!(issuer.contains("ISSUER_REDIS_URL"), "{issuer}");
    assert!(!issuer.contains("wrong-password"), "{issuer}");
}
