//! Independent implementations against the issuer: Debian's headless Chromium, driven by
//! selenium, logs in through the login page, consents, denies, comes back by single sign-on,
//! logs out and approves a device; authlib, as the relying party, exchanges the codes and
//! validates every id_token (signature, nonce, at_hash); authlib's and pyoidc's strict
//! validators check discovery. `tests/browser/setup.sh` installs Chromium and the Python
//! packages from Debian and PyPI when they are missing (nothing is downloaded at run time after
//! that); without them this suite fails, it never skips.

use portcullis_tests::{Stack, StackOptions, PASSWORD, SPA_CLIENT, WEB_CLIENT};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is in the workspace")
        .to_path_buf()
}

/// The harness's Python, after making sure Chromium and the packages are there.
fn browser_python() -> PathBuf {
    let setup = repo_root().join("tests/browser/setup.sh");
    let output = Command::new("bash")
        .arg(&setup)
        .current_dir(repo_root())
        .output()
        .expect("bash runs tests/browser/setup.sh");
    assert!(
        output.status.success(),
        "tests/browser/setup.sh failed (Chromium or the Python packages are missing and could \
         not be installed):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    PathBuf::from(
        stdout
            .lines()
            .last()
            .expect("setup prints the venv's python")
            .trim(),
    )
}

#[tokio::test]
async fn chromium_and_authlib_log_in_through_the_issuer() {
    let python = tokio::task::spawn_blocking(browser_python).await.unwrap();
    let options = StackOptions {
        // The device step polls; a short interval keeps the suite quick.
        issuer: Some(Arc::new(|issuer| {
            issuer.login.device_poll_interval = Duration::from_secs(1);
        })),
        ..StackOptions::default()
    };
    let stack = Stack::start_with(options).await;
    let mut harness = tokio::process::Command::new(python);
    harness
        .arg(repo_root().join("tests/browser/oidc_login.py"))
        .args(["--issuer", &stack.issuer])
        .args(["--client-id", WEB_CLIENT, "--client-secret", PASSWORD])
        .args(["--username", "alice", "--password", PASSWORD])
        .args(["--public-client-id", SPA_CLIENT])
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(150), harness.output())
        .await
        .expect("the browser harness finishes within 150 s")
        .expect("the browser harness starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the browser harness failed:\n{stdout}\n{stderr}"
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("browser: "))
        .expect("the harness prints its summary");
    assert!(
        summary.contains(" 0 failed") && summary.contains(" 0 skipped"),
        "every step must run and pass: {summary}"
    );
}
