//! The `data-api` binary's command line.

use std::process::Command;

#[test]
fn help_never_shows_the_value_of_a_secret_bearing_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_data-api"))
        .arg("--help")
        .env("DATA_API_REDIS_URL", "redis://:hunter2-redis@redis:6379")
        .env(
            "DATA_API_DATABASE_URL",
            "postgres://api:hunter2-postgres@db/items",
        )
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("DATA_API_DATABASE_URL"), "{help}");
    for secret in ["hunter2-redis", "hunter2-postgres"] {
        assert!(!help.contains(secret), "--help shows {secret}: {help}");
    }
}
