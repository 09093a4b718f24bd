//! Hand-made JWS and JWT pieces, for the hostile tokens of the conformance suites.

/// Builds a compact JWS from arbitrary header and claims, signed RS256 with the PEM key: for
/// crafting the hostile tokens a conformance suite needs.
pub fn sign_rs256(pem: &str, header: &serde_json::Value, claims: &serde_json::Value) -> String {
    let key = portcullis_jwt::SigningKey::from_pem(pem).expect("an RSA key");
    let signing_input = format!("{}.{}", b64_json(header), b64_json(claims));
    let signature = key.sign(signing_input.as_bytes()).expect("sign");
    format!("{signing_input}.{}", b64(&signature))
}

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// base64url of a JSON value.
pub fn b64_json(value: &serde_json::Value) -> String {
    b64(&serde_json::to_vec(value).expect("json"))
}

/// The `kid` in a JWT's header.
pub fn kid_of(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().expect("a JWT");
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .expect("base64url header"),
    )
    .expect("JSON header");
    header["kid"].as_str().expect("a kid").to_string()
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}
