//! Token issuance and verification per second on one core, side by side with the plain
//! `jsonwebtoken` path, so the results are ratios measured in one run.
//!
//! A second table gives sign and verify rates per signing algorithm; `bench/algorithms.sh`
//! prints OpenSSL's own rates for the same primitives beside it.
//!
//! Run: `cargo bench -p portcullis-jwt --bench tokens` (release build). Record the output in
//! `bench/RESULTS.md` with the machine and the date.

use jsonwebtoken::{encode, EncodingKey, Header};
use portcullis_domain::identity::{ClientId, Subject};
use portcullis_domain::scope::ScopeSet;
use portcullis_domain::token::{AccessClaims, AccessTokenSigner, TokenVerifier};
use portcullis_jwt::{
    generate_pem, generate_rsa_pem, JwkSet, JwksVerifier, JwtSigner, KeyRing, SigningAlgorithm,
    VerifierConfig, PS256_FILE_SUFFIX,
};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Runs `f` repeatedly for about `budget` and returns operations per second.
fn rate(budget: Duration, mut f: impl FnMut()) -> f64 {
    for _ in 0..50 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..50 {
            f();
        }
        n += 50;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let budget = Duration::from_secs(3);
    let dir = tempfile::tempdir().expect("temp dir");
    let pem = generate_rsa_pem().expect("key");
    std::fs::write(dir.path().join("a.pem"), &pem).expect("write key");
    let ring = Arc::new(KeyRing::load(dir.path()).expect("key ring"));
    let signer = JwtSigner::new(ring.clone());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let claims = AccessClaims {
        issuer: "http://127.0.0.1:8080".into(),
        subject: Subject::new("alice").expect("subject"),
        audience: vec!["data-api".into()],
        expires_at: now + 600,
        issued_at: now,
        token_id: "bench".into(),
        client_id: ClientId::new("portcullis-cli").expect("client"),
        scope: ScopeSet::parse("items:read items:write").expect("scope"),
        session_id: Some("bench-session".into()),
        confirmation: None,
    };

    let portcullis_sign = rate(budget, || {
        std::hint::black_box(signer.sign(&claims).expect("sign"));
    });
    let jsonwebtoken_key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("encoding key");
    let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
    header.typ = Some("at+jwt".into());
    let wire = serde_json::json!({
        "iss": claims.issuer, "sub": "alice", "aud": ["data-api"], "exp": claims.expires_at,
        "iat": now, "jti": "bench", "client_id": "portcullis-cli", "scope": "items:read items:write",
    });
    let jsonwebtoken_sign = rate(budget, || {
        std::hint::black_box(encode(&header, &wire, &jsonwebtoken_key).expect("encode"));
    });

    let token = signer.sign(&claims).expect("sign");
    let jwks: JwkSet = serde_json::from_slice(&ring.current().jwks_json()).expect("jwks");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let verify_rate = |jwks: &JwkSet, token: &str, capacity: u64| {
        verifications_per_second(&runtime, budget, jwks, token, capacity)
    };
    let uncached = verify_rate(&jwks, &token, 0);
    let cached = verify_rate(&jwks, &token, 10_000);

    println!("| operation (one core) | per second | ratio |");
    println!("|---|---:|---:|");
    println!("| sign: jsonwebtoken::encode (re-parses the key) | {jsonwebtoken_sign:.0} | 1.00 |");
    println!(
        "| sign: portcullis JwtSigner (key parsed once) | {portcullis_sign:.0} | {:.2} |",
        portcullis_sign / jsonwebtoken_sign
    );
    println!("| verify: uncached (RS256 signature check) | {uncached:.0} | 1.00 |");
    println!(
        "| verify: verified-token cache hit | {cached:.0} | {:.2} |",
        cached / uncached
    );

    println!();
    println!(
        "| algorithm (one core) | sign per second | verify per second (uncached) | token bytes |"
    );
    println!("|---|---:|---:|---:|");
    for alg in SigningAlgorithm::ALL {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = match alg {
            SigningAlgorithm::Ps256 => format!("k{PS256_FILE_SUFFIX}"),
            _ => "k.pem".to_owned(),
        };
        let pem = generate_pem(alg).expect("key");
        std::fs::write(dir.path().join(file), pem).expect("write key");
        let ring = Arc::new(KeyRing::load(dir.path()).expect("key ring"));
        let signer = JwtSigner::new(ring.clone());
        let signs = rate(budget, || {
            std::hint::black_box(signer.sign(&claims).expect("sign"));
        });
        let token = signer.sign(&claims).expect("sign");
        let jwks: JwkSet = serde_json::from_slice(&ring.current().jwks_json()).expect("jwks");
        let verifies = verify_rate(&jwks, &token, 0);
        println!("| {alg} | {signs:.0} | {verifies:.0} | {} |", token.len());
    }
}

/// Verifications per second of `token` by a verifier holding `jwks`, for about `budget`.
fn verifications_per_second(
    runtime: &tokio::runtime::Runtime,
    budget: Duration,
    jwks: &JwkSet,
    token: &str,
    capacity: u64,
) -> f64 {
    let config = VerifierConfig {
        token_cache_capacity: capacity,
        ..VerifierConfig::new("http://127.0.0.1:8080", "data-api")
    };
    runtime.block_on(async {
        let verifier = JwksVerifier::with_static_keys(config, jwks).expect("verifier");
        verifier.verify(token).await.expect("valid");
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < budget {
            for _ in 0..100 {
                std::hint::black_box(verifier.verify(token).await.expect("valid"));
            }
            n += 100;
        }
        n as f64 / start.elapsed().as_secs_f64()
    })
}
