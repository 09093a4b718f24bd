//! One signing key: parsed once from PEM, kept ready to sign, pinned to one algorithm and
//! identified by its RFC 7638 thumbprint.

mod rsa_der;

use crate::jwks::Jwk;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    RSA_PKCS1_SHA256, RSA_PSS_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use portcullis_domain::signing::SigningAlgorithm;

/// Smallest modulus accepted; RFC 7518 requires 2048 bits for RS256 and PS256.
pub const MIN_RSA_BITS: usize = 2048;

/// How a key file says its RSA key signs PS256 rather than RS256: `NAME.ps256.pem`. EC and
/// Ed25519 keys need no marker, their curve fixes the algorithm.
pub const PS256_FILE_SUFFIX: &str = ".ps256.pem";

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not the PEM of an RSA, EC P-256 or Ed25519 private key.
    #[error("not an RSA (PKCS#8 or PKCS#1), EC P-256 (PKCS#8 or SEC1) or Ed25519 (PKCS#8) private key in PEM")]
    NotPrivateKeyPem,
    /// The modulus is too small to be safe.
    #[error("RSA key has {0} bits; at least 2048 are required")]
    TooSmall(usize),
    /// The algorithm cannot be used with this kind of key.
    #[error("{alg} cannot sign with {kind} key")]
    WrongAlgorithm {
        /// The algorithm asked for.
        alg: SigningAlgorithm,
        /// What the key is.
        kind: &'static str,
    },
    /// The crypto library refused the key or failed to sign.
    #[error("unusable key")]
    Unusable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn unusable(error: impl std::error::Error + Send + Sync + 'static) -> KeyError {
    KeyError::Unusable(Box::new(error))
}

enum KeyPairOf {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A parsed private key, ready to sign without re-parsing, with its public JWK.
pub struct SigningKey {
    kid: String,
    alg: SigningAlgorithm,
    key_pair: KeyPairOf,
    jwk: Jwk,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Parses a PEM private key; an RSA key signs RS256. Parsing is aws-lc's alone (the `rsa`
    /// crate is not used: RUSTSEC-2023-0071).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        Self::from_pem_for_rsa(pem, SigningAlgorithm::Rs256)
    }

    /// Parses the key file `file_name`: an RSA key in a `*.ps256.pem` file signs PS256.
    pub fn from_file(file_name: &str, pem: &str) -> Result<Self, KeyError> {
        let rsa_alg = if file_name.to_ascii_lowercase().ends_with(PS256_FILE_SUFFIX) {
            SigningAlgorithm::Ps256
        } else {
            SigningAlgorithm::Rs256
        };
        Self::from_pem_for_rsa(pem, rsa_alg)
    }

    fn from_pem_for_rsa(pem: &str, rsa_alg: SigningAlgorithm) -> Result<Self, KeyError> {
        let document = pem::parse(pem).map_err(|_| KeyError::NotPrivateKeyPem)?;
        let der = document.contents();
        match document.tag() {
            "PRIVATE KEY" => {
                if let Ok(key) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
                    return Ok(Self::ec(key));
                }
                if let Ok(key) = Ed25519KeyPair::from_pkcs8(der) {
                    return Ok(Self::ed25519(key));
                }
                Self::rsa(
                    RsaKeyPair::from_pkcs8(der),
                    rsa_der::pkcs1_of_pkcs8(der),
                    rsa_alg,
                )
            }
            "RSA PRIVATE KEY" => Self::rsa(RsaKeyPair::from_der(der), Some(der), rsa_alg),
            "EC PRIVATE KEY" => {
                EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map(Self::ec)
                    .map_err(|_| KeyError::NotPrivateKeyPem)
            }
            _ => Err(KeyError::NotPrivateKeyPem),
        }
    }

    fn rsa(
        parsed: Result<RsaKeyPair, aws_lc_rs::error::KeyRejected>,
        pkcs1: Option<&[u8]>,
        alg: SigningAlgorithm,
    ) -> Result<Self, KeyError> {
        // aws-lc refuses keys under 2048 bits without saying their size; the DER says it.
        if let Some(bits) = pkcs1
            .and_then(rsa_der::modulus_bits)
            .filter(|bits| *bits < MIN_RSA_BITS)
        {
            return Err(KeyError::TooSmall(bits));
        }
        let key_pair = parsed.map_err(|_| KeyError::NotPrivateKeyPem)?;
        let public = key_pair.public_key();
        let jwk = Jwk::rsa(
            alg,
            base64url(public.modulus().big_endian_without_leading_zero()),
            base64url(public.exponent().big_endian_without_leading_zero()),
        );
        Ok(Self::new(alg, KeyPairOf::Rsa(key_pair), jwk))
    }

    fn ec(key_pair: EcdsaKeyPair) -> Self {
        // An uncompressed P-256 point: 0x04, then x and y of 32 bytes each.
        let point = key_pair.public_key().as_ref();
        let jwk = Jwk::ec_p256(base64url(&point[1..33]), base64url(&point[33..65]));
        Self::new(SigningAlgorithm::Es256, KeyPairOf::Ec(key_pair), jwk)
    }

    fn ed25519(key_pair: Ed25519KeyPair) -> Self {
        let jwk = Jwk::ed25519(base64url(key_pair.public_key().as_ref()));
        Self::new(SigningAlgorithm::EdDsa, KeyPairOf::Ed(key_pair), jwk)
    }

    fn new(alg: SigningAlgorithm, key_pair: KeyPairOf, jwk: Jwk) -> Self {
        Self {
            kid: jwk.kid.clone(),
            alg,
            key_pair,
            jwk,
        }
    }

    /// The RFC 7638 thumbprint, used as `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key signs with.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.alg
    }

    /// The public half, as published in the JWKS.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// The JWS signature of `message` (RFC 7518 §3: ECDSA as fixed-size `r || s`).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.key_pair {
            KeyPairOf::Rsa(key_pair) => {
                let padding = match self.alg {
                    SigningAlgorithm::Ps256 => &RSA_PSS_SHA256,
                    _ => &RSA_PKCS1_SHA256,
                };
                let mut signature = vec![0; key_pair.public_modulus_len()];
                key_pair
                    .sign(padding, &SystemRandom::new(), message, &mut signature)
                    .map_err(unusable)?;
                Ok(signature)
            }
            KeyPairOf::Ec(key_pair) => Ok(key_pair
                .sign(&SystemRandom::new(), message)
                .map_err(unusable)?
                .as_ref()
                .to_vec()),
            KeyPairOf::Ed(key_pair) => Ok(key_pair.sign(message).as_ref().to_vec()),
        }
    }
}

fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh private key for `alg` as PKCS#8 PEM, generated by aws-lc (fast and constant-time,
/// rather than by the `rsa` crate). RSA keys are 2048 bits; a PS256 key must be written to a
/// `*.ps256.pem` file to sign PS256.
pub fn generate_pem(alg: SigningAlgorithm) -> Result<String, KeyError> {
    let der = match alg {
        SigningAlgorithm::Rs256 | SigningAlgorithm::Ps256 => RsaKeyPair::generate(KeySize::Rsa2048)
            .and_then(|key| key.as_der())
            .map_err(unusable)?
            .as_ref()
            .to_vec(),
        SigningAlgorithm::Es256 => {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(unusable)?
                .as_ref()
                .to_vec()
        }
        SigningAlgorithm::EdDsa => Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(unusable)?
            .as_ref()
            .to_vec(),
    };
    Ok(pem::encode(&pem::Pem::new("PRIVATE KEY", der)))
}

/// A fresh 2048-bit RSA key (RS256) as PKCS#8 PEM: what most tests and `portcullis dev` use.
pub fn generate_rsa_pem() -> Result<String, KeyError> {
    generate_pem(SigningAlgorithm::Rs256)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER of one tag with its contents (short or two-byte lengths).
    fn encode(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match contents.len() {
            len @ 0..=0x7f => out.push(len as u8),
            len @ 0x80..=0xff => out.extend([0x81, len as u8]),
            len => out.extend([0x82, (len >> 8) as u8, len as u8]),
        }
        out.extend_from_slice(contents);
        out
    }

    #[test]
    fn generated_keys_load_and_have_a_stable_thumbprint() {
        let pem = generate_rsa_pem().unwrap();
        let a = SigningKey::from_pem(&pem).unwrap();
        let b = SigningKey::from_pem(&pem).unwrap();
        assert_eq!(a.kid(), b.kid());
        assert_eq!(a.kid().len(), 43, "base64url of 32 bytes");
        assert_eq!(a.jwk().kid, a.kid());
    }

    #[test]
    fn pkcs1_and_pkcs8_forms_of_one_key_agree() {
        let pem8 = generate_rsa_pem().unwrap();
        let der8 = pem::parse(&pem8).unwrap();
        let pkcs1 = rsa_der::pkcs1_of_pkcs8(der8.contents()).unwrap();
        assert_eq!(rsa_der::modulus_bits(pkcs1), Some(2048));
        let pem1 = pem::encode(&pem::Pem::new("RSA PRIVATE KEY", pkcs1.to_vec()));
        let a = SigningKey::from_pem(&pem8).unwrap();
        let b = SigningKey::from_pem(&pem1).unwrap();
        assert_eq!(a.kid(), b.kid());
    }

    #[test]
    fn every_algorithm_generates_a_key_that_loads_pinned_to_it() {
        for alg in SigningAlgorithm::ALL {
            let pem = generate_pem(alg).unwrap();
            let file = format!(
                "k{}",
                if alg == SigningAlgorithm::Ps256 {
                    PS256_FILE_SUFFIX
                } else {
                    ".pem"
                }
            );
            let key = SigningKey::from_file(&file, &pem).unwrap();
            assert_eq!(key.algorithm(), alg);
            assert_eq!(key.jwk().alg.as_deref(), Some(alg.name()));
            assert_eq!(key.jwk().signing_algorithm(), Some(alg));
            assert!(!key.sign(b"message").unwrap().is_empty());
        }
        let rsa = generate_pem(SigningAlgorithm::Ps256).unwrap();
        assert_eq!(
            SigningKey::from_pem(&rsa).unwrap().algorithm(),
            SigningAlgorithm::Rs256
        );
    }

    #[test]
    fn sec1_ec_keys_load_like_their_pkcs8_form() {
        let pkcs8 = generate_pem(SigningAlgorithm::Es256).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pem::parse(&pkcs8).unwrap().contents(),
        )
        .unwrap();
        let sec1 = key.private_key().as_der().unwrap();
        let sec1 = pem::encode(&pem::Pem::new("EC PRIVATE KEY", sec1.as_ref().to_vec()));
        assert_eq!(
            SigningKey::from_pem(&sec1).unwrap().kid(),
            SigningKey::from_pem(&pkcs8).unwrap().kid()
        );
    }

    #[test]
    fn garbage_and_small_keys_are_refused() {
        assert!(matches!(
            SigningKey::from_pem("nope"),
            Err(KeyError::NotPrivateKeyPem)
        ));
        // An RSAPrivateKey with a 1024-bit modulus (its other numbers are placeholders: the
        // size alone must refuse it).
        let mut modulus = vec![0x00, 0xc5];
        modulus.extend([0x01; 127]);
        let mut fields = encode(0x02, &[0]);
        fields.extend(encode(0x02, &modulus));
        fields.extend(encode(0x02, &[0x01, 0x00, 0x01]));
        for _ in 0..6 {
            fields.extend(encode(0x02, &[0x03]));
        }
        let pem = pem::encode(&pem::Pem::new("RSA PRIVATE KEY", encode(0x30, &fields)));
        assert!(matches!(
            SigningKey::from_pem(&pem),
            Err(KeyError::TooSmall(1024))
        ));
    }
}
