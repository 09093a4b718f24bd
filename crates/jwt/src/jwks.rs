//! The JWKS document (RFC 7517) the issuer publishes and the verifier reads.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use portcullis_domain::signing::SigningAlgorithm;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One public key: RSA (`n`, `e`), EC P-256 (`crv`, `x`, `y`) or Ed25519 (`crv`, `x`). Keys of
/// any other shape in a fetched set are skipped, never interpreted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `RSA`, `EC` or `OKP`.
    pub kty: String,
    /// Intended use; `sig` when present.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// The algorithm the key is pinned to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Key id: the RFC 7638 thumbprint.
    #[serde(default)]
    pub kid: String,
    /// RSA modulus, base64url.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub n: String,
    /// RSA public exponent, base64url.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub e: String,
    /// Curve of an EC or OKP key: `P-256` or `Ed25519`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub crv: String,
    /// EC x coordinate, or the Ed25519 public key, base64url.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub x: String,
    /// EC y coordinate, base64url.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub y: String,
}

impl Jwk {
    /// A published RSA signing key for RS256 or PS256.
    pub fn rsa(alg: SigningAlgorithm, n: String, e: String) -> Self {
        let kid = thumbprint(&[("e", &e), ("kty", "RSA"), ("n", &n)]);
        Self::signing(
            kid,
            "RSA",
            alg,
            [n, e, String::new(), String::new(), String::new()],
        )
    }

    /// A published P-256 signing key for ES256.
    pub fn ec_p256(x: String, y: String) -> Self {
        let kid = thumbprint(&[("crv", "P-256"), ("kty", "EC"), ("x", &x), ("y", &y)]);
        let members = [String::new(), String::new(), "P-256".into(), x, y];
        Self::signing(kid, "EC", SigningAlgorithm::Es256, members)
    }

    /// A published Ed25519 signing key for EdDSA.
    pub fn ed25519(x: String) -> Self {
        let kid = thumbprint(&[("crv", "Ed25519"), ("kty", "OKP"), ("x", &x)]);
        let members = [
            String::new(),
            String::new(),
            "Ed25519".into(),
            x,
            String::new(),
        ];
        Self::signing(kid, "OKP", SigningAlgorithm::EdDsa, members)
    }

    fn signing(kid: String, kty: &str, alg: SigningAlgorithm, members: [String; 5]) -> Self {
        let [n, e, crv, x, y] = members;
        Self {
            kty: kty.into(),
            use_: Some("sig".into()),
            alg: Some(alg.name().into()),
            kid,
            n,
            e,
            crv,
            x,
            y,
        }
    }

    /// The one algorithm this key may verify, or `None` when it is not a usable signing key:
    /// for signing (or no use stated), with a `kid`, its members present, and a stated `alg`
    /// that fits its type. With no `alg` (RFC 7517 allows it) an RSA key means RS256, a P-256
    /// key ES256 and an Ed25519 key EdDSA: never anything a token's header asks for.
    pub fn signing_algorithm(&self) -> Option<SigningAlgorithm> {
        if self.use_.as_deref().is_some_and(|u| u != "sig") || self.kid.is_empty() {
            return None;
        }
        let (default, allowed): (SigningAlgorithm, &[SigningAlgorithm]) =
            match (self.kty.as_str(), self.crv.as_str()) {
                ("RSA", _) if !self.n.is_empty() && !self.e.is_empty() => (
                    SigningAlgorithm::Rs256,
                    &[SigningAlgorithm::Rs256, SigningAlgorithm::Ps256],
                ),
                ("EC", "P-256") if !self.x.is_empty() && !self.y.is_empty() => {
                    (SigningAlgorithm::Es256, &[SigningAlgorithm::Es256])
                }
                ("OKP", "Ed25519") if !self.x.is_empty() => {
                    (SigningAlgorithm::EdDsa, &[SigningAlgorithm::EdDsa])
                }
                _ => return None,
            };
        match self.alg.as_deref() {
            None => Some(default),
            Some(name) => SigningAlgorithm::from_name(name).filter(|alg| allowed.contains(alg)),
        }
    }
}

/// RFC 7638 §3: SHA-256 over the required members, in lexicographic order, base64url. Callers
/// pass the members already sorted; the values are base64url or fixed names, which need no JSON
/// escaping.
fn thumbprint(members: &[(&str, &str)]) -> String {
    let fields: Vec<String> = members
        .iter()
        .map(|(name, value)| format!(r#""{name}":"{value}""#))
        .collect();
    let canonical = format!("{{{}}}", fields.join(","));
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A key set document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // The example key of RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let key = Jwk::rsa(SigningAlgorithm::Rs256, n.into(), "AQAB".into());
        assert_eq!(key.kid, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn rfc8037_example_thumbprint() {
        // The Ed25519 example key of RFC 8037 §A.3.
        let key = Jwk::ed25519("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into());
        assert_eq!(key.kid, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn an_algorithm_that_does_not_fit_the_key_makes_it_unusable() {
        let mut key = Jwk::ec_p256("eA".into(), "eQ".into());
        assert_eq!(key.signing_algorithm(), Some(SigningAlgorithm::Es256));
        for wrong in ["RS256", "HS256", "none", "EdDSA"] {
            key.alg = Some(wrong.into());
            assert_eq!(key.signing_algorithm(), None, "{wrong}");
        }
        key.alg = None;
        assert_eq!(key.signing_algorithm(), Some(SigningAlgorithm::Es256));
        key.use_ = Some("enc".into());
        assert_eq!(key.signing_algorithm(), None);
        key.use_ = None;
        key.crv = "P-384".into();
        assert_eq!(key.signing_algorithm(), None);
    }
}
