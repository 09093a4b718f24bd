//! Arbitrary header and claims, correctly signed with the trusted key: exercises every check
//! after the signature (typ, iss, aud, exp, nbf, iat, required claims, claim types). Whatever is
//! accepted must really satisfy the rules. The key is generated per run, so the text `KID` in a
//! header stands for its kid: seeds in `seeds/token_signed` start from a valid token.
#![no_main]

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use portcullis_domain::token::TokenVerifier;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0xff).unwrap_or(data.len());
    let (header, claims) = data.split_at(split);
    let claims = claims.get(1..).unwrap_or_default();
    let h = common::harness();
    let header = String::from_utf8_lossy(header).replace("KID", h.key.kid());
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(&header), URL_SAFE_NO_PAD.encode(claims));
    let signature = h.key.sign(input.as_bytes()).expect("sign");
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature));
    if let Ok(verified) = h.runtime.block_on(h.verifier.verify(&token)) {
        let claims = String::from_utf8_lossy(claims);
        assert!(header.contains("RS256"), "accepted without RS256: {header}");
        assert!(claims.contains(common::ISSUER), "accepted another issuer: {claims}");
        assert!(claims.contains("data-api"), "accepted another audience: {claims}");
        assert!(!verified.subject.as_str().is_empty());
    }
});
