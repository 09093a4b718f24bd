//! DPoP-bound tokens at the issuer's own resources (RFC 9449 §6.2, §7): UserInfo takes them only
//! with a proof by their key, and introspection tells resource servers about the binding.

use portcullis_tests::{Browser, DpopClient, Stack, CALLBACK_ON_PORT, PASSWORD, WEB_CLIENT};
use serde_json::Value;

/// A code login of alice through the web client with `client`'s proof: a bound access token.
async fn bound_login(stack: &Stack, client: &DpopClient) -> String {
    let mut browser = Browser::new(&stack.issuer);
    let scope = [("scope", "openid profile email items:read")];
    let (answer, verifier) = stack.authorize_web(&mut browser, "alice", &scope).await;
    let code = answer.redirect_param("code").expect("a code");
    let token_url = format!("{}/oauth2/token", stack.issuer);
    let response = stack
        .http
        .post(&token_url)
        .header("dpop", client.token_request_proof(&token_url, None))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", WEB_CLIENT),
            ("client_secret", PASSWORD),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK_ON_PORT),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn userinfo_takes_a_bound_token_only_with_a_proof_by_its_key() {
    let stack = Stack::start().await;
    let client = DpopClient::new();
    let token = bound_login(&stack, &client).await;
    let url = format!("{}/oauth2/userinfo", stack.issuer);
    let call = |scheme: &str, proof: Option<String>| {
        let mut request = stack
            .http
            .get(&url)
            .header("authorization", format!("{scheme} {token}"));
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        request.send()
    };

    let bearer = call("Bearer", None).await.unwrap();
    assert_eq!(
        bearer.status(),
        401,
        "a stolen bound token is no bearer token"
    );
    assert!(bearer.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    let thief = DpopClient::new();
    for proof in [
        None,
        Some(thief.proof("GET", &url, &token)),
        Some(client.proof("POST", &url, &token)),
    ] {
        let refused = call("DPoP", proof).await.unwrap();
        assert_eq!(refused.status(), 401);
        let challenge = refused.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.starts_with("DPoP "), "{challenge}");
        assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");
        assert!(
            challenge.contains(r#"algs="ES256 EdDSA PS256 RS256""#),
            "{challenge}"
        );
    }
    let proof = client.proof("GET", &url, &token);
    let answered = call("DPoP", Some(proof.clone())).await.unwrap();
    assert_eq!(answered.status(), 200);
    let claims: Value = answered.json().await.unwrap();
    assert_eq!(claims["sub"], "alice");
    assert_eq!(
        call("DPoP", Some(proof)).await.unwrap().status(),
        401,
        "a replayed proof"
    );
}

#[tokio::test]
async fn introspection_names_the_binding() {
    let stack = Stack::start().await;
    let client = DpopClient::new();
    let token = bound_login(&stack, &client).await;
    let answer: Value = stack
        .http
        .post(format!("{}/oauth2/introspect", stack.issuer))
        .basic_auth("data-api", Some(PASSWORD))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["active"], true);
    assert_eq!(answer["token_type"], "DPoP");
    assert_eq!(answer["cnf"]["jkt"], client.jkt.as_str());
}
