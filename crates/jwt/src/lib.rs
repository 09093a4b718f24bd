//! Signed access tokens: the issuer's key ring and signer, the JWKS document it publishes, and
//! the resource server's JWKS-backed verifier.
//!
//! Algorithms are pinned per key: each key signs with exactly one of RS256, PS256, ES256 or
//! EdDSA, published with it, and a token is verified only by the algorithm of the key its `kid`
//! names (RFC 9068 `typ: at+jwt`). Nothing here ever trusts a token's header to choose a key
//! type, fetch a URL or pick an algorithm.

pub mod dpop;
mod id_token_hint;
pub mod jwks;
pub mod keyring;
pub mod keys;
mod signer;
pub mod verifier;

pub use dpop::DpopProofVerifier;
pub use id_token_hint::{read_id_token_hint, IdTokenHint};
pub use jwks::{Jwk, JwkSet};
pub use keyring::{KeyRing, KeyRingError};
pub use keys::{generate_pem, generate_rsa_pem, KeyError, SigningKey, PS256_FILE_SUFFIX};
pub use portcullis_domain::signing::SigningAlgorithm;
pub use signer::JwtSigner;
pub use verifier::{FetchError, JwksVerifier, VerifierConfig};

/// The `typ` header of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// The `typ` header of id_tokens: plain JWT, which access-token verifiers refuse (RFC 9068 §4),
/// so an id_token can never be used as an access token.
pub const ID_TOKEN_TYPE: &str = "JWT";

/// The algorithm as jsonwebtoken names it, for verifying tokens and proofs.
pub(crate) fn jose_algorithm(alg: SigningAlgorithm) -> jsonwebtoken::Algorithm {
    use jsonwebtoken::Algorithm;
    match alg {
        SigningAlgorithm::Rs256 => Algorithm::RS256,
        SigningAlgorithm::Ps256 => Algorithm::PS256,
        SigningAlgorithm::Es256 => Algorithm::ES256,
        SigningAlgorithm::EdDsa => Algorithm::EdDSA,
    }
}
