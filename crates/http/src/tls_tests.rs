use super::*;

/// A self-signed certificate for `localhost` and its key, as PEM.
fn pair() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

fn files(dir: &std::path::Path) -> TlsFiles {
    TlsFiles {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
        cert_setting: "T_TLS_CERT".into(),
        key_setting: "T_TLS_KEY".into(),
    }
}

fn write(files: &TlsFiles, (cert, key): &(String, String)) {
    std::fs::write(&files.cert, cert).unwrap();
    std::fs::write(&files.key, key).unwrap();
}

fn leaf(key: &CertifiedKey) -> Vec<u8> {
    key.cert[0].to_vec()
}

#[test]
fn a_good_pair_loads() {
    let dir = tempfile::tempdir().unwrap();
    let files = files(dir.path());
    write(&files, &pair());
    let tls = ServerTls::load(&files).unwrap();
    assert_eq!(tls.config.alpn_protocols, vec![b"http/1.1".to_vec()]);
}

#[test]
fn an_expired_certificate_is_refused_naming_its_setting() {
    let dir = tempfile::tempdir().unwrap();
    let files = files(dir.path());
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let expired = params.self_signed(&key).unwrap();
    write(&files, &(expired.pem(), key.serialize_pem()));
    match ServerTls::load(&files) {
        Ok(_) => panic!("served an expired certificate"),
        Err(error) => assert_eq!(
            error.to_string(),
            "T_TLS_CERT holds a certificate that has expired (or is not valid yet): renew it"
        ),
    }
}

#[test]
fn bad_files_name_their_setting() {
    let dir = tempfile::tempdir().unwrap();
    let files = files(dir.path());
    let message = |files: &TlsFiles| match ServerTls::load(files) {
        Ok(_) => panic!("loaded a bad pair"),
        Err(error) => {
            if let TlsError::Unreadable { .. } = error {
                assert!(
                    std::error::Error::source(&error).is_some(),
                    "the cause is kept"
                );
            }
            error.to_string()
        }
    };
    assert_eq!(
        message(&files),
        "T_TLS_CERT names a file that cannot be read"
    );
    let (cert, key) = pair();
    write(&files, &("not a certificate".into(), key.clone()));
    assert_eq!(message(&files), "T_TLS_CERT holds no PEM certificate");
    write(&files, &(cert.clone(), "not a key".into()));
    assert_eq!(message(&files), "T_TLS_KEY holds no PEM private key");
    let (_, other_key) = pair();
    write(&files, &(cert, other_key));
    assert_eq!(
        message(&files),
        "T_TLS_KEY does not belong to the certificate"
    );
}

#[tokio::test]
async fn a_changed_pair_is_swapped_in_and_a_bad_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let files = files(dir.path());
    write(&files, &pair());
    let tls = ServerTls::load(&files).unwrap();
    let first = leaf(&tls.cert.current());
    let watch = tls.watch(Duration::from_millis(20));

    // A half-written renewal (a key that is not the certificate's) is kept out...
    let (renewed_cert, renewed_key) = pair();
    std::fs::write(&files.cert, &renewed_cert).unwrap();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            leaf(&tls.cert.current()),
            first,
            "a mismatched pair was served"
        );
    }
    // ...and served once it is whole.
    std::fs::write(&files.key, &renewed_key).unwrap();
    let swapped = async {
        while leaf(&tls.cert.current()) == first {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), swapped)
        .await
        .expect("the renewed pair was never served");
    let renewed = CertificateDer::from_pem_slice(renewed_cert.as_bytes()).unwrap();
    assert_eq!(leaf(&tls.cert.current()), renewed.to_vec());
    watch.abort();
}
