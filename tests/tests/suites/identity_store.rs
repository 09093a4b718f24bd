//! The SQL identity store on PostgreSQL: the adapter contract, and two issuer replicas sharing
//! it, where a change made through the store is in force on both at their next request.

use portcullis_directory::{contract, FileDirectory, SqlDirectory, UserSpec};
use portcullis_domain::directory::UserDirectory;
use portcullis_domain::directory_admin::{DirectoryAdmin, UserChange};
use portcullis_domain::identity::Username;
use portcullis_tests::{
    start_postgres, start_redis, Stack, StackOptions, UsersFile, CLI_CLIENT, PASSWORD,
};
use reqwest::StatusCode;
use std::sync::Arc;
use std::time::Instant;

#[tokio::test]
async fn postgres_passes_the_identity_store_contract() {
    let postgres = start_postgres().await;
    let store = SqlDirectory::connect(&postgres.url).await.expect("connect");
    contract::writes(&store).await;
}

async fn password_login(http: &reqwest::Client, issuer: &str, user: &str) -> reqwest::Response {
    http.post(format!("{issuer}/oauth2/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", CLI_CLIENT),
            ("username", user),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("the issuer answers")
}

async fn refresh(http: &reqwest::Client, issuer: &str, token: &str) -> StatusCode {
    http.post(format!("{issuer}/oauth2/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", CLI_CLIENT),
            ("refresh_token", token),
        ])
        .send()
        .await
        .expect("the issuer answers")
        .status()
}

async fn refresh_token_of(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["refresh_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn two_issuer_replicas_on_one_postgres_follow_every_change_at_once() {
    let (postgres, redis) = (start_postgres().await, start_redis().await);
    let store = SqlDirectory::connect(&postgres.url).await.expect("connect");
    let seed_dir = tempfile::tempdir().unwrap();
    let file = FileDirectory::load(&UsersFile::standard().write_in(seed_dir.path())).unwrap();
    let (users, clients) = file.records();
    store.create_all(users, clients).await.expect("import");

    let url = postgres.url.clone();
    let stack = Stack::start_with(StackOptions {
        issuer_redis_url: Some(redis.url.clone()),
        issuer: Some(Arc::new(move |args: &mut auth_issuer::Args| {
            args.users_file = None;
            args.database_url = Some(url.clone());
        })),
        ..StackOptions::default()
    })
    .await;
    let (replica, _running) = stack.start_issuer_replica().await;
    let http = &stack.http;

    // Added through the store, usable on the other replica at its very next request.
    let started = Instant::now();
    let carol = UserSpec {
        username: "carol".into(),
        password_hash: portcullis_directory::hash_password(PASSWORD).unwrap(),
        scopes: vec!["items:read".into()],
        ..UserSpec::default()
    };
    store
        .create_user(carol.validate().unwrap())
        .await
        .expect("add carol");
    let on_replica = password_login(http, &replica, "carol").await;
    println!(
        "user added -> first login on the other replica: {:?} (no cache to expire: every lookup reads the store)",
        started.elapsed()
    );
    let from_replica = refresh_token_of(on_replica).await;
    let from_first = refresh_token_of(password_login(http, &stack.issuer, "carol").await).await;

    // Disabled: both families stop at their next refresh, on either replica.
    let name = Username::new("carol").unwrap();
    store
        .update_user(&name, UserChange::Enabled(false))
        .await
        .expect("disable");
    assert_eq!(refresh(http, &stack.issuer, &from_replica).await, 400);
    assert_eq!(refresh(http, &replica, &from_first).await, 400);
    assert_eq!(password_login(http, &replica, "carol").await.status(), 400);

    // Enabled again: new logins work; the sessions disabling ended stay ended.
    store
        .update_user(&name, UserChange::Enabled(true))
        .await
        .expect("enable");
    assert_eq!(refresh(http, &stack.issuer, &from_first).await, 400);
    // Times are whole seconds, and a login in the same second as the re-enable counts as before
    // it (the safe side): the next one is a second later.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let fresh = refresh_token_of(password_login(http, &replica, "carol").await).await;
    assert_eq!(refresh(http, &stack.issuer, &fresh).await, 200);

    // Deleted: gone everywhere.
    store.delete_user(&name).await.expect("delete");
    assert_eq!(
        password_login(http, &stack.issuer, "carol").await.status(),
        400
    );
}

#[tokio::test]
async fn a_login_upgrades_a_weaker_password_hash_without_ending_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("identity.db").display());
    let store = SqlDirectory::connect(&url).await.expect("connect");
    let file = FileDirectory::load(&UsersFile::standard().write_in(dir.path())).unwrap();
    let (users, clients) = file.records();
    store.create_all(users, clients).await.expect("import");
    let configured = url.clone();
    let stack = Stack::start_with(StackOptions {
        issuer: Some(Arc::new(move |args: &mut auth_issuer::Args| {
            args.users_file = None;
            args.database_url = Some(configured.clone());
            args.password_hash_memory_kib = 20_480;
            args.password_hash_iterations = 3;
        })),
        ..StackOptions::default()
    })
    .await;
    let alice = Username::new("alice").unwrap();
    let before = store.user(&alice).await.unwrap().unwrap().password_hash;
    assert!(before.expose().contains("m=19456,t=2"), "the file's hash");

    let (_, refresh_token) = stack.login("alice").await;
    let after = store.user(&alice).await.unwrap().unwrap().password_hash;
    assert!(after.expose().contains("m=20480,t=3"), "{}", after.expose());
    assert_eq!(
        refresh(&stack.http, &stack.issuer, &refresh_token).await,
        200,
        "an upgrade is no password change: the session goes on"
    );
    let (_, _) = stack.login("alice").await;
    let again = store.user(&alice).await.unwrap().unwrap().password_hash;
    assert_eq!(again.expose(), after.expose(), "a strong hash is kept");
}
