//! The suite's own httpd: installed by `tests/apache/setup.sh`, configured from
//! `tests/apache/httpd.conf.in` in a temporary directory, run in the foreground and stopped with
//! the test.

use portcullis_tests::{Answer, PASSWORD, WEB_CLIENT};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is in the workspace")
        .to_path_buf()
}

/// httpd's binary and modules directory, after making sure they and mod_auth_openidc are there.
pub(super) fn apache_setup() -> (PathBuf, PathBuf) {
    let output = Command::new("bash")
        .arg(repo_root().join("tests/apache/setup.sh"))
        .current_dir(repo_root())
        .output()
        .expect("bash runs tests/apache/setup.sh");
    assert!(
        output.status.success(),
        "tests/apache/setup.sh failed (apache2-bin or libapache2-mod-auth-openidc are missing \
         and could not be installed):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout
        .lines()
        .last()
        .expect("setup prints httpd and modules");
    let (httpd, modules) = last
        .trim()
        .split_once('\t')
        .expect("setup prints `httpd<TAB>modules`");
    (PathBuf::from(httpd), PathBuf::from(modules))
}

/// The installed mod_auth_openidc's Debian version, for the report.
pub(super) fn module_version() -> String {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", "libapache2-mod-auth-openidc"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".into(),
            |o| String::from_utf8_lossy(&o.stdout).into_owned(),
        )
}

/// A running httpd, stopped when dropped.
pub(super) struct Apache {
    /// `http://127.0.0.1:PORT`.
    pub(super) url: String,
    dir: tempfile::TempDir,
    child: tokio::process::Child,
}

impl Apache {
    /// Starts httpd as a relying party of `issuer`, retrying on another port if the one picked
    /// was taken in the meantime.
    pub(super) async fn start(httpd: &Path, modules: &Path, issuer: &str) -> Self {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(httpd, modules, issuer).await {
                Ok(apache) => return apache,
                Err(why) if why.contains("Address already in use") => last = why,
                Err(why) => panic!("{why}"),
            }
        }
        panic!("{last}");
    }

    async fn try_start(httpd: &Path, modules: &Path, issuer: &str) -> Result<Self, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let as_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        for sub in ["run", "htdocs", "htdocs/protected"] {
            std::fs::create_dir(root.join(sub)).expect("apache dirs");
        }
        std::fs::write(
            root.join("htdocs/protected/index.html"),
            "<p>behind mod_auth_openidc</p>\n",
        )
        .expect("protected page");
        std::fs::write(root.join("htdocs/logged-out"), "signed out\n").expect("logged-out page");
        if as_root {
            // httpd drops to nobody to serve: it must be able to read the document root.
            for sub in ["", "htdocs", "htdocs/protected"] {
                std::fs::set_permissions(root.join(sub), std::fs::Permissions::from_mode(0o755))
                    .expect("chmod");
            }
        }
        let template = std::fs::read_to_string(repo_root().join("tests/apache/httpd.conf.in"))
            .expect("tests/apache/httpd.conf.in");
        let config = template
            .replace("@ROOT@", &root.display().to_string())
            .replace("@PORT@", &port.to_string())
            .replace("@MODULES@", &modules.display().to_string())
            .replace("@ISSUER@", issuer)
            .replace("@CLIENT_ID@", WEB_CLIENT)
            .replace("@CLIENT_SECRET@", PASSWORD)
            .replace("@PASSPHRASE@", &portcullis_domain::encoding::random_token())
            .replace(
                "@USER_GROUP@",
                if as_root {
                    "User nobody\nGroup nogroup"
                } else {
                    ""
                },
            );
        assert!(!config.contains('@'), "a placeholder is left:\n{config}");
        let config_file = root.join("httpd.conf");
        std::fs::write(&config_file, config).expect("httpd.conf");
        let stderr = std::fs::File::create(root.join("stderr.log")).expect("stderr.log");
        let child = tokio::process::Command::new(httpd)
            .arg("-X")
            .arg("-f")
            .arg(&config_file)
            // No proxy settings leak into mod_auth_openidc's libcurl: the issuer is on loopback.
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("{} does not start: {e}", httpd.display()))?;
        let mut apache = Self {
            url: format!("http://127.0.0.1:{port}"),
            dir,
            child,
        };
        for _ in 0..200 {
            if let Ok(Some(status)) = apache.child.try_wait() {
                return Err(format!(
                    "httpd exited at start-up ({status}):\n{}",
                    apache.logs()
                ));
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(apache);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!(
            "httpd did not listen on {port} within 10 s:\n{}",
            apache.logs()
        ))
    }

    /// httpd's stderr, the tail of its error log (mod_auth_openidc logs at debug) and its
    /// access log.
    pub(super) fn logs(&self) -> String {
        let read = |name: &str| {
            std::fs::read_to_string(self.dir.path().join(name))
                .unwrap_or_else(|e| format!("({name} unreadable: {e})"))
        };
        let error_log = read("error.log");
        let lines: Vec<&str> = error_log.lines().collect();
        let tail = lines[lines.len().saturating_sub(150)..].join("\n");
        format!(
            "--- httpd stderr ---\n{}\n--- error.log (last 150 lines) ---\n{tail}\n\
             --- access.log ---\n{}",
            read("stderr.log"),
            read("access.log")
        )
    }

    /// A failure message: what was expected, the answer, and httpd's logs.
    pub(super) fn explain(&self, expected: &str, answer: &Answer) -> String {
        let body: String = answer.body.chars().take(2000).collect();
        format!(
            "{expected}; got {} {:?}\n{body}\n{}",
            answer.status,
            answer.headers,
            self.logs()
        )
    }

    /// Stops httpd and reaps it (on a panic, `kill_on_drop` stops it instead).
    pub(super) async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }

    /// mod_auth_openidc's error and warning lines.
    pub(super) fn complaints(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("error.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(":error]") || l.contains(":warn]") || l.contains(":crit]"))
            .map(str::to_owned)
            .collect()
    }
}
