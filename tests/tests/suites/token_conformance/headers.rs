//! Headers: unknown and hostile kids, jku/x5u/jwk, critical extensions.

use super::*;

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
