use super::*;
use std::path::PathBuf;

const NAMES: RedisTlsNames = RedisTlsNames {
    url: "T_REDIS_URL",
    ca: "T_REDIS_CA",
    cert: "T_REDIS_CLIENT_CERT",
    key: "T_REDIS_CLIENT_KEY",
};
const TLS_URL: &str = "rediss://portcullis:secret@redis:6380";

/// A CA certificate, and a client certificate with its key, as files in `dir`.
struct Files {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    other_key: PathBuf,
}

fn files() -> Files {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let client_key = rcgen::KeyPair::generate().unwrap();
    let client = rcgen::CertificateParams::new(vec!["data-api".to_owned()])
        .unwrap()
        .self_signed(&client_key)
        .unwrap();
    Files {
        ca: write("ca.pem", ca.pem()),
        cert: write("client.crt", client.pem()),
        key: write("client.key", client_key.serialize_pem()),
        other_key: write("other.key", ca_key.serialize_pem()),
        _dir: dir,
    }
}

fn error(url: Option<&str>, files: RedisTlsFiles<'_>) -> String {
    let error = load(NAMES, url, files).unwrap_err();
    portcullis_domain::cause::Chain(&error).to_string()
}

#[test]
fn a_ca_and_a_client_pair_load_for_a_rediss_url() {
    let f = files();
    let tls = load(
        NAMES,
        Some(TLS_URL),
        RedisTlsFiles {
            ca: Some(&f.ca),
            cert: Some(&f.cert),
            key: Some(&f.key),
        },
    )
    .unwrap()
    .expect("TLS material");
    assert!(tls.ca_pem.is_some() && tls.client.is_some());
    let shown = format!("{tls:?}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    let none = load(NAMES, Some(TLS_URL), RedisTlsFiles::default()).unwrap();
    assert!(none.is_none(), "a rediss URL alone uses the system's roots");
}

#[test]
fn tls_files_beside_a_plain_or_missing_url_are_refused() {
    let f = files();
    let ca_only = RedisTlsFiles {
        ca: Some(&f.ca),
        ..RedisTlsFiles::default()
    };
    for url in [None, Some("redis://redis:6379")] {
        let message = error(url, ca_only);
        assert!(
            message.starts_with("T_REDIS_CA needs a rediss:// T_REDIS_URL"),
            "{message}"
        );
    }
}

#[test]
fn insecure_urls_are_refused() {
    let message = error(
        Some("rediss://redis:6380/#insecure"),
        RedisTlsFiles::default(),
    );
    assert!(
        message.starts_with("T_REDIS_URL must not carry a #fragment"),
        "{message}"
    );
}

#[test]
fn half_a_client_pair_is_refused() {
    let f = files();
    let cert_only = RedisTlsFiles {
        cert: Some(&f.cert),
        ..RedisTlsFiles::default()
    };
    assert_eq!(
        error(Some(TLS_URL), cert_only),
        "T_REDIS_CLIENT_CERT needs T_REDIS_CLIENT_KEY"
    );
    let key_only = RedisTlsFiles {
        key: Some(&f.key),
        ..RedisTlsFiles::default()
    };
    assert_eq!(
        error(Some(TLS_URL), key_only),
        "T_REDIS_CLIENT_KEY needs T_REDIS_CLIENT_CERT"
    );
}

#[test]
fn unusable_files_name_their_setting_and_keep_the_cause() {
    let f = files();
    let missing = f.ca.with_file_name("missing.pem");
    let message = error(
        Some(TLS_URL),
        RedisTlsFiles {
            ca: Some(&missing),
            ..RedisTlsFiles::default()
        },
    );
    assert!(
        message.starts_with("T_REDIS_CA names a file that cannot be read: "),
        "{message}"
    );
    let message = error(
        Some(TLS_URL),
        RedisTlsFiles {
            ca: Some(&f.key),
            ..RedisTlsFiles::default()
        },
    );
    assert_eq!(message, "T_REDIS_CA holds no PEM certificate");
    let message = error(
        Some(TLS_URL),
        RedisTlsFiles {
            cert: Some(&f.cert),
            key: Some(&f.other_key),
            ..RedisTlsFiles::default()
        },
    );
    assert!(
        message.starts_with("T_REDIS_CLIENT_KEY does not belong to the certificate"),
        "{message}"
    );
}

const SENTINEL_NAMES: [&str; 3] = [
    "T_REDIS_URL",
    "T_REDIS_SENTINELS",
    "T_REDIS_SENTINEL_MASTER",
];

#[test]
fn sentinels_need_a_master_name_a_url_and_host_port_addresses() {
    let url = Some("redis://:pw@ignored:6379");
    let list = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(sentinel(SENTINEL_NAMES, url, &[], None).unwrap().is_none());
    let settings = sentinel(
        SENTINEL_NAMES,
        url,
        &list(&["a:26379", " b:26380"]),
        Some("m"),
    )
    .unwrap()
    .unwrap();
    assert_eq!(settings.sentinels, ["a:26379", "b:26380"]);
    assert_eq!(settings.master, "m");
    let refused = |sentinels: &[&str], master: Option<&str>, url: Option<&str>| {
        sentinel(SENTINEL_NAMES, url, &list(sentinels), master)
            .unwrap_err()
            .to_string()
    };
    assert!(
        refused(&["a:1"], None, url).contains("T_REDIS_SENTINELS needs T_REDIS_SENTINEL_MASTER")
    );
    assert!(
        refused(&[], Some("m"), url).contains("T_REDIS_SENTINEL_MASTER needs T_REDIS_SENTINELS")
    );
    assert!(refused(&["a:1"], Some("m"), None).contains("needs T_REDIS_URL"));
    assert!(refused(&["a"], Some("m"), url).contains("host:port"));
    assert!(refused(&[":1"], Some("m"), url).contains("host:port"));
}
