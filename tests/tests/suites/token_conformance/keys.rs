//! Keys: an issuer down, key rotation, readiness before the first key set.

use super::*;

#[tokio::test]
async fn tokens_keep_working_while_the_issuer_is_down() {
    let mut f = fixture().await;
    let (token, _) = f.stack.login("alice").await;
    f.assert_accepted(&token).await;
    f.stack.stop_issuer().await;
    let fresh = f.sign(&f.header(), &f.claims());
    f.assert_accepted(&fresh).await;
    f.assert_accepted(&token).await;
    let attacker = foreign_pem();
    let unknown = json!({"alg": "RS256", "typ": "at+jwt", "kid": "new-kid"});
    f.assert_rejected(&sign_rs256(&attacker, &unknown, &f.claims()), "unknown_kid")
        .await;
    let ready = f
        .stack
        .http
        .get(format!("{}/readyz", f.stack.data_api))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ready.status(),
        200,
        "a loaded key set keeps the data API ready"
    );
}

#[tokio::test]
async fn key_rotation_is_followed_without_rejecting_a_valid_token() {
    let f = fixture_with(StackOptions {
        fast_key_rotation: true,
        ..Default::default()
    })
    .await;
    let keys = f.stack.keys_dir();
    let (old_token, _) = f.stack.login("alice").await;
    let new_pem = foreign_pem();
    let new_kid = portcullis_jwt::SigningKey::from_pem(&new_pem)
        .unwrap()
        .kid()
        .to_string();

    // 1. Publish the new key (the old one stays active).
    std::fs::write(keys.join("b.pem"), &new_pem).unwrap();
    std::fs::write(keys.join("ACTIVE"), "a.pem").unwrap();
    let mut new_header = f.header();
    new_header["kid"] = json!(new_kid);
    let signed_by_new = sign_rs256(&new_pem, &new_header, &f.claims());
    let mut published = false;
    for _ in 0..100 {
        f.assert_accepted(&old_token).await;
        if f.call(&signed_by_new).await.status() == 404 {
            published = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(published, "the data API picked up the published key");

    // 2. Activate it: new logins are signed with it, old tokens still pass.
    std::fs::write(keys.join("ACTIVE"), "b.pem").unwrap();
    let mut rotated = None;
    for _ in 0..100 {
        let (token, _) = f.stack.login("alice").await;
        f.assert_accepted(&token).await;
        f.assert_accepted(&old_token).await;
        if kid_of(&token) == new_kid {
            rotated = Some(token);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let new_token = rotated.expect("the issuer signs with the new key");
    f.assert_accepted(&new_token).await;
    f.assert_accepted(&old_token).await;

    // 3. Remove the old key: once the data API refreshes, tokens it signed stop passing, even
    //    though the verified-token cache had them.
    std::fs::remove_file(keys.join("a.pem")).unwrap();
    let mut removed = false;
    for _ in 0..100 {
        f.assert_accepted(&new_token).await;
        if f.call(&old_token).await.status() == 401 {
            removed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        removed,
        "a token whose key left the JWKS is no longer accepted"
    );
}

#[tokio::test]
async fn the_data_api_is_not_ready_until_it_has_keys_but_always_alive() {
    // An issuer address where nothing listens.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let data_api = Stack::start_data_api(
        &issuer,
        dir.path().join("items.db"),
        &StackOptions::default(),
    )
    .await;
    let http = reqwest::Client::new();
    let ready = http.get(format!("{data_api}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["dependencies"]["issuer_keys"]["ok"], false, "{body}");
    let alive = http
        .get(format!("{data_api}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(alive.status(), 200, "liveness never depends on the issuer");
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "any"});
    let claims = json!({"iss": issuer, "sub": "alice", "aud": "data-api", "exp": now() + 60});
    let token = sign_rs256(&foreign_pem(), &header, &claims);
    let call = http
        .get(format!("{data_api}/v1/items/x"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        call.status(),
        503,
        "no keys yet: an intended 503, not a verdict on the token"
    );
    assert!(call.headers().contains_key("retry-after"));
}
