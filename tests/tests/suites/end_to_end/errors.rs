//! Error answers: problems from the data API, RFC 6749 errors from the token endpoint.

use super::*;

#[tokio::test]
async fn bad_input_gets_clear_4xx_problems() {
    let stack = Stack::start().await;
    let (token, _) = stack.login("alice").await;
    let put = |body: &'static str| {
        stack
            .http
            .put(stack.item_url("x"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
    };
    for body in [
        "{",
        "[]",
        "[[]]",
        "[1]",
        "{}",
        r#"{"data": 1, "extra": 2}"#,
        r#"{"dat": 1}"#,
        "\u{0}",
    ] {
        problem(put(body).send().await.unwrap(), StatusCode::BAD_REQUEST).await;
    }
    let text = stack
        .http
        .put(stack.item_url("x"))
        .bearer_auth(&token)
        .body(r#"{"data":1}"#)
        .send()
        .await
        .unwrap();
    problem(text, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    // Data just over 1 MiB, and a body far over any limit.
    for size in [1024 * 1024 + 10, 3 * 1024 * 1024] {
        let huge = format!(r#"{{"data":"{}"}}"#, "a".repeat(size));
        let oversized = stack
            .http
            .put(stack.item_url("x"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(huge)
            .send()
            .await
            .unwrap();
        problem(oversized, StatusCode::PAYLOAD_TOO_LARGE).await;
    }
    let absent = stack.get_item(&token, "x").await;
    assert_eq!(
        absent.status(),
        404,
        "nothing was stored by the refused writes"
    );

    for id in ["a%2Fb", "a%20b", &"x".repeat(129), "%FF"] {
        let response = stack.get_item(&token, id).await;
        problem(response, StatusCode::BAD_REQUEST).await;
    }
    let list = stack
        .http
        .get(format!("{}/v1/items?limit=0", stack.data_api))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    problem(list, StatusCode::BAD_REQUEST).await;
    let list = stack
        .http
        .get(format!("{}/v1/items?cursor=a/b", stack.data_api))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    problem(list, StatusCode::BAD_REQUEST).await;

    for bad in [
        "garbage",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.e30.",
        &"x".repeat(9000),
    ] {
        let response = stack.get_item(bad, "x").await;
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with(r#"Bearer error="invalid_token", resource_metadata=""#),
            "{challenge}"
        );
        problem(response, StatusCode::UNAUTHORIZED).await;
    }
    let unknown_route = stack
        .http
        .get(format!("{}/v2/nothing", stack.data_api))
        .send()
        .await
        .unwrap();
    problem(unknown_route, StatusCode::NOT_FOUND).await;
    let wrong_method = stack
        .http
        .post(stack.item_url("x"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    problem(wrong_method, StatusCode::METHOD_NOT_ALLOWED).await;
}

#[tokio::test]
async fn the_token_endpoint_answers_rfc6749_errors() {
    let stack = Stack::start().await;
    let token_url = format!("{}/oauth2/token", stack.issuer);
    let post_form = |body: &'static str| {
        stack
            .http
            .post(&token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    };
    let wrong = stack.login_response("alice", "wrong password").await;
    oauth_error(wrong, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let unknown = stack.login_response("nobody", PASSWORD).await;
    oauth_error(unknown, StatusCode::BAD_REQUEST, "invalid_grant").await;

    let json = stack
        .http
        .post(&token_url)
        .json(&json!({"grant_type": "password"}))
        .send()
        .await
        .unwrap();
    oauth_error(json, StatusCode::BAD_REQUEST, "invalid_request").await;
    let repeated = post_form("grant_type=password&grant_type=password&client_id=portcullis-cli")
        .send()
        .await
        .unwrap();
    oauth_error(repeated, StatusCode::BAD_REQUEST, "invalid_request").await;
    let not_utf8 = stack
        .http
        .post(&token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(&b"grant_type=password&client_id=portcullis-cli&username=%FF"[..])
        .send()
        .await
        .unwrap();
    oauth_error(not_utf8, StatusCode::BAD_REQUEST, "invalid_request").await;
    let unknown_grant = post_form("grant_type=implicit&client_id=portcullis-cli")
        .send()
        .await
        .unwrap();
    oauth_error(
        unknown_grant,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    )
    .await;
    let missing = post_form("client_id=portcullis-cli").send().await.unwrap();
    oauth_error(missing, StatusCode::BAD_REQUEST, "invalid_request").await;
    let no_client = post_form("grant_type=password&username=alice&password=x")
        .send()
        .await
        .unwrap();
    oauth_error(no_client, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let bad_client = post_form("grant_type=password&client_id=evil&username=alice&password=x")
        .send()
        .await
        .unwrap();
    oauth_error(bad_client, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let wrong_grant = post_form("grant_type=client_credentials&client_id=portcullis-cli")
        .send()
        .await
        .unwrap();
    oauth_error(wrong_grant, StatusCode::BAD_REQUEST, "unauthorized_client").await;
    let too_much_scope = stack
        .http
        .post(&token_url)
        .form(&[
            ("grant_type", "password"),
            ("client_id", CLI_CLIENT),
            ("username", "reader"),
            ("password", PASSWORD),
            ("scope", "items:write"),
        ])
        .send()
        .await
        .unwrap();
    oauth_error(too_much_scope, StatusCode::BAD_REQUEST, "invalid_scope").await;
    let oversized = stack
        .http
        .post(&token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=password&password={}",
            "a".repeat(100_000)
        ))
        .send()
        .await
        .unwrap();
    oauth_error(oversized, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request").await;
}
