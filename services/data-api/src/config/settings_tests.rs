use super::*;

#[test]
fn keys_come_over_https_unless_the_issuer_is_on_this_host() {
    for loopback in [
        "http://127.0.0.1:8080",
        "http://127.9.9.9",
        "http://[::1]:8080",
        "http://localhost:8080",
        "https://auth.example",
    ] {
        assert!(!plain_http_elsewhere(loopback), "{loopback}");
    }
    for remote in [
        "http://auth-issuer:8080",
        "http://10.0.0.1",
        "http://127.0.0.1.evil.example",
        "http://localhost.evil.example:8080",
    ] {
        assert!(plain_http_elsewhere(remote), "{remote}");
    }
    let refused = Settings::try_from(Args {
        issuer: "http://auth-issuer:8080".into(),
        ..Args::defaults()
    })
    .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("DATA_API_ALLOW_INSECURE_ISSUER"),
        "{refused}"
    );
    let allowed = Settings::try_from(Args {
        issuer: "http://auth-issuer:8080".into(),
        allow_insecure_issuer: true,
        ..Args::defaults()
    });
    assert!(allowed.is_ok());
}

#[test]
fn the_defaults_agree_with_the_policies_defaults() {
    let settings = Settings::try_from(Args::defaults()).unwrap();
    let cache = CachePolicy::default();
    assert_eq!(
        (settings.cache.ttl, settings.cache.negative_ttl),
        (cache.ttl, cache.negative_ttl)
    );
    assert_eq!(
        (
            settings.cache.stale_while_revalidate,
            settings.cache.stale_if_error,
            settings.cache.recovery_grace
        ),
        (
            cache.stale_while_revalidate,
            cache.stale_if_error,
            cache.recovery_grace
        )
    );
    let verifier = VerifierConfig::new("x", "y");
    let ours = &settings.verifier;
    assert_eq!(
        (
            ours.leeway,
            ours.refresh_interval,
            ours.min_refresh_interval
        ),
        (
            verifier.leeway,
            verifier.refresh_interval,
            verifier.min_refresh_interval
        )
    );
    assert_eq!(
        (
            ours.unknown_kid_cooldown,
            ours.max_staleness,
            ours.token_cache_capacity
        ),
        (
            verifier.unknown_kid_cooldown,
            verifier.max_staleness,
            verifier.token_cache_capacity
        )
    );
    let transport = TransportSettings::default();
    assert_eq!(
        settings.transport.request_timeout,
        transport.request_timeout
    );
    assert_eq!(settings.transport.shutdown_grace, transport.shutdown_grace);
    assert_eq!(
        settings.transport.max_concurrent_requests_per_client,
        transport.max_concurrent_requests_per_client
    );
    assert!(matches!(settings.database, Database::Sqlite { .. }));
    assert_eq!(settings.redis_breaker.threshold, 5);
}

#[test]
fn a_replicas_share_is_rounded_up_and_never_zero() {
    let policy = RateLimitPolicy::parse("100/s,1/min").unwrap();
    let shared = rule(policy, 3);
    let limits: Vec<u64> = shared
        .local_share
        .windows()
        .iter()
        .map(|w| w.limit)
        .collect();
    assert_eq!(limits, [34, 1]);
}

#[test]
fn the_database_is_told_apart_by_its_scheme() {
    let with = |url: &str| {
        Settings::try_from(Args {
            database_url: url.into(),
            ..Args::defaults()
        })
    };
    assert!(matches!(
        with("postgres://u:p@db/items").unwrap().database,
        Database::Postgres { .. }
    ));
    let error = with("mysql://db").unwrap_err().to_string();
    assert_eq!(
        error,
        "DATA_API_DATABASE_URL must be sqlite://PATH or postgres://..."
    );
    let shown = format!("{:?}", with("postgres://u:hunter2@db/items").unwrap());
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn secrets_come_from_files_too() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("database-url");
    std::fs::write(&database, "postgres://u:p@db:5432/items\n").unwrap();
    let redis = dir.path().join("redis-url");
    std::fs::write(&redis, "redis://:p@redis:6379").unwrap();
    let settings = Settings::try_from(Args {
        database_url_file: Some(database.clone()),
        redis_url_file: Some(redis.clone()),
        ..Args::defaults()
    })
    .unwrap();
    assert!(
        matches!(&settings.database, Database::Postgres { url, .. } if url == "postgres://u:p@db:5432/items")
    );
    assert_eq!(settings.redis.unwrap().url, "redis://:p@redis:6379");
    let both = Settings::try_from(Args {
        database_url: "sqlite://other.db".into(),
        database_url_file: Some(database),
        ..Args::defaults()
    })
    .unwrap_err();
    assert!(both.to_string().contains("both set"), "{both}");
}

#[test]
fn the_issuer_ca_and_the_tls_pair_name_their_settings() {
    let dir = tempfile::tempdir().unwrap();
    let with_ca = |path: std::path::PathBuf| {
        Settings::try_from(Args {
            issuer_ca: Some(path),
            ..Args::defaults()
        })
    };
    let missing = with_ca(dir.path().join("absent.pem")).unwrap_err();
    assert_eq!(
        missing.to_string(),
        "DATA_API_ISSUER_CA names a file that cannot be read"
    );
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no certificates here").unwrap();
    let empty = with_ca(empty).unwrap_err().to_string();
    assert_eq!(empty, "DATA_API_ISSUER_CA holds no PEM certificate");

    let mut args = Args::defaults();
    args.transport.tls_cert = Some(dir.path().join("tls.crt"));
    let half = Settings::try_from(args).unwrap_err().to_string();
    assert_eq!(half, "DATA_API_TLS_CERT needs DATA_API_TLS_KEY");
}

#[test]
fn postgres_tls_files_are_checked_and_never_contradict_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    std::fs::write(&ca, params.self_signed(&key).unwrap().pem()).unwrap();
    let pg = "postgres://app:pw@db:5432/items";
    let settings = |url: String, database_ca: Option<std::path::PathBuf>| {
        Settings::try_from(Args {
            database_url: url,
            database_ca,
            ..Args::defaults()
        })
    };
    let verified = settings(pg.into(), Some(ca.clone())).unwrap();
    assert!(
        matches!(&verified.database, Database::Postgres { root_cert: Some(path), .. } if *path == ca)
    );
    let in_url = format!("{pg}?sslmode=verify-full&sslrootcert={}", ca.display());
    assert!(settings(in_url, None).is_ok());
    for (url, database_ca, expected) in [
        (
            crate::config::DEFAULT_DATABASE_URL.to_owned(),
            Some(ca.clone()),
            "DATA_API_DATABASE_CA needs a postgres:// DATA_API_DATABASE_URL".to_owned(),
        ),
        (
            pg.to_owned(),
            Some(dir.path().join("absent.pem")),
            "DATA_API_DATABASE_CA names a file that cannot be read".to_owned(),
        ),
        (
            format!("{pg}?sslmode=require"),
            Some(ca.clone()),
            "DATA_API_DATABASE_CA means sslmode=verify-full, but DATA_API_DATABASE_URL says sslmode=require".to_owned(),
        ),
        (
            format!("{pg}?sslmode=verify-full&sslrootcert=/absent/ca.pem"),
            None,
            "DATA_API_DATABASE_URL's sslrootcert names a file that cannot be read".to_owned(),
        ),
    ] {
        let error = settings(url, database_ca).unwrap_err().to_string();
        assert_eq!(error, expected);
        assert!(!error.contains("pw@"), "the URL is never shown");
    }
}

#[test]
fn the_lease_share_is_bounded_and_a_zero_window_turns_the_memory_tier_off() {
    for bad in [-0.1, 0.51, f64::NAN] {
        let mut args = Args::defaults();
        args.rate_limit_lease = bad;
        let error = Settings::try_from(args).expect_err("out of range");
        assert!(
            error.to_string().contains("DATA_API_RATE_LIMIT_LEASE"),
            "{error}"
        );
    }
    let defaults = Settings::try_from(Args::defaults()).unwrap();
    let tier = defaults.cache_tier.expect("the tier is on by default");
    assert_eq!(tier.window, Duration::from_millis(25));
    assert!(
        tier.max_age >= defaults.cache.ttl,
        "a copy may live as long as its entry"
    );
    let mut args = Args::defaults();
    args.cache_tier_window = Duration::ZERO;
    assert!(Settings::try_from(args).unwrap().cache_tier.is_none());
}
