//! A user and a client created, changed and deleted through the API, each step visible at the
//! token endpoint.

use super::*;

#[tokio::test]
async fn a_user_is_created_disabled_enabled_given_a_password_and_deleted() {
    let (stack, _seed) = start_on().await;
    let admin = admin_token(&stack).await;
    let admin = Some(admin.as_str());

    let dora = json!({
        "username": "dora", "password": "a long enough password", "scopes": ["items:read"],
        "name": "Dora", "email": "dora@example.com"
    });
    let (status, _, _, body) =
        call(&stack, Method::POST, "/admin/v1/users", admin, Some(dora)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["username"], "dora");
    assert_eq!(body["disabled"], false);
    assert!(body.get("password").is_none() && body.get("password_hash").is_none());
    let login = password_login(&stack, CLI_CLIENT, "dora", "a long enough password").await;
    assert_eq!(login.status(), 200, "the new user logs in");
    let tokens: Value = login.json().await.expect("json");
    let refresh_token = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();

    // A profile change keeps what it does not name; a scope change replaces the scopes.
    let renamed = json!({ "name": "Dora E." });
    let (status, _, _, body) = call(
        &stack,
        Method::PATCH,
        "/admin/v1/users/dora",
        admin,
        Some(renamed),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["name"], &body["email"]),
        (&json!("Dora E."), &json!("dora@example.com"))
    );
    let scopes = json!({ "scopes": ["items:read", "items:write"] });
    let (status, _, _, body) = call(
        &stack,
        Method::PATCH,
        "/admin/v1/users/dora",
        admin,
        Some(scopes),
    )
    .await;
    assert_eq!(
        (status, &body["scopes"]),
        (StatusCode::OK, &json!(["items:read", "items:write"]))
    );

    let disable = json!({ "disabled": true });
    let (status, _, _, body) = call(
        &stack,
        Method::PATCH,
        "/admin/v1/users/dora",
        admin,
        Some(disable),
    )
    .await;
    assert_eq!((status, &body["disabled"]), (StatusCode::OK, &json!(true)));
    assert_eq!(
        refresh(&stack, &refresh_token).await,
        400,
        "disabled: no refresh"
    );
    let (_, _, _, read) = call(&stack, Method::GET, "/admin/v1/users/dora", admin, None).await;
    assert_eq!(
        (read["disabled"].clone(), read["email"].clone()),
        (json!(true), json!("dora@example.com"))
    );

    let enable = json!({ "disabled": false });
    let (status, _, _, _) = call(
        &stack,
        Method::PATCH,
        "/admin/v1/users/dora",
        admin,
        Some(enable),
    )
    .await;
    assert_eq!(status, 200);
    // Sessions begun in the second of the re-enable count as before it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = password_login(&stack, CLI_CLIENT, "dora", "a long enough password").await;
    assert_eq!(again.status(), 200, "enabled again");

    let password = json!({ "password": "another long password" });
    let (status, _, _, _) = call(
        &stack,
        Method::PUT,
        "/admin/v1/users/dora/password",
        admin,
        Some(password),
    )
    .await;
    assert_eq!(status, 204);
    let old = password_login(&stack, CLI_CLIENT, "dora", "a long enough password").await;
    assert_eq!(old.status(), 400, "the old password no longer works");

    let (status, _, _, _) = call(&stack, Method::DELETE, "/admin/v1/users/dora", admin, None).await;
    assert_eq!(status, 204);
    let gone = password_login(&stack, CLI_CLIENT, "dora", "another long password").await;
    assert_eq!(gone.status(), 400);
    let (status, _, _, _) = call(&stack, Method::GET, "/admin/v1/users/dora", admin, None).await;
    assert_eq!(status, 404);

    let audited = stack.metrics_text(&stack.issuer).await;
    for (event, count) in [
        ("admin_user_created", 1),
        ("admin_user_changed", 5),
        ("admin_user_deleted", 1),
    ] {
        let series = format!("portcullis_audit_events_total{{event=\"{event}\"}} {count}");
        assert!(audited.contains(&series), "{event} audited {count} times");
    }
}

#[tokio::test]
async fn a_client_is_created_rotated_narrowed_and_deleted() {
    let (stack, _seed) = start_on().await;
    let admin = admin_token(&stack).await;
    let admin = Some(admin.as_str());
    let nightly = json!({
        "client_id": "nightly", "confidential": true, "grants": ["client_credentials"],
        "scopes": ["items:read"], "audience": ["data-api"]
    });
    let (status, _, _, body) = call(
        &stack,
        Method::POST,
        "/admin/v1/clients",
        admin,
        Some(nightly),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["confidential"], true);
    let secret = body["client_secret"]
        .as_str()
        .expect("the secret, once")
        .to_owned();
    assert_eq!(client_token(&stack, "nightly", &secret).await.status(), 200);
    let (_, _, _, read) = call(
        &stack,
        Method::GET,
        "/admin/v1/clients/nightly",
        admin,
        None,
    )
    .await;
    assert!(read.get("client_secret").is_none(), "shown once: {read}");

    let (status, _, _, rotated) = call(
        &stack,
        Method::POST,
        "/admin/v1/clients/nightly/secret",
        admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let new_secret = rotated["client_secret"].as_str().expect("the new secret");
    assert_eq!(
        client_token(&stack, "nightly", &secret).await.status(),
        401,
        "old secret refused"
    );
    assert_eq!(
        client_token(&stack, "nightly", new_secret).await.status(),
        200
    );

    let scopes = json!({ "scopes": [] });
    let (status, _, _, body) = call(
        &stack,
        Method::PATCH,
        "/admin/v1/clients/nightly",
        admin,
        Some(scopes),
    )
    .await;
    assert_eq!(
        (status, body["scopes"].clone()),
        (StatusCode::OK, json!([]))
    );
    let (status, _, _, _) = call(
        &stack,
        Method::DELETE,
        "/admin/v1/clients/nightly",
        admin,
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        client_token(&stack, "nightly", new_secret).await.status(),
        401
    );

    let audited = stack.metrics_text(&stack.issuer).await;
    for (event, count) in [
        ("admin_client_created", 1),
        ("admin_client_changed", 2),
        ("admin_client_deleted", 1),
    ] {
        let series = format!("portcullis_audit_events_total{{event=\"{event}\"}} {count}");
        assert!(audited.contains(&series), "{event} audited {count} times");
    }
}
