//! Tokens: refresh rotation, client credentials, RFC 9068 and the JWKS.

use super::*;

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    // Without the grace window, which would answer the reuse below with the same successor.
    let stack = Stack::start_with(StackOptions {
        issuer: strict_refresh_reuse(),
        ..Default::default()
    })
    .await;
    let (_, first) = stack.login("alice").await;
    let refresh = |token: String| {
        stack
            .http
            .post(format!("{}/oauth2/token", stack.issuer))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", CLI_CLIENT),
                ("refresh_token", &token),
            ])
            .send()
    };
    let rotated = refresh(first.clone()).await.unwrap();
    assert_eq!(rotated.status(), 200);
    assert_eq!(rotated.headers()["cache-control"], "no-store");
    let body: Value = rotated.json().await.unwrap();
    let second = body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(second, first, "every use rotates");
    let access = body["access_token"].as_str().unwrap();
    let read = stack.get_item(access, "x").await;
    assert_eq!(read.status(), 404, "the refreshed access token works");

    oauth_error(
        refresh(first).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    oauth_error(
        refresh(second).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn client_credentials_tokens_carry_the_clients_scope() {
    let stack = Stack::start().await;
    let response = stack
        .http
        .post(format!("{}/oauth2/token", stack.issuer))
        .basic_auth("reporting-job", Some(PASSWORD))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "items:read");
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token for client_credentials"
    );
    let list = stack
        .http
        .get(format!("{}/v1/items", stack.data_api))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let wrong = stack
        .http
        .post(format!("{}/oauth2/token", stack.issuer))
        .basic_auth("reporting-job", Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        wrong.headers()["www-authenticate"],
        r#"Basic realm="portcullis""#
    );
    oauth_error(wrong, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn access_tokens_follow_rfc9068_and_the_jwks_publishes_public_keys() {
    let stack = Stack::start().await;
    let (token, _) = stack.login("alice").await;
    let part = |i: usize| -> Value {
        use base64::Engine;
        let segment = token.split('.').nth(i).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(segment)
                .unwrap(),
        )
        .unwrap()
    };
    let header = part(0);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "at+jwt");
    let claims = part(1);
    assert_eq!(claims["iss"], stack.issuer);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], json!(["data-api"]));
    assert_eq!(claims["client_id"], CLI_CLIENT);
    assert_eq!(claims["scope"], "items:read items:write");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        600
    );
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));

    let jwks = stack
        .http
        .get(format!("{}/.well-known/jwks.json", stack.issuer))
        .send()
        .await
        .unwrap();
    assert!(jwks.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age="));
    let etag = jwks.headers()["etag"].clone();
    let keys: Value = jwks.json().await.unwrap();
    assert_eq!(keys["keys"][0]["kid"], header["kid"]);
    assert!(keys["keys"][0].get("d").is_none());
    let revalidated = stack
        .http
        .get(format!("{}/.well-known/jwks.json", stack.issuer))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
    for path in ["openid-configuration", "oauth-authorization-server"] {
        let doc: Value = stack
            .http
            .get(format!("{}/.well-known/{path}", stack.issuer))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["issuer"], stack.issuer);
        assert_eq!(
            doc["jwks_uri"],
            format!("{}/.well-known/jwks.json", stack.issuer)
        );
    }
}
