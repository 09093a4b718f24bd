//! The JWS algorithms Portcullis signs and verifies with: one per key, never chosen by a token.

use sha2::{Digest, Sha256, Sha512};

/// A signing algorithm the issuer's keys may be pinned to. RSA keys sign RS256 unless their file
/// says PS256; an EC P-256 key always signs ES256 and an Ed25519 key EdDSA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256: what every OpenID Connect client must understand.
    Rs256,
    /// RSASSA-PSS with SHA-256, for FAPI deployments that keep RSA keys.
    Ps256,
    /// ECDSA on P-256 with SHA-256: small keys and signatures, fast to sign.
    Es256,
    /// Ed25519: the fastest to sign and verify, deterministic signatures.
    EdDsa,
}

impl SigningAlgorithm {
    /// Every algorithm, in the order documents list them.
    pub const ALL: [Self; 4] = [Self::Rs256, Self::Ps256, Self::Es256, Self::EdDsa];

    /// Every name, elliptic curves first (smaller and faster), for documents and challenges
    /// that list what is accepted (`dpop_signing_alg_values_supported`, `algs`).
    pub const NAMES: [&'static str; 4] = [
        Self::Es256.name(),
        Self::EdDsa.name(),
        Self::Ps256.name(),
        Self::Rs256.name(),
    ];

    /// The JWA name (RFC 7518, RFC 8037).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// The algorithm of a JWA name, matched exactly (names are case-sensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// The left half of the hash this algorithm signs with, as OpenID Connect Core §3.1.3.6
    /// defines `at_hash` (SHA-512 for Ed25519, as the OpenID Foundation specifies for EdDSA).
    pub fn left_half_hash(self, input: &[u8]) -> Vec<u8> {
        match self {
            Self::EdDsa => Sha512::digest(input)[..32].to_vec(),
            _ => Sha256::digest(input)[..16].to_vec(),
        }
    }
}

impl std::fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for SigningAlgorithm {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = Self::ALL.iter().map(|alg| alg.name()).collect();
            format!("{name:?} is not one of {}", known.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for alg in SigningAlgorithm::ALL {
            assert_eq!(alg.name().parse::<SigningAlgorithm>(), Ok(alg));
        }
        assert!("rs256".parse::<SigningAlgorithm>().is_err());
        assert!("HS256".parse::<SigningAlgorithm>().is_err());
        assert!("none".parse::<SigningAlgorithm>().is_err());
    }
}
