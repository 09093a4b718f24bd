//! Arbitrary bytes as a bearer token: the verifier must refuse them without panicking.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use portcullis_domain::token::TokenVerifier;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let h = common::harness();
    let result = h.runtime.block_on(h.verifier.verify(token));
    // No key can have signed random input: anything accepted is a finding.
    assert!(result.is_err(), "accepted an unsigned token: {token:?}");
});
