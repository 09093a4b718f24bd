//! DPoP end to end (RFC 9449): a client holding a key pair gets bound tokens from the issuer,
//! uses them at the data API and refreshes them; whoever steals the tokens without the key gets
//! nothing. Proofs are made with `jsonwebtoken`, never with the project's code.

use portcullis_tests::{
    Browser, DpopClient, Stack, StackOptions, CALLBACK_ON_PORT, CLI_CLIENT, DPOP_CLIENT, PASSWORD,
    WEB_CLIENT,
};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use std::sync::Arc;

fn token_url(stack: &Stack) -> String {
    format!("{}/oauth2/token", stack.issuer)
}

/// `POST /oauth2/token` with `form` and, if given, one DPoP proof.
async fn token_request(stack: &Stack, form: &[(&str, &str)], proof: Option<String>) -> Response {
    let mut request = stack.http.post(token_url(stack)).form(form);
    if let Some(proof) = proof {
        request = request.header("dpop", proof);
    }
    request.send().await.expect("the issuer answers")
}

async fn oauth_error(response: Response, error: &str) {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
}

fn payload(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A read of item `id` with `token` under `scheme`, with `client`'s proof if given.
async fn read(stack: &Stack, token: &str, scheme: &str, client: Option<&DpopClient>) -> Response {
    let url = format!("{}/v1/items/journey", stack.data_api);
    let mut request = stack
        .http
        .get(&url)
        .header("authorization", format!("{scheme} {token}"));
    if let Some(client) = client {
        request = request.header("dpop", client.proof("GET", &url, token));
    }
    request.send().await.unwrap()
}

fn tokens(body: &Value) -> (String, String) {
    assert_eq!(body["token_type"], "DPoP", "{body}");
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_key_holder_logs_in_calls_and_refreshes_and_a_thief_without_the_key_gets_nothing() {
    let stack = Stack::start().await;
    let client = DpopClient::new();
    let thief = DpopClient::new();
    let login = [
        ("grant_type", "password"),
        ("client_id", CLI_CLIENT),
        ("username", "alice"),
        ("password", PASSWORD),
    ];
    let proof = client.token_request_proof(&token_url(&stack), None);
    let answer = token_request(&stack, &login, Some(proof.clone())).await;
    assert_eq!(answer.status(), 200);
    let (access, refresh) = tokens(&answer.json().await.unwrap());
    assert_eq!(payload(&access)["cnf"]["jkt"], client.jkt.as_str());

    // The same proof again is a replay.
    oauth_error(
        token_request(&stack, &login, Some(proof)).await,
        "invalid_dpop_proof",
    )
    .await;

    assert_eq!(
        read(&stack, &access, "DPoP", Some(&client)).await.status(),
        404
    );
    for (scheme, prover) in [("Bearer", None), ("DPoP", None), ("DPoP", Some(&thief))] {
        let response = read(&stack, &access, scheme, prover).await;
        assert_eq!(
            response.status(),
            401,
            "{scheme} with {:?}",
            prover.map(|p| &p.jkt)
        );
    }

    // The public client's refresh token is bound to the key too.
    let refresh_form = [
        ("grant_type", "refresh_token"),
        ("client_id", CLI_CLIENT),
        ("refresh_token", refresh.as_str()),
    ];
    oauth_error(
        token_request(&stack, &refresh_form, None).await,
        "invalid_dpop_proof",
    )
    .await;
    let stolen = thief.token_request_proof(&token_url(&stack), None);
    oauth_error(
        token_request(&stack, &refresh_form, Some(stolen)).await,
        "invalid_dpop_proof",
    )
    .await;
    let proof = client.token_request_proof(&token_url(&stack), None);
    let answer = token_request(&stack, &refresh_form, Some(proof)).await;
    assert_eq!(answer.status(), 200, "the refused attempts spent nothing");
    let (access, _) = tokens(&answer.json().await.unwrap());
    assert_eq!(payload(&access)["cnf"]["jkt"], client.jkt.as_str());
    assert_eq!(
        read(&stack, &access, "DPoP", Some(&client)).await.status(),
        404
    );
}

#[tokio::test]
async fn a_client_registered_for_dpop_gets_no_bearer_token() {
    let stack = Stack::start().await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", DPOP_CLIENT),
        ("client_secret", PASSWORD),
    ];
    oauth_error(
        token_request(&stack, &form, None).await,
        "invalid_dpop_proof",
    )
    .await;
    let client = DpopClient::new();
    let proof = client.token_request_proof(&token_url(&stack), None);
    let answer = token_request(&stack, &form, Some(proof)).await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(payload(access)["cnf"]["jkt"], client.jkt.as_str());
    assert_eq!(
        read(&stack, access, "DPoP", Some(&client)).await.status(),
        404
    );

    // Discovery says which proofs the issuer takes.
    let discovery: Value = stack.well_known("openid-configuration").await;
    let algs = discovery["dpop_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(
        algs.contains(&"ES256".into()) && !algs.contains(&"HS256".into()),
        "{discovery}"
    );
}

#[tokio::test]
async fn with_server_nonces_a_proof_must_carry_the_nonce_the_issuer_handed_out() {
    let stack = Stack::start_with(StackOptions {
        issuer: Some(Arc::new(|args: &mut auth_issuer::Args| {
            args.dpop_nonce = true
        })),
        ..StackOptions::default()
    })
    .await;
    let client = DpopClient::new();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "reporting-job"),
        ("client_secret", PASSWORD),
    ];
    let first = token_request(
        &stack,
        &form,
        Some(client.token_request_proof(&token_url(&stack), None)),
    )
    .await;
    let nonce = first
        .headers()
        .get("dpop-nonce")
        .expect("a nonce to retry with")
        .to_str()
        .unwrap()
        .to_owned();
    oauth_error(first, "use_dpop_nonce").await;
    let wrong = client.token_request_proof(&token_url(&stack), Some("not-the-nonce"));
    oauth_error(
        token_request(&stack, &form, Some(wrong)).await,
        "use_dpop_nonce",
    )
    .await;
    let retry = client.token_request_proof(&token_url(&stack), Some(&nonce));
    let answer = token_request(&stack, &form, Some(retry)).await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    // Without a proof the nonce is not asked for: bearer tokens stay available.
    let bearer = token_request(&stack, &form, None).await;
    assert_eq!(bearer.status(), 200);
    let body: Value = bearer.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
}

#[tokio::test]
async fn a_code_bound_with_dpop_jkt_is_redeemed_only_with_that_key() {
    let stack = Stack::start().await;
    let client = DpopClient::new();
    let thief = DpopClient::new();
    let mut browser = Browser::new(&stack.issuer);
    let bind = [("dpop_jkt", client.jkt.as_str())];
    for prover in [None, Some(&thief), Some(&client)] {
        let (answer, verifier) = stack.authorize_web(&mut browser, "alice", &bind).await;
        let code = answer.redirect_param("code").expect("a code");
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", WEB_CLIENT),
            ("client_secret", PASSWORD),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK_ON_PORT),
            ("code_verifier", verifier.as_str()),
        ];
        let proof = prover.map(|p| p.token_request_proof(&token_url(&stack), None));
        let answer = token_request(&stack, &form, proof).await;
        match prover {
            Some(p) if p.jkt == client.jkt => {
                assert_eq!(answer.status(), 200);
                let body: Value = answer.json().await.unwrap();
                assert_eq!(body["token_type"], "DPoP");
            }
            _ => oauth_error(answer, "invalid_dpop_proof").await,
        }
    }
    let (answer, _) = stack
        .authorize_web(&mut browser, "alice", &[("dpop_jkt", "not a thumbprint")])
        .await;
    assert_eq!(
        answer.redirect_param("error").as_deref(),
        Some("invalid_request")
    );
}

#[tokio::test]
async fn malformed_proofs_at_the_token_endpoint_get_invalid_dpop_proof_never_a_500() {
    let stack = Stack::start().await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "reporting-job"),
        ("client_secret", PASSWORD),
    ];
    let client = DpopClient::new();
    let url = token_url(&stack);
    let mut hs256 = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs256.typ = Some("dpop+jwt".into());
    let symmetric = jsonwebtoken::encode(
        &hs256,
        &serde_json::json!({"jti": "j", "htm": "POST", "htu": url, "iat": portcullis_tests::now()}),
        &jsonwebtoken::EncodingKey::from_secret(b"secret"),
    )
    .unwrap();
    let wrong_url = client.token_request_proof(&format!("{}/oauth2/revoke", stack.issuer), None);
    for proof in [
        "garbage".to_owned(),
        "a.b.c".to_owned(),
        "x".repeat(9_000),
        symmetric,
        wrong_url,
    ] {
        let answer = token_request(&stack, &form, Some(proof)).await;
        oauth_error(answer, "invalid_dpop_proof").await;
    }
    let two = stack
        .http
        .post(&url)
        .form(&form)
        .header("dpop", client.token_request_proof(&url, None))
        .header("dpop", client.token_request_proof(&url, None))
        .send()
        .await
        .unwrap();
    oauth_error(two, "invalid_dpop_proof").await;
}

#[tokio::test]
async fn a_public_session_begun_without_dpop_is_not_bound_halfway() {
    let stack = Stack::start().await;
    let login = [
        ("grant_type", "password"),
        ("client_id", CLI_CLIENT),
        ("username", "alice"),
        ("password", PASSWORD),
    ];
    let answer = token_request(&stack, &login, None).await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    let refresh = body["refresh_token"].as_str().unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", CLI_CLIENT),
        ("refresh_token", refresh),
    ];
    let client = DpopClient::new();
    let proof = client.token_request_proof(&token_url(&stack), None);
    oauth_error(
        token_request(&stack, &form, Some(proof)).await,
        "invalid_dpop_proof",
    )
    .await;
    let bearer = token_request(&stack, &form, None).await;
    assert_eq!(bearer.status(), 200, "the refused attempt spent nothing");
}
