//! `portcullis dev` prints a walkthrough; pasted into a shell block by block, it must work. The
//! shell is one bash that keeps its variables between blocks, as a terminal does; the browser
//! steps (log in, allow the device, follow the authorization redirect) are played by the
//! cookie-keeping [`Browser`] with the same form posts a browser sends.

use portcullis::walkthrough::{CALLBACK, CALLBACK_PLACEHOLDER};
use portcullis_tests::Browser;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

const PASSWORD: &str = "it's a \"demo\" password";
const DONE: &str = "__block_done__";
const ITEM: &str = r#"{"id":"hello","data":{"greeting":"hello, world"},"version":1}"#;

/// A bash reading pasted blocks from its standard input.
struct Terminal {
    child: Child,
    out: Lines<BufReader<ChildStdout>>,
}

impl Terminal {
    fn open() -> Self {
        let mut child = tokio::process::Command::new("bash")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("bash is installed");
        let out = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Self { child, out }
    }

    /// Pastes `block`, then a marker that ends it.
    async fn paste(&mut self, block: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        let text = format!("{block}\necho {DONE}\n");
        stdin.write_all(text.as_bytes()).await.expect("paste");
        stdin.flush().await.expect("paste");
    }

    /// The next line printed, within a minute (the device poll sleeps between polls).
    async fn line(&mut self) -> Option<String> {
        tokio::time::timeout(Duration::from_secs(60), self.out.next_line())
            .await
            .expect("the walkthrough answers within a minute")
            .expect("read stdout")
    }

    /// Lines up to the end of the pasted block.
    async fn rest_of_block(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            match self.line().await {
                Some(line) if line == DONE => return lines,
                Some(line) => lines.push(line),
                None => panic!("bash ended: {lines:?}\n{}", self.stderr().await),
            }
        }
    }

    /// The URL the block asks to open: the line `Open <url> ...`.
    async fn page_to_open(&mut self) -> String {
        let line = self.line().await.expect("a line saying what to open");
        let url = line
            .strip_prefix("Open ")
            .unwrap_or_else(|| panic!("{line}"));
        url.split(' ').next().expect("a URL").to_owned()
    }

    async fn stderr(&mut self) -> String {
        drop(self.child.stdin.take());
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut text).await;
        }
        text
    }
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

#[tokio::test]
async fn the_printed_walkthrough_works_when_pasted() {
    let state = tempfile::tempdir().unwrap();
    let mut config = portcullis::DevConfig::ephemeral(state.path());
    config.demo_password = Some(PASSWORD.into());
    let dev = portcullis::start(config).await.expect("dev mode starts");
    assert!(
        state.path().join("keys/dev.pem").exists(),
        "a signing key was generated"
    );
    let walkthrough = dev.walkthrough.clone();
    let printed = walkthrough.to_string();
    for block in [
        &walkthrough.device,
        &walkthrough.browser_start,
        &walkthrough.browser_finish,
    ] {
        assert!(printed.contains(block.as_str()), "every block is printed");
    }
    assert!(!printed.contains("grant_type=password"), "{printed}");
    let issuer = dev.issuer_url.clone();
    let data_api = format!("http://{}", dev.data_api.local_addr());
    tokio::spawn(dev.issuer.run_until(std::future::pending()));
    tokio::spawn(dev.data_api.run_until(std::future::pending()));

    let mut terminal = Terminal::open();
    // Wait until the data API has the issuer's keys.
    terminal
        .paste(&format!(
            "for i in $(seq 100); do curl -sf -o /dev/null {data_api}/readyz && break; sleep 0.1; done"
        ))
        .await;
    terminal.rest_of_block().await;

    // 1. The device flow: the block asks for codes, says what to open and polls meanwhile.
    terminal.paste(&walkthrough.device).await;
    let device_page = terminal.page_to_open().await;
    assert!(
        device_page.starts_with(&format!("{issuer}/device?user_code=")),
        "{device_page}"
    );
    let user_code = device_page.rsplit('=').next().unwrap().to_owned();
    let mut browser = Browser::new(&issuer);
    let login = browser.get(&device_page).await;
    let entry = browser.log_in(&login, "demo", PASSWORD).await;
    let approval = browser
        .submit(&entry, "/device", &[("user_code", &user_code)])
        .await;
    assert!(approval.is_consent_page(), "{}", approval.body);
    let done = browser
        .submit(
            &approval,
            "/device",
            &[("decision", "allow"), ("user_code", &user_code)],
        )
        .await;
    assert!(done.body.contains("Device connected"), "{}", done.body);
    let out = terminal.rest_of_block().await;
    assert_eq!(out.first().map(String::as_str), Some(ITEM), "{out:?}");
    assert_eq!(out.get(1).map(String::as_str), Some(ITEM), "{out:?}");
    assert!(out.get(2).is_some_and(|l| l.contains("401")), "{out:?}");
    let userinfo = json(out.get(3).expect("UserInfo"));
    assert_eq!(userinfo["sub"], "demo");
    assert_eq!(userinfo["name"], "Demo User");
    assert_eq!(userinfo["email"], "demo@example.com");
    let claims = json(out.get(4).expect("id_token claims"));
    assert_eq!(claims["iss"], issuer.as_str());
    assert_eq!(claims["aud"], "portcullis-cli");
    assert_eq!(out.len(), 5, "{out:?}");

    // 2. The browser flow: open the authorization URL (the session from step 1 signs the
    // browser in at once: single sign-on), then paste the address it ends on.
    terminal.paste(&walkthrough.browser_start).await;
    let authorize = terminal.page_to_open().await;
    assert!(terminal.rest_of_block().await.is_empty());
    let first = browser.get(&authorize).await;
    let answer = browser.follow(first).await;
    let answer = if answer.is_login_form() {
        browser.log_in(&answer, "demo", PASSWORD).await
    } else {
        answer
    };
    let callback = answer.location().expect("redirected back").to_owned();
    assert!(callback.starts_with(CALLBACK), "{callback}");
    assert_eq!(
        answer.redirect_param("state").as_deref(),
        Some("walkthrough")
    );
    terminal
        .paste(
            &walkthrough
                .browser_finish
                .replace(CALLBACK_PLACEHOLDER, &callback),
        )
        .await;
    let out = terminal.rest_of_block().await;
    let claims = json(out.first().expect("id_token claims"));
    let nonce = out.get(1).and_then(|l| l.strip_prefix("nonce sent: "));
    assert!(nonce.is_some_and(|n| n.len() == 32), "{out:?}");
    assert_eq!(claims["nonce"].as_str(), nonce, "{out:?}");
    assert_eq!(claims["sub"], "demo");
    assert_eq!(out.get(2).map(String::as_str), Some(ITEM), "{out:?}");
    assert_eq!(out.len(), 3, "{out:?}");
    let errors = terminal.stderr().await;
    assert!(errors.is_empty(), "the walkthrough wrote errors: {errors}");
}
