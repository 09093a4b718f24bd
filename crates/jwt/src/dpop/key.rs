//! The public key a proof carries in its `jwk` header: which keys are acceptable, which
//! algorithm each may sign with, and its RFC 7638 thumbprint (what `cnf.jkt` binds a token to).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use portcullis_domain::dpop::ProofRejection;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Members that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4).
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];
/// The smallest RSA modulus accepted, in bits (RFC 7518 §3.3).
const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted, in bits: bigger keys only make verification slower.
const MAX_RSA_BITS: usize = 8192;

/// A checked public key, reduced to the members its thumbprint hashes.
#[derive(Debug)]
pub(super) enum ProofKey {
    /// EC P-256.
    Ec { x: String, y: String },
    /// OKP Ed25519.
    Ed25519 { x: String },
    /// RSA of an accepted size.
    Rsa { n: String, e: String },
}

impl ProofKey {
    /// The key in `jwk`, if it is public and of a supported type, for `alg`.
    pub(super) fn read(jwk: &Map<String, Value>, alg: &str) -> Result<Self, ProofRejection> {
        if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
            return Err(ProofRejection::PrivateKey);
        }
        let member = |name: &str| jwk.get(name).and_then(Value::as_str);
        let bytes = |name: &str| member(name).and_then(|v| URL_SAFE_NO_PAD.decode(v).ok());
        let owned = |name: &str| member(name).unwrap_or_default().to_owned();
        let key = match (member("kty"), member("crv")) {
            (Some("EC"), Some("P-256"))
                if bytes("x").is_some_and(|x| x.len() == 32)
                    && bytes("y").is_some_and(|y| y.len() == 32) =>
            {
                Self::Ec {
                    x: owned("x"),
                    y: owned("y"),
                }
            }
            (Some("OKP"), Some("Ed25519")) if bytes("x").is_some_and(|x| x.len() == 32) => {
                Self::Ed25519 { x: owned("x") }
            }
            (Some("RSA"), _)
                if bytes("n")
                    .is_some_and(|n| (MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits(&n)))
                    && bytes("e").is_some_and(|e| bits(&e) > 1) =>
            {
                Self::Rsa {
                    n: owned("n"),
                    e: owned("e"),
                }
            }
            _ => return Err(ProofRejection::UnsupportedKey),
        };
        let fits = matches!(
            (&key, alg),
            (Self::Ec { .. }, "ES256")
                | (Self::Ed25519 { .. }, "EdDSA")
                | (Self::Rsa { .. }, "PS256" | "RS256")
        );
        let jwk_alg_agrees = member("alg").is_none_or(|own| own == alg);
        if fits && jwk_alg_agrees {
            Ok(key)
        } else {
            Err(ProofRejection::AlgorithmNotAllowed)
        }
    }

    /// The RFC 7638 SHA-256 thumbprint, base64url: the hash of the required members in
    /// lexicographic order, without whitespace. Structs rather than a map so the order holds
    /// whatever `serde_json` features another crate enables.
    pub(super) fn thumbprint(&self) -> String {
        #[derive(Serialize)]
        struct Ec<'a> {
            crv: &'a str,
            kty: &'a str,
            x: &'a str,
            y: &'a str,
        }
        #[derive(Serialize)]
        struct Okp<'a> {
            crv: &'a str,
            kty: &'a str,
            x: &'a str,
        }
        #[derive(Serialize)]
        struct Rsa<'a> {
            e: &'a str,
            kty: &'a str,
            n: &'a str,
        }
        let json = match self {
            Self::Ec { x, y } => serde_json::to_vec(&Ec {
                crv: "P-256",
                kty: "EC",
                x,
                y,
            }),
            Self::Ed25519 { x } => serde_json::to_vec(&Okp {
                crv: "Ed25519",
                kty: "OKP",
                x,
            }),
            Self::Rsa { n, e } => serde_json::to_vec(&Rsa { e, kty: "RSA", n }),
        };
        // Serialising structs of strings cannot fail.
        let json = json.unwrap_or_default();
        URL_SAFE_NO_PAD.encode(Sha256::digest(json))
    }
}

/// The size in bits of a big-endian unsigned integer.
fn bits(bytes: &[u8]) -> usize {
    let significant = bytes.iter().skip_while(|b| **b == 0).collect::<Vec<_>>();
    match significant.first() {
        Some(first) => (significant.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 §3.1: the example RSA key and its thumbprint.
    #[test]
    fn the_thumbprint_of_rfc_7638s_example() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let key = ProofKey::Rsa {
            n: n.into(),
            e: "AQAB".into(),
        };
        assert_eq!(
            key.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn bit_lengths_ignore_leading_zeros() {
        assert_eq!(bits(&[0, 0x80, 0]), 16);
        assert_eq!(bits(&[1, 0, 1]), 17);
        assert_eq!(bits(&[0, 0]), 0);
    }
}
