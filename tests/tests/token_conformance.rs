//! The data API's token check against a catalogue of attacks (RFC 8725, RFC 9068), each case a
//! test: every hostile token gets 401 with `error="invalid_token"` and is counted under the
//! expected reason; the valid control token passes.

use portcullis_tests::{b64, b64_json, kid_of, now, sign_rs256, Stack, StackOptions, CLI_CLIENT};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

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
        self.stack
            .http
            .get(self.stack.item_url("conformance"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
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
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer error="invalid_token""#
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

#[tokio::test]
async fn the_valid_control_token_passes() {
    let f = fixture().await;
    f.assert_accepted(&f.sign(&f.header(), &f.claims())).await;
}

#[tokio::test]
async fn alg_none_in_every_spelling() {
    let f = fixture().await;
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": f.kid});
        let unsigned = format!("{}.{}.", b64_json(&header), b64_json(&f.claims()));
        f.assert_rejected(&unsigned, "algorithm").await;
        let with_signature = format!("{unsigned}{}", b64(b"x"));
        f.assert_rejected(&with_signature, "algorithm").await;
    }
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_as_pem() {
    let f = fixture().await;
    let key = rsa_public_pem(&f.issuer_pem);
    let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": f.kid});
    f.assert_rejected(&hs256(key.as_bytes(), &header, &f.claims()), "algorithm")
        .await;
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_as_jwk() {
    let f = fixture().await;
    let jwks: Value = f
        .stack
        .http
        .get(format!("{}/.well-known/jwks.json", f.stack.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": f.kid});
    for secret in [
        jwks["keys"][0].to_string(),
        jwks["keys"][0]["n"].as_str().unwrap().to_string(),
    ] {
        f.assert_rejected(&hs256(secret.as_bytes(), &header, &f.claims()), "algorithm")
            .await;
    }
}

fn rsa_public_pem(private_pem: &str) -> String {
    use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
    use aws_lc_rs::signature::{KeyPair, RsaKeyPair};
    let document = pem::parse(private_pem).unwrap();
    let key = RsaKeyPair::from_pkcs8(document.contents()).unwrap();
    let der: PublicKeyX509Der = key.public_key().as_der().unwrap();
    pem::encode(&pem::Pem::new("PUBLIC KEY", der.as_ref().to_vec()))
}

#[tokio::test]
async fn a_tampered_payload() {
    let f = fixture().await;
    let token = f.sign(&f.header(), &f.claims());
    let mut claims = f.claims();
    claims["sub"] = json!("bob");
    claims["scope"] = json!("items:read items:write");
    let parts: Vec<&str> = token.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], b64_json(&claims), parts[2]);
    f.assert_rejected(&tampered, "signature").await;
}

#[tokio::test]
async fn flipped_and_stripped_signatures() {
    let f = fixture().await;
    let token = f.sign(&f.header(), &f.claims());
    let (input, signature) = token.rsplit_once('.').unwrap();
    use base64::Engine;
    let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .unwrap();
    bytes[10] ^= 0x01;
    f.assert_rejected(&format!("{input}.{}", b64(&bytes)), "signature")
        .await;
    f.assert_rejected(&format!("{input}."), "signature").await;
    f.assert_rejected(&format!("{input}.{}", b64(&bytes[..128])), "signature")
        .await;
}

#[tokio::test]
async fn wrong_segment_counts() {
    let f = fixture().await;
    let token = f.sign(&f.header(), &f.claims());
    let parts: Vec<&str> = token.split('.').collect();
    for bad in [
        parts[0].to_string(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{token}.{}", parts[2]),
    ] {
        f.assert_rejected(&bad, "malformed").await;
    }
    // An empty payload is checked against the signature first, and fails there.
    f.assert_rejected(&format!("{}..{}", parts[0], parts[2]), "signature")
        .await;
}

#[tokio::test]
async fn garbage() {
    let f = fixture().await;
    for bad in [
        "garbage",
        "...",
        "a.b.c",
        "!!!.???.***",
        "eyJ.eyJ.eyJ",
        "e30.e30.e30",
    ] {
        f.assert_rejected(bad, "malformed").await;
    }
    let not_json = format!("{}.{}.{}", b64(b"not json"), b64(b"{}"), b64(b"sig"));
    f.assert_rejected(&not_json, "malformed").await;
}

#[tokio::test]
async fn an_oversized_token_is_refused_before_decoding() {
    let f = fixture().await;
    let mut claims = f.claims();
    claims["padding"] = json!("x".repeat(9000));
    f.assert_rejected(&f.sign(&f.header(), &claims), "too_large")
        .await;
}

#[tokio::test]
async fn a_foreign_key_using_the_issuers_kid() {
    let f = fixture().await;
    let forged = sign_rs256(&foreign_pem(), &f.header(), &f.claims());
    f.assert_rejected(&forged, "signature").await;
}

#[tokio::test]
async fn a_burst_of_unknown_kids_causes_at_most_one_fetch() {
    let f = Arc::new(fixture().await);
    let attacker = foreign_pem();
    let before = f.jwks_fetches().await;
    let requests = (0..50).map(|i| {
        let (f, attacker) = (f.clone(), attacker.clone());
        tokio::spawn(async move {
            let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": format!("random-{i}")});
            f.call(&sign_rs256(&attacker, &header, &f.claims()))
                .await
                .status()
                .as_u16()
        })
    });
    for request in requests {
        assert_eq!(request.await.unwrap(), 401);
    }
    let fetches = f.jwks_fetches().await - before;
    assert!(fetches <= 1, "{fetches} JWKS fetches for 50 unknown kids");
    assert!(f.failures("unknown_kid").await >= 50);
}

#[tokio::test]
async fn hostile_kid_values_are_only_map_keys() {
    let f = fixture().await;
    let attacker = foreign_pem();
    for kid in [
        "../../../../etc/passwd",
        "' OR '1'='1' --",
        "%00",
        "\u{0}",
        "a\nb",
        &"k".repeat(4000),
    ] {
        let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": kid});
        f.assert_rejected(&sign_rs256(&attacker, &header, &f.claims()), "unknown_kid")
            .await;
    }
    let no_kid = json!({"alg": "RS256", "typ": "at+jwt"});
    f.assert_rejected(&f.sign(&no_kid, &f.claims()), "unknown_kid")
        .await;
}

#[tokio::test]
async fn jku_x5u_and_jwk_headers_are_never_fetched_or_trusted() {
    let f = fixture().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let trap = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let attacker = foreign_pem();
    let attacker_jwk = serde_json::to_value(
        portcullis_jwt::SigningKey::from_pem(&attacker)
            .unwrap()
            .jwk(),
    )
    .unwrap();
    let attacker_kid = attacker_jwk["kid"].clone();
    let hostile_headers = [
        json!({"alg": "RS256", "typ": "at+jwt", "kid": attacker_kid, "jku": trap}),
        json!({"alg": "RS256", "typ": "at+jwt", "kid": attacker_kid, "x5u": trap}),
        json!({"alg": "RS256", "typ": "at+jwt", "kid": attacker_kid, "jwk": attacker_jwk}),
    ];
    for header in &hostile_headers {
        f.assert_rejected(&sign_rs256(&attacker, header, &f.claims()), "unknown_kid")
            .await;
    }
    // The same headers on a token the issuer's key signed change nothing: they are ignored.
    let mut header = f.header();
    header["jku"] = json!(trap);
    header["x5u"] = json!(trap);
    f.assert_accepted(&f.sign(&header, &f.claims())).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "the trap server received requests"
    );
}

#[tokio::test]
async fn a_critical_header_extension_is_never_ignored() {
    // RFC 7515 §4.1.11: a recipient that does not understand every extension `crit` names
    // must refuse the token. The verifier understands none.
    let f = fixture().await;
    let mut header = f.header();
    header["crit"] = json!(["urn:example:must-check"]);
    header["urn:example:must-check"] = json!(true);
    f.assert_rejected(&f.sign(&header, &f.claims()), "crit")
        .await;
    header["crit"] = json!([]);
    f.assert_rejected(&f.sign(&header, &f.claims()), "crit")
        .await;
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens() {
    let f = fixture().await;
    let now = now();
    let mut expired = f.claims();
    expired["exp"] = json!(now - 120);
    expired["iat"] = json!(now - 900);
    f.assert_rejected(&f.sign(&f.header(), &expired), "expired")
        .await;
    let mut not_before = f.claims();
    not_before["nbf"] = json!(now + 600);
    f.assert_rejected(&f.sign(&f.header(), &not_before), "not_yet_valid")
        .await;
    let mut future_iat = f.claims();
    future_iat["iat"] = json!(now + 600);
    f.assert_rejected(&f.sign(&f.header(), &future_iat), "not_yet_valid")
        .await;
    // Within the leeway (30 s) is fine.
    let mut skewed = f.claims();
    skewed["iat"] = json!(now + 10);
    f.assert_accepted(&f.sign(&f.header(), &skewed)).await;
}

#[tokio::test]
async fn wrong_audience_issuer_and_type() {
    let f = fixture().await;
    for aud in [
        json!("other-api"),
        json!(["other-api", "reports"]),
        json!([]),
    ] {
        let mut claims = f.claims();
        claims["aud"] = aud;
        f.assert_rejected(&f.sign(&f.header(), &claims), "audience")
            .await;
    }
    let mut single = f.claims();
    single["aud"] = json!("data-api");
    f.assert_accepted(&f.sign(&f.header(), &single)).await;
    for iss in [
        format!("{}/", f.stack.issuer),
        "http://evil.example".to_string(),
    ] {
        let mut claims = f.claims();
        claims["iss"] = json!(iss);
        f.assert_rejected(&f.sign(&f.header(), &claims), "issuer")
            .await;
    }
    for typ in [json!("JWT"), json!("at+JWT+x"), json!(null)] {
        let mut header = f.header();
        header["typ"] = typ;
        f.assert_rejected(&f.sign(&header, &f.claims()), "type")
            .await;
    }
    let mut header = f.header();
    header["typ"] = json!("application/at+jwt");
    f.assert_accepted(&f.sign(&header, &f.claims())).await;
}

#[tokio::test]
async fn every_required_claim_must_be_present() {
    let f = fixture().await;
    for claim in ["exp", "iat", "iss", "aud", "sub", "jti", "client_id"] {
        let mut claims = f.claims();
        claims.as_object_mut().unwrap().remove(claim);
        f.assert_rejected(&f.sign(&f.header(), &claims), "claims")
            .await;
    }
    let mut bad_types = f.claims();
    bad_types["exp"] = json!("tomorrow");
    f.assert_rejected(&f.sign(&f.header(), &bad_types), "claims")
        .await;
}

#[tokio::test]
async fn tokens_keep_working_while_the_issuer_is_down() {
    let mut f = fixture().await;
    let (token, _) = f.stack.login("alice").await;
    f.assert_accepted(&token).await;
    f.stack.stop_issuer().await;
    let fresh = f.sign(&f.header(), &f.claims());
    f.assert_accepted(&fresh).await;
    f.assert_accepted(&token).await;
    let attacker = foreign_pem();
    let unknown = json!({"alg": "RS256", "typ": "at+jwt", "kid": "new-kid"});
    f.assert_rejected(&sign_rs256(&attacker, &unknown, &f.claims()), "unknown_kid")
        .await;
    let ready = f
        .stack
        .http
        .get(format!("{}/readyz", f.stack.data_api))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ready.status(),
        200,
        "a loaded key set keeps the data API ready"
    );
}

#[tokio::test]
async fn key_rotation_is_followed_without_rejecting_a_valid_token() {
    let f = fixture_with(StackOptions {
        fast_key_rotation: true,
        ..Default::default()
    })
    .await;
    let keys = f.stack.keys_dir();
    let (old_token, _) = f.stack.login("alice").await;
    let new_pem = foreign_pem();
    let new_kid = portcullis_jwt::SigningKey::from_pem(&new_pem)
        .unwrap()
        .kid()
        .to_string();

    // 1. Publish the new key (the old one stays active).
    std::fs::write(keys.join("b.pem"), &new_pem).unwrap();
    std::fs::write(keys.join("ACTIVE"), "a.pem").unwrap();
    let mut new_header = f.header();
    new_header["kid"] = json!(new_kid);
    let signed_by_new = sign_rs256(&new_pem, &new_header, &f.claims());
    let mut published = false;
    for _ in 0..100 {
        f.assert_accepted(&old_token).await;
        if f.call(&signed_by_new).await.status() == 404 {
            published = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(published, "the data API picked up the published key");

    // 2. Activate it: new logins are signed with it, old tokens still pass.
    std::fs::write(keys.join("ACTIVE"), "b.pem").unwrap();
    let mut rotated = None;
    for _ in 0..100 {
        let (token, _) = f.stack.login("alice").await;
        f.assert_accepted(&token).await;
        f.assert_accepted(&old_token).await;
        if kid_of(&token) == new_kid {
            rotated = Some(token);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let new_token = rotated.expect("the issuer signs with the new key");
    f.assert_accepted(&new_token).await;
    f.assert_accepted(&old_token).await;

    // 3. Remove the old key: once the data API refreshes, tokens it signed stop passing, even
    //    though the verified-token cache had them.
    std::fs::remove_file(keys.join("a.pem")).unwrap();
    let mut removed = false;
    for _ in 0..100 {
        f.assert_accepted(&new_token).await;
        if f.call(&old_token).await.status() == 401 {
            removed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        removed,
        "a token whose key left the JWKS is no longer accepted"
    );
}

#[tokio::test]
async fn the_data_api_is_not_ready_until_it_has_keys_but_always_alive() {
    // An issuer address where nothing listens.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let data_api = Stack::start_data_api(
        &issuer,
        dir.path().join("items.db"),
        &StackOptions::default(),
    )
    .await;
    let http = reqwest::Client::new();
    let ready = http.get(format!("{data_api}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["dependencies"]["issuer_keys"]["ok"], false, "{body}");
    let alive = http
        .get(format!("{data_api}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(alive.status(), 200, "liveness never depends on the issuer");
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "any"});
    let claims = json!({"iss": issuer, "sub": "alice", "aud": "data-api", "exp": now() + 60});
    let token = sign_rs256(&foreign_pem(), &header, &claims);
    let call = http
        .get(format!("{data_api}/v1/items/x"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        call.status(),
        503,
        "no keys yet: an intended 503, not a verdict on the token"
    );
    assert!(call.headers().contains_key("retry-after"));
}
