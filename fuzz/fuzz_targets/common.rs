//! A verifier on a fixed, freshly generated key, shared by the token targets.
// Each target uses part of the harness (token_raw never signs).
#![allow(dead_code)]

use portcullis_jwt::{generate_rsa_pem, JwkSet, JwksVerifier, SigningKey, VerifierConfig};
use std::sync::OnceLock;

pub const ISSUER: &str = "http://issuer.test";

pub struct Harness {
    pub runtime: tokio::runtime::Runtime,
    pub verifier: JwksVerifier,
    pub key: SigningKey,
}

pub fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let key = SigningKey::from_pem(&generate_rsa_pem().expect("key")).expect("key");
        let jwks = JwkSet { keys: vec![key.jwk().clone()] };
        let config = VerifierConfig {
            // No cache: every input must go through the whole validation path.
            token_cache_capacity: 0,
            ..VerifierConfig::new(ISSUER, "data-api")
        };
        let verifier = runtime
            .block_on(async { JwksVerifier::with_static_keys(config, &jwks) })
            .expect("verifier");
        Harness { runtime, verifier, key }
    })
}
