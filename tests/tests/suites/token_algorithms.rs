//! Every signing algorithm the key ring accepts, end to end: the issuer signs with the active
//! key's algorithm and publishes it, the data API and an independent JOSE library (jsonwebtoken)
//! accept the tokens, and a header naming another algorithm than its key's is refused.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use portcullis_jwt::{generate_pem, SigningAlgorithm, SigningKey, PS256_FILE_SUFFIX};
use portcullis_tests::{b64_json, kid_of, now, Stack, StackOptions};
use serde_json::{json, Value};
use std::time::Duration;

fn key_file(alg: SigningAlgorithm) -> String {
    match alg {
        SigningAlgorithm::Ps256 => format!("pss{PS256_FILE_SUFFIX}"),
        other => format!("{}.pem", other.name().to_ascii_lowercase()),
    }
}

async fn client_token(stack: &Stack) -> String {
    let (status, body) = stack
        .token_as(
            "reporting-job",
            true,
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// Writes a key of `alg`, makes it active, and waits until the issuer signs with it.
async fn activate(stack: &Stack, alg: SigningAlgorithm) -> (String, String) {
    let file = key_file(alg);
    let pem = generate_pem(alg).unwrap();
    let kid = SigningKey::from_file(&file, &pem)
        .unwrap()
        .kid()
        .to_string();
    std::fs::write(stack.keys_dir().join(&file), &pem).unwrap();
    std::fs::write(stack.keys_dir().join("ACTIVE"), &file).unwrap();
    for _ in 0..50 {
        let token = client_token(stack).await;
        if kid_of(&token) == kid {
            return (token, kid);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the issuer never signed with its new {alg} key");
}

/// Waits until the data API has fetched the key that signed `token` and accepts it.
async fn assert_data_api_accepts(stack: &Stack, token: &str) {
    for _ in 0..50 {
        if stack.get_item(token, "algorithms").await.status() == 404 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the data API never accepted {token}");
}

#[tokio::test]
async fn every_algorithm_signs_tokens_that_verify_independently() {
    let stack = Stack::start_with(StackOptions {
        fast_key_rotation: true,
        ..StackOptions::default()
    })
    .await;
    for (alg, jose) in [
        (SigningAlgorithm::Es256, Algorithm::ES256),
        (SigningAlgorithm::EdDsa, Algorithm::EdDSA),
        (SigningAlgorithm::Ps256, Algorithm::PS256),
        (SigningAlgorithm::Rs256, Algorithm::RS256),
    ] {
        let (token, kid) = activate(&stack, alg).await;
        let header = decode_header(&token).unwrap();
        assert_eq!(header.alg, jose, "the header names the key's algorithm");

        let jwks: JwkSet = stack.well_known("jwks.json").await;
        let jwk = jwks.find(&kid).expect("the new key is published");
        let published: Value = serde_json::to_value(jwk).unwrap();
        assert_eq!(published["alg"], alg.name());
        assert_eq!(published["use"], "sig");
        let mut validation = Validation::new(jose);
        validation.set_audience(&["data-api"]);
        validation.set_issuer(&[&stack.issuer]);
        let claims = decode::<Value>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .unwrap_or_else(|e| panic!("jsonwebtoken refuses the {alg} token: {e}"))
            .claims;
        assert_eq!(claims["client_id"], "reporting-job");

        assert_data_api_accepts(&stack, &token).await;

        let discovery: Value = stack.well_known("openid-configuration").await;
        let advertised = discovery["id_token_signing_alg_values_supported"]
            .as_array()
            .unwrap();
        assert!(advertised.contains(&json!(alg.name())), "{discovery}");
    }
}

#[tokio::test]
async fn a_header_naming_another_algorithm_than_its_key_is_refused() {
    let stack = Stack::start_with(StackOptions {
        fast_key_rotation: true,
        ..StackOptions::default()
    })
    .await;
    let (token, ec_kid) = activate(&stack, SigningAlgorithm::Es256).await;
    assert_data_api_accepts(&stack, &token).await;
    let rsa_pem = std::fs::read_to_string(stack.keys_dir().join("a.pem")).unwrap();
    let rsa_key = SigningKey::from_pem(&rsa_pem).unwrap();
    let t = now();
    let claims = json!({
        "iss": stack.issuer, "sub": "reporting-job", "aud": ["data-api"], "exp": t + 300,
        "iat": t, "jti": "mixed", "client_id": "reporting-job", "scope": "items:read",
    });
    // A good RS256 signature by a published RSA key, but under the EC key's kid; and the same
    // with the algorithm the EC key would use, which the RSA signature cannot satisfy.
    for alg in ["RS256", "ES256", "PS256", "EdDSA", "HS256"] {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": ec_kid});
        let input = format!("{}.{}", b64_json(&header), b64_json(&claims));
        let signature = rsa_key.sign(input.as_bytes()).unwrap();
        let forged = format!("{input}.{}", portcullis_tests::b64(&signature));
        let response = stack.get_item(&forged, "x").await;
        assert_eq!(response.status(), 401, "{alg} under an ES256 key's kid");
    }
    let refused = stack
        .metric(
            &stack.data_api,
            r#"portcullis_auth_failures_total{reason="algorithm"}"#,
        )
        .await;
    assert_eq!(refused, 4, "refused for the algorithm, not the signature");
}
