//! `auth-issuer users ...` and `clients ...` against an SQLite identity store: round trips, the
//! password policy, secrets printed once, and clear failures.

use std::io::Write;
use std::process::{Command, Output, Stdio};

struct Store {
    _dir: tempfile::TempDir,
    url: String,
}

impl Store {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("identity.db").display());
        Self { _dir: dir, url }
    }

    /// Runs `auth-issuer ARGS` on this store with `stdin`.
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_auth-issuer"))
            .args(args)
            .env("ISSUER_DATABASE_URL", &self.url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs and expects success; standard output.
    fn ok(&self, args: &[&str], stdin: &str) -> String {
        let output = self.run(args, stdin);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs and expects a failure; standard error.
    fn fails(&self, args: &[&str], stdin: &str) -> String {
        let output = self.run(args, stdin);
        assert!(!output.status.success(), "{args:?} must fail");
        String::from_utf8(output.stderr).unwrap()
    }
}

const PASSWORD: &str = "correct horse battery staple\n";

#[test]
fn users_round_trip_through_the_store() {
    let store = Store::new();
    let add = [
        "users",
        "add",
        "ada",
        "--scopes",
        "items:read,items:write",
        "--email",
        "ada@example.com",
    ];
    store.ok(&add, PASSWORD);
    assert!(store.fails(&add, PASSWORD).contains("already exists"));
    let short = store.fails(
        &["users", "add", "bob", "--scopes", "items:read"],
        "short\n",
    );
    assert!(short.contains("at least 12 characters"), "{short}");
    let bad_scope = store.fails(&["users", "add", "bob", "--scopes", "no spaces"], PASSWORD);
    assert!(bad_scope.contains("bob"), "{bad_scope}");

    store.ok(&["users", "disable", "ada"], "");
    let listed = store.ok(&["users", "list", "--json"], "");
    let ada: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(ada["username"], "ada");
    assert_eq!(ada["disabled"], true);
    assert_eq!(ada["email"], "ada@example.com");
    assert!(!listed.contains("argon2"), "no hash is ever listed");
    store.ok(&["users", "enable", "ada"], "");
    store.ok(
        &["users", "set-password", "ada"],
        "another long passphrase\n",
    );
    store.ok(&["users", "delete", "ada"], "");
    assert!(store
        .fails(&["users", "delete", "ada"], "")
        .contains("no such user"));
    assert_eq!(store.ok(&["users", "list"], ""), "");
}

#[test]
fn clients_get_a_secret_printed_once_and_rotations_replace_it() {
    let store = Store::new();
    let add = [
        "clients",
        "add",
        "job",
        "--grants",
        "client_credentials",
        "--scopes",
        "items:read",
        "--audience",
        "data-api",
        "--confidential",
    ];
    let first = store.ok(&add, "");
    let first = first.trim();
    assert_eq!(first.len(), 43, "a 256-bit secret, base64url: {first}");
    let rotated = store.ok(&["clients", "rotate-secret", "job"], "");
    assert_ne!(rotated.trim(), first);
    let listed = store.ok(&["clients", "list", "--json"], "");
    let job: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(job["client_id"], "job");
    assert_eq!(job["confidential"], true);
    assert!(job.get("secret_hash").is_none_or(|h| h.is_null()), "{job}");

    let public = [
        "clients",
        "add",
        "cli",
        "--grants",
        "authorization_code,refresh_token",
        "--scopes",
        "openid",
        "--audience",
        "data-api",
        "--redirect-uri",
        "http://127.0.0.1/callback",
    ];
    assert_eq!(
        store.ok(&public, ""),
        "",
        "a public client has no secret to print"
    );
    assert!(store
        .fails(&["clients", "rotate-secret", "cli"], "")
        .contains("public"));
    let no_redirect = store.fails(
        &[
            "clients",
            "add",
            "web",
            "--grants",
            "authorization_code",
            "--scopes",
            "openid",
            "--audience",
            "data-api",
        ],
        "",
    );
    assert!(no_redirect.contains("redirect_uris"), "{no_redirect}");
    store.ok(&["clients", "delete", "job"], "");
    assert_eq!(store.ok(&["clients", "list"], "").lines().count(), 1);
}

#[test]
fn a_users_file_imports_whole_or_not_at_all() {
    let store = Store::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.toml");
    let hash = portcullis_directory::hash_password("correct horse battery staple").unwrap();
    std::fs::write(
        &file,
        format!(
            "[[users]]\nusername = \"ada\"\npassword_hash = \"{hash}\"\nscopes = [\"items:read\"]\n\n\
             [[clients]]\nclient_id = \"job\"\nsecret_hash = \"{hash}\"\ngrants = [\"client_credentials\"]\n\
             scopes = [\"items:read\"]\naudience = [\"data-api\"]\n"
        ),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    store.ok(&["users", "import", file], "");
    assert!(store
        .fails(&["users", "import", file], "")
        .contains("already exists"));
    assert_eq!(store.ok(&["users", "list"], "").lines().count(), 1);
    assert_eq!(store.ok(&["clients", "list"], "").lines().count(), 1);
}

#[test]
fn without_a_store_the_commands_say_what_to_set() {
    let output = Command::new(env!("CARGO_BIN_EXE_auth-issuer"))
        .args(["users", "list"])
        .env_remove("ISSUER_DATABASE_URL")
        .env_remove("ISSUER_DATABASE_URL_FILE")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("ISSUER_DATABASE_URL"));
}
