//! DPoP at the data API (RFC 9449 §7) and its protected-resource metadata (RFC 9728): bound
//! tokens work only with a fresh proof by their key, for this request and this token, once.
//! Proofs are made with `jsonwebtoken`; bound tokens are signed with the stack's issuer key.

use portcullis_tests::{bound_token, now, start_redis, DpopClient, Stack, StackOptions};
use reqwest::{Method, Response};
use serde_json::{json, Value};
use std::sync::Arc;

struct Bound {
    stack: Stack,
    client: DpopClient,
    token: String,
}

impl Bound {
    async fn start(options: StackOptions) -> Self {
        let stack = Stack::start_with(options).await;
        let client = DpopClient::new();
        let token = token_for(&stack, Some(&client.jkt));
        Self {
            stack,
            client,
            token,
        }
    }

    fn url(&self, id: &str) -> String {
        format!("{}/v1/items/{id}", self.stack.data_api)
    }

    async fn send(&self, method: Method, url: &str, scheme: &str, proofs: &[String]) -> Response {
        let mut request = self
            .stack
            .http
            .request(method, url)
            .header("authorization", format!("{scheme} {}", self.token));
        for proof in proofs {
            request = request.header("dpop", proof);
        }
        request.send().await.expect("the data API answers")
    }

    async fn get(&self, proofs: &[String]) -> Response {
        self.send(Method::GET, &self.url("x"), "DPoP", proofs).await
    }

    fn proof(&self) -> String {
        self.client.proof("GET", &self.url("x"), &self.token)
    }
}

fn token_for(stack: &Stack, jkt: Option<&str>) -> String {
    let pem = std::fs::read_to_string(stack.keys_dir().join("a.pem")).expect("the issuer key");
    bound_token(&stack.issuer, &pem, "alice", jkt)
}

/// The `WWW-Authenticate` challenges of a 401, after checking the body is a problem.
async fn challenges_of(response: Response) -> Vec<String> {
    assert_eq!(response.status(), 401);
    let values = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().expect("ascii").to_string())
        .collect();
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.expect("a problem");
    assert_eq!(problem["status"], 401);
    values
}

fn dpop_challenge(challenges: &[String]) -> &str {
    challenges
        .iter()
        .find(|c| c.starts_with("DPoP "))
        .expect("a DPoP challenge")
}

async fn assert_proof_refused(response: Response, why: &str) {
    let challenges = challenges_of(response).await;
    let dpop = dpop_challenge(&challenges);
    assert!(
        dpop.contains(r#"error="invalid_dpop_proof""#),
        "{why}: {dpop}"
    );
    assert!(
        dpop.contains(r#"algs="ES256 EdDSA PS256 RS256""#),
        "{why}: {dpop}"
    );
}

#[tokio::test]
async fn a_bound_token_with_a_fresh_proof_reads_and_writes() {
    let bound = Bound::start(StackOptions::default()).await;
    let url = bound.url("x");
    let proof = bound.client.proof("PUT", &url, &bound.token);
    let response = bound
        .stack
        .http
        .put(&url)
        .header("authorization", format!("DPoP {}", bound.token))
        .header("dpop", proof)
        .json(&json!({"data": {"bound": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = bound.get(&[bound.proof()]).await;
    assert_eq!(response.status(), 200);
    let item: Value = response.json().await.unwrap();
    assert_eq!(item["data"], json!({"bound": true}));
    // A second request with its own proof: the token's verification is cached, the proof is not.
    assert_eq!(bound.get(&[bound.proof()]).await.status(), 200);
}

#[tokio::test]
async fn a_bound_token_is_refused_as_a_bearer_token_and_without_a_proof() {
    let bound = Bound::start(StackOptions::default()).await;
    let as_bearer = bound
        .send(Method::GET, &bound.url("x"), "Bearer", &[])
        .await;
    let challenges = challenges_of(as_bearer).await;
    let bearer = challenges
        .iter()
        .find(|c| c.starts_with("Bearer "))
        .unwrap();
    assert!(bearer.contains(r#"error="invalid_token""#), "{bearer}");
    assert_proof_refused(bound.get(&[]).await, "no proof").await;
    assert_proof_refused(
        bound.get(&[bound.proof(), bound.proof()]).await,
        "two proofs",
    )
    .await;
    let unbound = token_for(&bound.stack, None);
    let response = bound
        .stack
        .http
        .get(bound.url("x"))
        .header("authorization", format!("DPoP {unbound}"))
        .header("dpop", bound.client.proof("GET", &bound.url("x"), &unbound))
        .send()
        .await
        .unwrap();
    let challenges = challenges_of(response).await;
    assert!(dpop_challenge(&challenges).contains(r#"error="invalid_token""#));
}

#[tokio::test]
async fn proofs_for_another_key_request_token_or_time_and_replays_are_refused() {
    let bound = Bound::start(StackOptions::default()).await;
    let (url, token, client) = (bound.url("x"), &bound.token, &bound.client);
    let other_key = DpopClient::new().proof("GET", &url, token);
    assert_proof_refused(bound.get(&[other_key]).await, "another key").await;
    let cases = [
        ("htm", json!("POST")),
        ("htu", json!(bound.url("y"))),
        ("ath", json!("not-the-token-hash")),
        ("iat", json!(now() - 300)),
        ("iat", json!(now() + 300)),
    ];
    for (claim, value) in cases {
        let mut claims = client.claims("GET", &url, token);
        claims[claim] = value;
        assert_proof_refused(bound.get(&[client.sign(&claims)]).await, claim).await;
    }
    let once = bound.proof();
    // Authenticated: 404 because alice has no item x yet.
    assert_eq!(bound.get(std::slice::from_ref(&once)).await.status(), 404);
    assert_proof_refused(bound.get(&[once]).await, "replayed").await;
    let failures = bound
        .stack
        .metric(
            &bound.stack.data_api,
            r#"portcullis_auth_failures_total{reason="dpop_replayed"}"#,
        )
        .await;
    assert_eq!(failures, 1);
}

#[tokio::test]
async fn the_metadata_names_the_issuer_and_every_challenge_names_the_metadata() {
    let bound = Bound::start(StackOptions::default()).await;
    let base = &bound.stack.data_api;
    let metadata_url = format!("{base}/.well-known/oauth-protected-resource");
    let metadata: Value = reqwest::get(&metadata_url)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], json!(base));
    assert_eq!(
        metadata["authorization_servers"],
        json!([bound.stack.issuer])
    );
    assert_eq!(
        metadata["scopes_supported"],
        json!(["items:read", "items:write"])
    );
    assert_eq!(metadata["bearer_methods_supported"], json!(["header"]));
    assert_eq!(
        metadata["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA", "PS256", "RS256"])
    );
    assert!(metadata.get("dpop_bound_access_tokens_required").is_none());
    let anonymous = bound.stack.http.get(bound.url("x")).send().await.unwrap();
    let challenges = challenges_of(anonymous).await;
    assert_eq!(challenges.len(), 2, "{challenges:?}");
    for challenge in &challenges {
        assert!(
            challenge.contains(&format!(r#"resource_metadata="{metadata_url}""#)),
            "{challenge}"
        );
        assert!(!challenge.contains("error="), "{challenge}");
    }
}

#[tokio::test]
async fn when_dpop_is_required_bearer_tokens_are_refused() {
    let options = StackOptions {
        data_api: Some(Arc::new(|args: &mut data_api::Args| {
            args.dpop_required = true
        })),
        ..StackOptions::default()
    };
    let bound = Bound::start(options).await;
    let bearer = token_for(&bound.stack, None);
    let response = bound
        .stack
        .http
        .get(bound.url("x"))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    let challenges = challenges_of(response).await;
    assert_eq!(challenges.len(), 1, "no Bearer challenge: {challenges:?}");
    assert!(dpop_challenge(&challenges).contains(r#"error="invalid_token""#));
    assert_eq!(
        bound.get(&[bound.proof()]).await.status(),
        404,
        "authenticated"
    );
    let metadata: Value = reqwest::get(format!(
        "{}/.well-known/oauth-protected-resource",
        bound.stack.data_api
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(metadata["dpop_bound_access_tokens_required"], true);
}

#[tokio::test]
async fn a_proof_replayed_to_another_replica_on_the_same_redis_is_refused() {
    // Two replicas behind one public URL, as behind a load balancer, sharing one Redis.
    const PUBLIC: &str = "https://data.example";
    let redis = start_redis().await;
    let options = StackOptions {
        redis_url: Some(redis.url.clone()),
        data_api: Some(Arc::new(|args: &mut data_api::Args| {
            args.public_url = Some(PUBLIC.into());
        })),
        ..StackOptions::default()
    };
    let bound = Bound::start(options.clone()).await;
    let second = Stack::start_data_api(
        &bound.stack.issuer,
        bound.stack.dir.path().join("second.db"),
        &options,
    )
    .await;
    bound.stack.wait_ready(&second).await;
    let public_url = format!("{PUBLIC}/v1/items/x");
    let proof = bound.client.proof("GET", &public_url, &bound.token);
    let on = |base: &str| format!("{base}/v1/items/x");
    let first = bound
        .send(
            Method::GET,
            &on(&bound.stack.data_api),
            "DPoP",
            std::slice::from_ref(&proof),
        )
        .await;
    assert_eq!(first.status(), 404, "authenticated: alice has no item x");
    let replayed = bound
        .send(
            Method::GET,
            &on(&second),
            "DPoP",
            std::slice::from_ref(&proof),
        )
        .await;
    assert_proof_refused(replayed, "replayed on the second replica").await;
    let fresh = bound.client.proof("GET", &public_url, &bound.token);
    let response = bound
        .send(Method::GET, &on(&second), "DPoP", &[fresh])
        .await;
    assert_eq!(
        response.status(),
        404,
        "authenticated: the second replica accepts fresh proofs"
    );
}
