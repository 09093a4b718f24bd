//! Turning what jsonwebtoken refuses into the verifier's [`TokenRejection`] reasons.

use jsonwebtoken::errors::ErrorKind;
use portcullis_domain::token::TokenRejection;

/// The token's header as JSON, if it decodes.
pub(super) fn raw_header(token: &str) -> Option<serde_json::Value> {
    use base64::Engine;
    let encoded = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Why a header jsonwebtoken could not parse is unacceptable: an algorithm it does not know
/// (`none` in any spelling, say) is refused as such, anything else as malformed.
pub(super) fn header_rejection(token: &str) -> TokenRejection {
    let alg = raw_header(token).and_then(|header| {
        header
            .get("alg")
            .and_then(|a| a.as_str())
            .map(str::to_owned)
    });
    match alg {
        Some(alg) if crate::SigningAlgorithm::from_name(&alg).is_none() => {
            TokenRejection::AlgorithmNotAllowed
        }
        _ => TokenRejection::Malformed,
    }
}

/// The reason for a token jsonwebtoken refused while decoding it.
pub(super) fn rejection(kind: &ErrorKind) -> TokenRejection {
    match kind {
        ErrorKind::InvalidSignature => TokenRejection::BadSignature,
        ErrorKind::ExpiredSignature => TokenRejection::Expired,
        ErrorKind::ImmatureSignature => TokenRejection::NotYetValid,
        ErrorKind::InvalidIssuer => TokenRejection::WrongIssuer,
        ErrorKind::InvalidAudience => TokenRejection::WrongAudience,
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidSubject | ErrorKind::Json(_) => {
            TokenRejection::InvalidClaims
        }
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            TokenRejection::AlgorithmNotAllowed
        }
        _ => TokenRejection::Malformed,
    }
}
