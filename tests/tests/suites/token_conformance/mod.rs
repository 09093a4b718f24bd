//! The data API's token check against a catalogue of attacks (RFC 8725, RFC 9068), each case a
//! test: every hostile token gets 401 with `error="invalid_token"` and is counted under the
//! expected reason; the valid control token passes.

use portcullis_tests::{b64, b64_json, kid_of, now, sign_rs256, Stack, StackOptions, CLI_CLIENT};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

mod claims;
mod headers;
mod keys;
mod signatures;

struct Fixture {
    stack: Stack,
    issuer_pem: String,
    kid: String,
}

async fn fixture() -> Fixture {
    fixture_with(StackOptions::default()).await
}

async fn fixture_with(options: StackOptions) -> Fixture {
    let stack = Stack::start_with(options).await;
    let issuer_pem = std::fs::read_to_string(stack.keys_dir().join("a.pem")).unwrap();
    let kid = portcullis_jwt::SigningKey::from_pem(&issuer_pem)
        .unwrap()
        .kid()
        .to_string();
    Fixture {
        stack,
        issuer_pem,
        kid,
    }
}

impl Fixture {
    fn header(&self) -> Value {
        json!({"alg": "RS256", "typ": "at+jwt", "kid": self.kid})
    }

    fn claims(&self) -> Value {
        let now = now();
        json!({
            "iss": self.stack.issuer, "sub": "alice", "aud": ["data-api"], "exp": now + 300,
            "iat": now, "jti": "conformance", "client_id": CLI_CLIENT, "scope": "items:read",
        })
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        sign_rs256(&self.issuer_pem, header, claims)
    }

    async fn call(&self, token: &str) -> reqwest::Response {
        self.stack.get_item(token, "conformance").await
    }

    async fn failures(&self, reason: &str) -> u64 {
        let series = format!("portcullis_auth_failures_total{{reason=\"{reason}\"}}");
        self.stack.metric(&self.stack.data_api, &series).await
    }

    /// Asserts that `token` is refused with 401 and counted under `reason`.
    async fn assert_rejected(&self, token: &str, reason: &str) {
        let before = self.failures(reason).await;
        let response = self.call(token).await;
        assert_eq!(response.status(), 401, "token must be refused: {token}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with(r#"Bearer error="invalid_token", resource_metadata=""#),
            "{challenge}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["detail"], "the access token is invalid",
            "every rejection reads the same; the reason is only logged and counted"
        );
        assert_eq!(
            self.failures(reason).await,
            before + 1,
            "counted as {reason}: {token}"
        );
    }

    async fn assert_accepted(&self, token: &str) {
        let response = self.call(token).await;
        assert_eq!(
            response.status(),
            404,
            "authenticated (and the item is absent): {token}"
        );
    }

    async fn jwks_fetches(&self) -> u64 {
        let series =
            r#"portcullis_http_requests_total{route="/.well-known/jwks.json",status="200"}"#;
        self.stack.metric(&self.stack.issuer, series).await
    }
}

fn foreign_pem() -> String {
    portcullis_jwt::generate_rsa_pem().unwrap()
}

fn hs256(secret: &[u8], header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64_json(header), b64_json(claims));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

fn rsa_public_pem(private_pem: &str) -> String {
    use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
    use aws_lc_rs::signature::{KeyPair, RsaKeyPair};
    let document = pem::parse(private_pem).unwrap();
    let key = RsaKeyPair::from_pkcs8(document.contents()).unwrap();
    let der: PublicKeyX509Der = key.public_key().as_der().unwrap();
    pem::encode(&pem::Pem::new("PUBLIC KEY", der.as_ref().to_vec()))
}
