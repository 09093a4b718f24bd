//! RS256 access tokens: the issuer's key ring and signer, the JWKS document it publishes, and
//! the resource server's JWKS-backed verifier.
//!
//! Algorithms are pinned: keys are RSA, tokens are RS256 and `typ: at+jwt` (RFC 9068). Nothing
//! here ever trusts a token's header to choose a key type, fetch a URL or pick an algorithm.

pub mod jwks;
pub mod keyring;
pub mod keys;
pub mod signer;
pub mod verifier;

pub use jwks::{Jwk, JwkSet};
pub use keyring::{KeyRing, KeyRingError};
pub use keys::{generate_rsa_pem, KeyError, SigningKey};
pub use signer::JwtSigner;
pub use verifier::{FetchError, JwksVerifier, VerifierConfig};

/// The only JWS algorithm Portcullis issues or accepts.
pub const ALGORITHM: &str = "RS256";
/// The `typ` header of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
