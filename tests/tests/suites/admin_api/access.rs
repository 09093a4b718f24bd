//! Who may call the admin API, how much, and whether it is there at all.

use super::*;

#[tokio::test]
async fn only_admin_tokens_are_let_in_with_rfc6750_answers() {
    let (stack, _seed) = start_on().await;
    let users = "/admin/v1/users";

    let (status, challenge, kind, _) = call(&stack, Method::GET, users, None, None).await;
    assert_eq!(status, 401);
    assert_eq!(challenge, r#"Bearer realm="portcullis""#);
    assert_eq!(kind, "application/problem+json");

    let invalid = r#"Bearer realm="portcullis", error="invalid_token""#;
    let garbage = call(&stack, Method::GET, users, Some("not.a.jwt"), None).await;
    assert_eq!(
        (garbage.0, garbage.1.as_str()),
        (StatusCode::UNAUTHORIZED, invalid)
    );

    // This issuer's own tokens for another audience: a service's, and a user's.
    let service = access_token(client_token(&stack, "reporting-job", PASSWORD).await).await;
    let wrong_audience = call(&stack, Method::GET, users, Some(&service), None).await;
    assert_eq!(
        (wrong_audience.0, wrong_audience.1.as_str()),
        (StatusCode::UNAUTHORIZED, invalid)
    );
    let (alice, _) = stack.login("alice").await;
    let user_token = call(&stack, Method::GET, users, Some(&alice), None).await;
    assert_eq!(
        (user_token.0, user_token.1.as_str()),
        (StatusCode::UNAUTHORIZED, invalid)
    );

    // The right audience without the scope.
    let reader = access_token(client_token(&stack, NO_SCOPE, PASSWORD).await).await;
    let (status, challenge, _, _) = call(&stack, Method::GET, users, Some(&reader), None).await;
    assert_eq!(status, 403);
    assert_eq!(
        challenge,
        r#"Bearer realm="portcullis", error="insufficient_scope", scope="portcullis:admin""#
    );

    let admin = admin_token(&stack).await;
    let (status, _, _, body) = call(&stack, Method::GET, users, Some(&admin), None).await;
    assert_eq!(status, 200, "{body}");

    // A user's token is let in when it carries the audience and the scope (both the client and
    // the user were granted it) ...
    let root = access_token(password_login(&stack, CONSOLE, "root", PASSWORD).await).await;
    let (status, _, _, _) = call(&stack, Method::GET, users, Some(&root), None).await;
    assert_eq!(status, 200);
    // ... and refused at once when the user's grant is withdrawn, before the token expires.
    let narrow = json!({ "scopes": ["items:read"] });
    let (status, _, _, _) = call(
        &stack,
        Method::PATCH,
        "/admin/v1/users/root",
        Some(&admin),
        Some(narrow),
    )
    .await;
    assert_eq!(status, 200);
    let withdrawn = call(&stack, Method::GET, users, Some(&root), None).await;
    assert_eq!(
        (withdrawn.0, withdrawn.1.as_str()),
        (StatusCode::UNAUTHORIZED, invalid)
    );
}

#[tokio::test]
async fn each_client_is_limited() {
    let (stack, _seed) = start(|args| {
        args.admin_api = true;
        args.admin_rate_limit = RateLimitPolicy::parse("3/min").expect("policy");
    })
    .await;
    let admin = admin_token(&stack).await;
    for _ in 0..3 {
        let (status, _, _, _) =
            call(&stack, Method::GET, "/admin/v1/users", Some(&admin), None).await;
        assert_eq!(status, 200);
    }
    let response = stack
        .http
        .get(format!("{}/admin/v1/users", stack.issuer))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn the_api_is_absent_unless_configured() {
    let openapi = |stack: &Stack| {
        let url = format!("{}/openapi.json", stack.issuer);
        let http = stack.http.clone();
        async move {
            http.get(url)
                .send()
                .await
                .expect("answer")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let (off, _off_seed) = start(|_| {}).await;
    let admin = admin_token(&off).await;
    let (status, _, _, _) = call(&off, Method::GET, "/admin/v1/users", Some(&admin), None).await;
    assert_eq!(status, 404);
    assert!(openapi(&off).await["paths"]
        .get("/admin/v1/users")
        .is_none());

    let (on, _on_seed) = start_on().await;
    let doc = openapi(&on).await;
    assert!(doc["paths"]["/admin/v1/users/{name}"]["patch"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["admin_bearer"]["scheme"],
        "bearer"
    );
}
