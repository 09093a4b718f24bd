//! Paging, and the problems bad requests get.

use super::*;

/// Every name of a collection, following `next` with pages of `limit`.
async fn all_pages(
    stack: &Stack,
    token: &str,
    collection: &str,
    key: &str,
    limit: u32,
) -> Vec<String> {
    let (mut names, mut after, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let mut path = format!("/admin/v1/{collection}?limit={limit}");
        if let Some(after) = &after {
            path.push_str(&format!("&after={after}"));
        }
        let (status, _, _, body) = call(stack, Method::GET, &path, Some(token), None).await;
        assert_eq!(status, 200, "{body}");
        let page = body[collection].as_array().expect("a page");
        assert!(page.len() <= limit as usize);
        names.extend(
            page.iter()
                .map(|r| r[key].as_str().expect("a name").to_owned()),
        );
        pages += 1;
        match body["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert!(pages > 1, "{collection} spans several pages of {limit}");
    names
}

#[tokio::test]
async fn users_and_clients_come_in_pages_with_a_next_cursor() {
    let (stack, _seed) = start_on().await;
    let admin = admin_token(&stack).await;
    let users = all_pages(&stack, &admin, "users", "username", 2).await;
    assert_eq!(users, ["alice", "bob", "reader", "root"]);
    let clients = all_pages(&stack, &admin, "clients", "client_id", 3).await;
    let mut expected = clients.clone();
    expected.sort();
    expected.dedup();
    assert_eq!(clients, expected, "in id order, none twice");
    assert_eq!(clients.len(), 9);
    // A last page that is exactly full says so.
    let (_, _, _, body) = call(
        &stack,
        Method::GET,
        "/admin/v1/users?limit=4",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(body["next"], Value::Null);
}

#[tokio::test]
async fn bad_requests_are_problems_and_change_nothing() {
    let (stack, _seed) = start_on().await;
    let token = admin_token(&stack).await;
    let admin = Some(token.as_str());
    let user = |name: &str, password: &str, scopes: Value| json!({ "username": name, "password": password, "scopes": scopes });
    let cases = [
        (
            Method::POST,
            "/admin/v1/users",
            Some(user("alice", "long enough password", json!([]))),
            409,
        ),
        // Users and clients share one namespace.
        (
            Method::POST,
            "/admin/v1/users",
            Some(user("reporting-job", "long enough password", json!([]))),
            409,
        ),
        (
            Method::POST,
            "/admin/v1/users",
            Some(user("eve", "short", json!([]))),
            422,
        ),
        (
            Method::POST,
            "/admin/v1/users",
            Some(user("eve", "long enough password", json!(["bad scope"]))),
            422,
        ),
        (
            Method::POST,
            "/admin/v1/users",
            Some(json!({ "username": "eve", "password": "long enough password", "admin": true })),
            422,
        ),
        (Method::GET, "/admin/v1/users/nobody", None, 404),
        (
            Method::PATCH,
            "/admin/v1/users/nobody",
            Some(json!({ "disabled": true })),
            404,
        ),
        (
            Method::PATCH,
            "/admin/v1/users/alice",
            Some(json!({ "disabled": true, "scopes": [] })),
            422,
        ),
        (Method::PATCH, "/admin/v1/users/alice", Some(json!({})), 422),
        (
            Method::PATCH,
            "/admin/v1/users/alice",
            Some(json!({ "email": "not-an-address" })),
            422,
        ),
        (
            Method::PUT,
            "/admin/v1/users/alice/password",
            Some(json!({ "password": "" })),
            422,
        ),
        (Method::DELETE, "/admin/v1/users/nobody", None, 404),
        (Method::GET, "/admin/v1/users?limit=0", None, 400),
        (Method::GET, "/admin/v1/users?page=2", None, 400),
        (
            Method::POST,
            "/admin/v1/clients",
            Some(
                json!({ "client_id": "eve-job", "grants": ["client_credentials"], "audience": ["data-api"] }),
            ),
            422,
        ),
        (
            Method::POST,
            "/admin/v1/clients",
            Some(
                json!({ "client_id": "reporting-job", "confidential": true, "grants": ["client_credentials"], "audience": ["data-api"] }),
            ),
            409,
        ),
        (
            Method::POST,
            "/admin/v1/clients",
            Some(
                json!({ "client_id": "alice", "confidential": true, "grants": ["client_credentials"], "audience": ["data-api"] }),
            ),
            409,
        ),
        (
            Method::POST,
            "/admin/v1/clients/portcullis-cli/secret",
            None,
            422,
        ),
        (Method::POST, "/admin/v1/clients/nobody/secret", None, 404),
        (Method::GET, "/admin/v1/clients/nobody", None, 404),
    ];
    for (method, path, body, expected) in cases {
        let described = format!("{method} {path} {body:?}");
        let (status, _, kind, problem) = call(&stack, method, path, admin, body).await;
        assert_eq!(status.as_u16(), expected, "{described}: {problem}");
        assert_eq!(kind, "application/problem+json", "{described}");
        assert_eq!(problem["status"], expected, "{described}");
    }
    let malformed = stack
        .http
        .post(format!("{}/admin/v1/users", stack.issuer))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .expect("answer");
    assert_eq!(malformed.status(), 400);
    for (path, name) in [
        ("/admin/v1/users/eve", "eve"),
        ("/admin/v1/clients/eve-job", "eve-job"),
    ] {
        let (status, _, _, _) = call(&stack, Method::GET, path, admin, None).await;
        assert_eq!(status, 404, "{name} was not half-created");
    }
    let (_, _, _, alice) = call(&stack, Method::GET, "/admin/v1/users/alice", admin, None).await;
    assert_eq!(
        alice["disabled"], false,
        "a refused change changed nothing: {alice}"
    );
    assert_eq!(alice["email"], "alice@example.com");
}
