//! `portcullis dev` prints a walkthrough; pasted into a shell, it must work.

use std::net::SocketAddr;

#[tokio::test]
async fn the_printed_walkthrough_works_when_pasted() {
    let state = tempfile::tempdir().unwrap();
    let dev = portcullis::start(portcullis::DevConfig {
        state_dir: state.path().to_path_buf(),
        issuer_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_api_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        demo_password: Some("it's a \"demo\" password".into()),
    })
    .await
    .expect("dev mode starts");
    assert!(
        state.path().join("keys/dev.pem").exists(),
        "a signing key was generated"
    );
    let walkthrough = dev.walkthrough.clone();
    let data_api = format!("http://{}", dev.data_api.local_addr());
    tokio::spawn(dev.issuer.run_until(std::future::pending()));
    tokio::spawn(dev.data_api.run_until(std::future::pending()));

    // Wait until the data API has the issuer's keys, then run the walkthrough verbatim.
    let script = format!(
        "set -eu\nfor i in $(seq 100); do curl -sf -o /dev/null {data_api}/readyz && break; sleep 0.1; done\n{walkthrough}"
    );
    let output = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .await
        .expect("bash and curl are installed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "walkthrough failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let expected = r#"{"id":"hello","data":{"greeting":"hello, world"},"version":1}"#;
    assert_eq!(lines.first(), Some(&expected), "{stdout}");
    assert_eq!(lines.get(1), Some(&expected), "{stdout}");
    assert!(lines.get(2).is_some_and(|l| l.contains("401")), "{stdout}");
}
