//! The admin API (`/admin/v1/`, `ISSUER_ADMIN_API`) on an issuer whose identity store is
//! SQLite: who may call it (RFC 6750 answers), full round trips whose effect shows at the token
//! endpoint, paging, its RFC 9457 problems, its limit, and its absence when not configured.

mod access;
mod lifecycle;
mod requests;

use portcullis_directory::{FileDirectory, SqlDirectory};
use portcullis_domain::directory_admin::DirectoryAdmin;
use portcullis_domain::ratelimit::RateLimitPolicy;
use portcullis_tests::{Stack, StackOptions, UsersFile, CLI_CLIENT, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// A confidential client allowed the admin API.
const ADMIN: &str = "admin-bot";
/// A client for the admin audience without the admin scope.
const NO_SCOPE: &str = "admin-reader";
/// A public client whose users' tokens are for the admin audience.
const CONSOLE: &str = "admin-console";

/// The standard users and clients, plus the admin clients and `root`, a user granted the
/// admin scope.
fn users_file() -> UsersFile {
    UsersFile::standard()
        .confidential_client(
            ADMIN,
            &["client_credentials"],
            &["portcullis:admin"],
            &["portcullis-admin"],
        )
        .confidential_client(
            NO_SCOPE,
            &["client_credentials"],
            &["items:read"],
            &["portcullis-admin"],
        )
        .public_client(
            CONSOLE,
            &["password", "refresh_token"],
            &["portcullis:admin"],
            &["portcullis-admin"],
        )
        .user("root", &["portcullis:admin"])
}

/// A stack whose issuer reads a seeded SQLite store (in the returned directory, which must
/// outlive the stack); `tweak` sets the admin settings.
async fn start(
    tweak: impl Fn(&mut auth_issuer::Args) + Send + Sync + 'static,
) -> (Stack, tempfile::TempDir) {
    let seed = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", seed.path().join("identity.db").display());
    let store = SqlDirectory::connect(&url).await.expect("the store opens");
    let file = FileDirectory::load(&users_file().write_in(seed.path())).expect("users file");
    let (users, clients) = file.records();
    store.create_all(users, clients).await.expect("seeded");
    let stack_url = url.clone();
    let stack = Stack::start_with(StackOptions {
        issuer: Some(Arc::new(move |args: &mut auth_issuer::Args| {
            args.users_file = None;
            args.database_url = Some(stack_url.clone());
            args.admin_rate_limit = RateLimitPolicy::parse("1000/s").expect("policy");
            tweak(args);
        })),
        ..StackOptions::default()
    })
    .await;
    (stack, seed)
}

async fn start_on() -> (Stack, tempfile::TempDir) {
    start(|args| args.admin_api = true).await
}

async fn token_response(stack: &Stack, form: &[(&str, &str)]) -> reqwest::Response {
    stack
        .http
        .post(format!("{}/oauth2/token", stack.issuer))
        .form(form)
        .send()
        .await
        .expect("the token endpoint answers")
}

async fn client_token(stack: &Stack, id: &str, secret: &str) -> reqwest::Response {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
    ];
    token_response(stack, &form).await
}

async fn access_token(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200, "a token is issued");
    let body: Value = response.json().await.expect("json");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

async fn admin_token(stack: &Stack) -> String {
    access_token(client_token(stack, ADMIN, PASSWORD).await).await
}

async fn password_login(
    stack: &Stack,
    client: &str,
    user: &str,
    password: &str,
) -> reqwest::Response {
    let form = [
        ("grant_type", "password"),
        ("client_id", client),
        ("username", user),
        ("password", password),
    ];
    token_response(stack, &form).await
}

async fn refresh(stack: &Stack, token: &str) -> StatusCode {
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", CLI_CLIENT),
        ("refresh_token", token),
    ];
    token_response(stack, &form).await.status()
}

/// An admin call: (status, `WWW-Authenticate`, content type, body).
async fn call(
    stack: &Stack,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, String, String, Value) {
    let mut request = stack
        .http
        .request(method, format!("{}{path}", stack.issuer));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the issuer answers");
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_owned())
            .unwrap_or_default()
    };
    let (challenge, kind) = (header("www-authenticate"), header("content-type"));
    let status = response.status();
    let text = response.text().await.expect("body");
    assert!(
        !text.contains("$argon2"),
        "no hash is ever answered: {text}"
    );
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, challenge, kind, body)
}
