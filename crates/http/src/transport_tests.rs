use super::*;

fn settings(origins: &[&str]) -> Result<TransportSettings, ConfigError> {
    let origins: Vec<String> = origins.iter().map(|o| o.to_string()).collect();
    let d = TransportSettings::default();
    TransportSettings::new(
        "TEST",
        d.request_timeout,
        d.header_read_timeout,
        d.max_concurrent_requests,
        d.shutdown_grace,
        &origins,
    )
}

#[test]
fn origins_must_be_bare_scheme_and_host() {
    assert!(settings(&["https://app.example.com", "http://localhost:3000", "*"]).is_ok());
    for bad in [
        "app.example.com",
        "https://app.example.com/",
        "ftp://x",
        "https://",
        "https://a\nb",
    ] {
        let error = settings(&[bad]).unwrap_err();
        assert!(
            error.to_string().starts_with("TEST_CORS_ALLOWED_ORIGINS "),
            "{bad}: {error}"
        );
    }
}

#[test]
fn a_certificate_needs_its_key_and_the_reverse() {
    let d = TransportSettings::default;
    let path = || Some(PathBuf::from("x.pem"));
    assert!(d().with_tls("T", None, None).unwrap().tls.is_none());
    assert!(d().with_tls("T", path(), path()).unwrap().tls.is_some());
    let error = d().with_tls("T", path(), None).unwrap_err().to_string();
    assert_eq!(error, "T_TLS_CERT needs T_TLS_KEY");
    let error = d().with_tls("T", None, path()).unwrap_err().to_string();
    assert_eq!(error, "T_TLS_KEY needs T_TLS_CERT");
}

#[test]
fn zero_concurrency_and_tiny_timeouts_are_refused() {
    let d = TransportSettings::default();
    let tiny = Duration::from_millis(10);
    assert!(
        TransportSettings::new("T", tiny, d.header_read_timeout, 1, d.shutdown_grace, &[]).is_err()
    );
    assert!(
        TransportSettings::new("T", d.request_timeout, tiny, 1, d.shutdown_grace, &[]).is_err()
    );
    assert!(TransportSettings::new(
        "T",
        d.request_timeout,
        d.header_read_timeout,
        0,
        d.shutdown_grace,
        &[]
    )
    .is_err());
}
