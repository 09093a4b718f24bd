//! Claims: time, audience, issuer, type and the required set.

use super::*;

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
