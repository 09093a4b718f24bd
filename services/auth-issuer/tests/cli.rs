//! The operator commands of the `auth-issuer` binary.

use std::io::Write;
use std::process::{Command, Stdio};

fn issuer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_auth-issuer"))
}

#[test]
fn hash_password_reads_standard_input_and_prints_an_argon2id_hash() {
    let mut child = issuer()
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"s3cret phrase\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let hash = String::from_utf8(output.stdout).unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains("s3cret"));
    let empty = issuer()
        .arg("hash-password")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!empty.status.success(), "an empty secret is refused");
}

#[test]
fn keys_generate_writes_a_private_key_and_prints_its_kid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.pem");
    let output = issuer()
        .args(["keys", "generate", "--out"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let kid = String::from_utf8(output.stdout).unwrap().trim().to_string();
    let pem = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        portcullis_jwt::SigningKey::from_pem(&pem).unwrap().kid(),
        kid
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "private keys are readable by their owner only");
    }
    let again = issuer()
        .args(["keys", "generate", "--out"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "an existing key is never overwritten"
    );
}

fn configured(dir: &std::path::Path) -> Command {
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::write(
        keys.join("a.pem"),
        portcullis_jwt::generate_rsa_pem().unwrap(),
    )
    .unwrap();
    let users = dir.join("users.toml");
    std::fs::write(
        &users,
        "[[clients]]\nclient_id = \"cli\"\ngrants = [\"password\"]\naudience = [\"data-api\"]\n",
    )
    .unwrap();
    let mut command = issuer();
    command
        .arg("check-config")
        .arg("--keys-dir")
        .arg(&keys)
        .arg("--users-file")
        .arg(&users);
    command
}

#[test]
fn check_config_accepts_a_good_setup_and_explains_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let ok = configured(dir.path()).output().unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("configuration ok"));

    for (ttl, accepted) in [
        ("30s", false),
        ("1m", true),
        ("60m", true),
        ("61m", false),
        ("2h", false),
    ] {
        let output = configured(dir.path())
            .args(["--access-token-ttl", ttl])
            .output()
            .unwrap();
        assert_eq!(output.status.success(), accepted, "ttl {ttl}");
        if !accepted {
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains("between 1m and 60m"), "{stderr}");
        }
    }
    let bad_limit = configured(dir.path())
        .args(["--login-rate-limit", "lots"])
        .output()
        .unwrap();
    assert!(!bad_limit.status.success());
    assert!(String::from_utf8_lossy(&bad_limit.stderr).contains("LIMIT/PERIOD"));
}

#[test]
fn help_never_shows_the_value_of_a_secret_bearing_variable() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["check-config", "--help"],
    ] {
        let output = issuer()
            .args(&args)
            .env("ISSUER_REDIS_URL", "redis://:hunter2-secret@redis:6379")
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.contains("ISSUER_REDIS_URL"), "{args:?}: {help}");
        assert!(
            !help.contains("hunter2-secret"),
            "{args:?} shows the secret: {help}"
        );
    }
}
