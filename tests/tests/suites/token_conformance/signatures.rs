//! Signatures: alg none, HS256 key confusion, tampering, malformed and foreign-key tokens.

use super::*;

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
