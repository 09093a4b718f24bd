//! The data API's item store on a PostgreSQL that admits TCP clients over TLS only
//! (`hostssl`), verified with `sslmode=verify-full` against a private CA, given either as
//! `DATA_API_DATABASE_CA` or in the URL; a server whose certificate does not verify stops the
//! start with the setting's name. Needs Docker and `PORTCULLIS_POSTGRES_IMAGE`; without them
//! these tests fail, they never skip.

use portcullis_domain::cause::Chain;
use portcullis_tests::{start_postgres_tls, Stack, StackOptions, TestCa};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `url` with `sslmode=verify-full` and `sslrootcert` naming `ca`.
fn verify_full(url: &str, ca: &Path) -> String {
    format!("{url}?sslmode=verify-full&sslrootcert={}", ca.display())
}

#[tokio::test]
async fn the_data_api_keeps_its_items_on_a_tls_only_postgres_verified_in_full() {
    let postgres = start_postgres_tls(&TestCa::new()).await;
    let (url, ca) = (postgres.url.clone(), postgres.files.ca.clone());
    let stack = Stack::start_with(StackOptions {
        data_api: Some(Arc::new(move |args: &mut data_api::Args| {
            args.database_url = url.clone();
            args.database_ca = Some(ca.clone());
        })),
        ..StackOptions::default()
    })
    .await;
    let (token, _) = stack.login("alice").await;
    let put = stack
        .put_item(&token, "x", &json!({"data": "over TLS"}))
        .await;
    assert_eq!(put.status(), 200);
    // A second replica, told the same in the URL alone, reads what the first wrote.
    let in_url = verify_full(&postgres.url, &postgres.files.ca);
    let second = Stack::start_data_api(
        &stack.issuer,
        stack.dir.path().join("unused.db"),
        &StackOptions {
            data_api: Some(Arc::new(move |args: &mut data_api::Args| {
                args.database_url = in_url.clone();
            })),
            ..StackOptions::default()
        },
    )
    .await;
    stack.wait_ready(&second).await;
    let read = stack
        .http
        .get(format!("{second}/v1/items/x"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET answers");
    assert_eq!(read.status(), 200);
    let body: serde_json::Value = read.json().await.expect("json");
    assert_eq!(body["data"], "over TLS");
}

/// The data API's start-up error on `args`, as one line; it must fail.
async fn start_error(args: data_api::Args) -> String {
    let settings = data_api::Settings::try_from(args).expect("valid settings");
    match data_api::build(settings).await {
        Ok(_) => panic!("the data API started on a database it cannot trust"),
        Err(error) => Chain(&error).to_string(),
    }
}

#[tokio::test]
async fn a_postgres_certificate_that_does_not_verify_stops_the_start() {
    let postgres = start_postgres_tls(&TestCa::new()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let other_ca: PathBuf = dir.path().join("other-ca.pem");
    TestCa::new().write_pem(&other_ca);
    let mut by_setting = data_api::Args::defaults();
    by_setting.listen = "127.0.0.1:0".parse().expect("address");
    by_setting.database_url = postgres.url.clone();
    by_setting.database_ca = Some(other_ca.clone());
    let mut in_url = by_setting.clone();
    in_url.database_ca = None;
    in_url.database_url = verify_full(&postgres.url, &other_ca);
    for args in [by_setting, in_url] {
        let error = start_error(args).await;
        assert!(
            error.starts_with("DATA_API_DATABASE_CA (or the sslrootcert in DATA_API_DATABASE_URL) does not verify"),
            "{error}"
        );
        assert!(
            error.contains("invalid peer certificate"),
            "the TLS cause is kept: {error}"
        );
        assert!(!error.contains("portcullis-test"), "no password: {error}");
    }
}
