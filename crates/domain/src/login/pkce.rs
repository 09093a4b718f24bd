//! PKCE (RFC 7636) with S256 only: `plain` would send the verifier's equal through the browser,
//! which is exactly what PKCE exists to avoid, so it is refused rather than supported.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A validated `code_challenge` (S256: the base64url SHA-256 of the verifier, 43 characters).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeChallenge(String);

/// Why a challenge was refused; the message goes to the client as `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeError {
    /// No `code_challenge`: PKCE is required for every client.
    Missing,
    /// A method other than S256, including `plain` and an absent method (which means `plain`).
    Method,
    /// Not 43 base64url characters.
    Malformed,
}

impl ChallengeError {
    /// The `error_description` the client gets.
    pub fn message(self) -> &'static str {
        match self {
            Self::Missing => "code_challenge is required (PKCE with S256)",
            Self::Method => "code_challenge_method must be S256",
            Self::Malformed => "code_challenge must be the base64url SHA-256 of the verifier",
        }
    }
}

impl std::fmt::Display for ChallengeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ChallengeError {}

impl CodeChallenge {
    /// Accepts an S256 challenge; an absent method defaults to `plain` (RFC 7636 §4.3) and is
    /// therefore refused too.
    pub fn parse(challenge: Option<&str>, method: Option<&str>) -> Result<Self, ChallengeError> {
        let challenge = challenge.ok_or(ChallengeError::Missing)?;
        if method != Some("S256") {
            return Err(ChallengeError::Method);
        }
        let decoded = URL_SAFE_NO_PAD
            .decode(challenge)
            .map_err(|_| ChallengeError::Malformed)?;
        if decoded.len() != 32 || challenge.len() != 43 {
            return Err(ChallengeError::Malformed);
        }
        Ok(Self(challenge.to_owned()))
    }

    /// Whether `verifier` is the one this challenge was made from. The verifier must have the
    /// RFC 7636 §4.1 form (43 to 128 unreserved characters), so a short, guessable one fails.
    pub fn is_met_by(&self, verifier: &str) -> bool {
        let well_formed = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        well_formed && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn accepts_the_rfc_example_and_nothing_else() {
        let challenge = CodeChallenge::parse(Some(CHALLENGE), Some("S256")).unwrap();
        assert!(challenge.is_met_by(VERIFIER));
        assert!(!challenge.is_met_by(&VERIFIER.replace('d', "e")));
        assert!(
            !challenge.is_met_by(CHALLENGE),
            "the challenge is not its own verifier"
        );
        assert!(!challenge.is_met_by(""));
    }

    #[test]
    fn refuses_plain_missing_and_malformed_challenges() {
        use ChallengeError::*;
        let cases = [
            (None, Some("S256"), Missing),
            (Some(CHALLENGE), None, Method),
            (Some(CHALLENGE), Some("plain"), Method),
            (Some(CHALLENGE), Some("s256"), Method),
            (Some("short"), Some("S256"), Malformed),
            (Some(&CHALLENGE[..42]), Some("S256"), Malformed),
            (
                Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"),
                Some("S256"),
                Malformed,
            ),
        ];
        for (challenge, method, expected) in cases {
            assert_eq!(CodeChallenge::parse(challenge, method), Err(expected));
        }
    }
}
