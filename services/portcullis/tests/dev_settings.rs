//! What `portcullis dev` takes from its settings: an own users file is used as is, the
//! generated one is rewritten only while unedited, and `ISSUER_URL` is the issuer's identifier
//! while the listen address stays apart.

use portcullis::{start, DevConfig};
use std::time::Duration;

fn own_users_file() -> String {
    let hash = portcullis_directory::hash_password("alices password").unwrap();
    format!(
        "[[users]]\nusername = \"alice\"\npassword_hash = \"{hash}\"\nscopes = [\"items:read\"]\n\n\
         [[clients]]\nclient_id = \"tool\"\ngrants = [\"urn:ietf:params:oauth:grant-type:device_code\"]\n\
         scopes = [\"items:read\"]\naudience = [\"data-api\"]\n"
    )
}

#[tokio::test]
async fn issuer_users_file_is_used_as_is_and_never_written() {
    let state = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let path = elsewhere.path().join("mine.toml");
    let text = own_users_file();
    std::fs::write(&path, &text).unwrap();
    let mut config = DevConfig::ephemeral(state.path());
    config.users_file = Some(path.clone());
    config.demo_password = Some("ignored".into());

    let dev = start(config)
        .await
        .expect("dev starts on an own users file");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "not rewritten"
    );
    assert!(
        !state.path().join("users.toml").exists(),
        "no demo file made"
    );
    assert_eq!(dev.users_file, path);
    let printed = dev.walkthrough.to_string();
    assert!(
        printed.contains(&format!("a user of {}", path.display())),
        "{printed}"
    );
    assert!(
        printed.contains("has no client `portcullis-cli`"),
        "{printed}"
    );
    assert!(
        !printed.contains("`demo`") && !printed.contains("ignored"),
        "{printed}"
    );
}

#[tokio::test]
async fn the_generated_users_file_is_rewritten_until_edited_then_kept() {
    let state = tempfile::tempdir().unwrap();
    let path = state.path().join("users.toml");
    let with_password = |password: &str| {
        let mut config = DevConfig::ephemeral(state.path());
        config.demo_password = Some(password.into());
        config
    };

    let first = start(with_password("first-Pw1"))
        .await
        .expect("first start");
    assert!(first.walkthrough.login.contains("PORTCULLIS_DEMO_PASSWORD"));
    assert!(!first.walkthrough.to_string().contains("first-Pw1"));
    drop(first);
    let one = std::fs::read_to_string(&path).unwrap();

    let second = start(with_password("second-Pw2"))
        .await
        .expect("second start");
    let two = std::fs::read_to_string(&path).unwrap();
    assert_ne!(one, two, "an unedited file gets the new demo password");
    drop(second);

    let edited = format!("{two}\n# my note\n");
    std::fs::write(&path, &edited).unwrap();
    let third = start(with_password("third-Pw3"))
        .await
        .expect("third start");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        edited,
        "edits kept"
    );
    let login = &third.walkthrough.login;
    assert!(
        login.contains(&format!("a user of {}", path.display())),
        "{login}"
    );
    assert!(
        !login.contains("has no client"),
        "the edited file still has it: {login}"
    );
}

#[tokio::test]
async fn a_random_demo_password_is_printed() {
    let state = tempfile::tempdir().unwrap();
    let dev = start(DevConfig::ephemeral(state.path())).await.unwrap();
    let printed = dev.walkthrough.to_string();
    assert!(
        printed.starts_with("Log in as `demo` with the password "),
        "{printed}"
    );
    assert!(!printed.contains("PORTCULLIS_DEMO_PASSWORD"), "{printed}");
}

/// A free loopback port: bound, read and released, for a setting that must name it up front.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn issuer_url_is_the_identifier_and_the_listen_address_stays_apart() {
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let public = format!("http://localhost:{port}");
    let mut config = DevConfig::ephemeral(state.path());
    config.issuer_listen = ([127, 0, 0, 1], port).into();
    config.issuer_url = Some(public.clone());
    let dev = start(config).await.expect("dev starts with ISSUER_URL");
    assert_eq!(dev.issuer_url, public);
    assert_eq!(dev.issuer.local_addr().port(), port);
    let printed = dev.walkthrough.to_string();
    assert!(
        printed.contains(&format!("{public}/oauth2/device_authorization")),
        "{printed}"
    );
    let data_api = format!("http://{}", dev.data_api.local_addr());
    tokio::spawn(dev.issuer.run_until(std::future::pending()));
    tokio::spawn(dev.data_api.run_until(std::future::pending()));

    let http = reqwest::Client::new();
    let discovery: serde_json::Value = http
        .get(format!("{public}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], public.as_str());
    assert_eq!(
        discovery["device_authorization_endpoint"],
        format!("{public}/oauth2/device_authorization").as_str()
    );
    // The data API trusts that identifier and fetches the keys through it.
    let mut ready = false;
    for _ in 0..100 {
        let answer = http.get(format!("{data_api}/readyz")).send().await.unwrap();
        if answer.status().is_success() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ready,
        "the data API got the issuer's keys through ISSUER_URL"
    );
}
