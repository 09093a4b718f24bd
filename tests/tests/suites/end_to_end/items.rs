//! Items: the journey, conditional requests and scopes.

use super::*;

#[tokio::test]
async fn log_in_write_read_and_stay_out_of_other_peoples_items() {
    let stack = Stack::start().await;
    let (alice, _) = stack.login("alice").await;
    let (bob, _) = stack.login("bob").await;

    let written = stack
        .put_item(
            &alice,
            "notes",
            &json!({"data": {"text": "hello", "n": [1, 2, 3]}}),
        )
        .await;
    assert_eq!(written.status(), 200);
    let etag = written.headers()["etag"].to_str().unwrap().to_string();
    let body: Value = written.json().await.unwrap();
    assert_eq!(body["id"], "notes");
    assert_eq!(body["data"], json!({"text": "hello", "n": [1, 2, 3]}));
    assert_eq!(etag, format!("\"{}\"", body["version"]));

    let read = stack.get_item(&alice, "notes").await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(read.json::<Value>().await.unwrap(), body);

    // No token: 401 with an RFC 6750 challenge.
    let anonymous = stack
        .http
        .get(stack.item_url("notes"))
        .send()
        .await
        .unwrap();
    let challenge = anonymous.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with(r#"Bearer resource_metadata=""#),
        "{challenge}"
    );
    problem(anonymous, StatusCode::UNAUTHORIZED).await;

    // Bob cannot see alice's item, and writing his own "notes" leaves hers alone.
    let foreign = stack.get_item(&bob, "notes").await;
    problem(foreign, StatusCode::NOT_FOUND).await;
    let bobs = stack
        .put_item(&bob, "notes", &json!({"data": "bob's"}))
        .await;
    assert_eq!(bobs.status(), 200);
    let again = stack.get_item(&alice, "notes").await;
    assert_eq!(
        again.json::<Value>().await.unwrap(),
        body,
        "alice's item is untouched"
    );
    let bob_list: Value = stack.list_items(&bob).await;
    assert_eq!(bob_list["items"].as_array().unwrap().len(), 1);
    assert_eq!(bob_list["items"][0]["data"], "bob's");
    assert_eq!(bob_list["next"], Value::Null);

    // Bob cannot delete alice's item either.
    let delete = stack.delete_item(&bob, "notes").await;
    assert_eq!(delete.status(), 204, "bob deletes his own notes");
    let still = stack.get_item(&alice, "notes").await;
    assert_eq!(still.status(), 200, "alice's notes survive bob's delete");
}

#[tokio::test]
async fn conditional_requests_use_the_version_as_etag() {
    let stack = Stack::start().await;
    let (token, _) = stack.login("alice").await;
    let put = |body: Value| {
        stack
            .http
            .put(stack.item_url("doc"))
            .bearer_auth(&token)
            .json(&body)
    };

    let first = put(json!({"data": 1})).send().await.unwrap();
    let etag = first.headers()["etag"].clone();
    let cached = stack
        .http
        .get(stack.item_url("doc"))
        .bearer_auth(&token)
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    let queries = r#"portcullis_store_queries_total{op="get"}"#;
    let before = stack.metric(&stack.data_api, queries).await;
    let again = stack
        .http
        .get(stack.item_url("doc"))
        .bearer_auth(&token)
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(
        stack.metric(&stack.data_api, queries).await,
        before,
        "304 straight from the cache"
    );

    let second = put(json!({"data": 2}))
        .header("if-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 200);
    let stale = put(json!({"data": 3}))
        .header("if-match", etag.clone())
        .send()
        .await
        .unwrap();
    problem(stale, StatusCode::PRECONDITION_FAILED).await;
    let create_only = put(json!({"data": 4}))
        .header("if-none-match", "*")
        .send()
        .await
        .unwrap();
    problem(create_only, StatusCode::PRECONDITION_FAILED).await;
    let current: Value = stack.get_item(&token, "doc").await.json().await.unwrap();
    assert_eq!(current["data"], 2, "failed preconditions changed nothing");

    let changed = stack
        .http
        .get(stack.item_url("doc"))
        .bearer_auth(&token)
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        changed.status(),
        200,
        "an old etag does not match the new version"
    );
}

#[tokio::test]
async fn scopes_are_enforced_with_rfc6750_challenges() {
    let stack = Stack::start().await;
    let (reader, _) = stack.login("reader").await;
    let write = stack.put_item(&reader, "x", &json!({"data": 1})).await;
    let challenge = write.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(challenge.contains("items:write"), "{challenge}");
    problem(write, StatusCode::FORBIDDEN).await;
    let read = stack.get_item(&reader, "x").await;
    assert_eq!(
        read.status(),
        404,
        "reading is allowed (and the item is absent)"
    );
}
