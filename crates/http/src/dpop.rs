//! The DPoP half of the data API's authentication (RFC 9449 §7): which scheme a request used,
//! the proof it carries, and the `WWW-Authenticate` challenges of a refusal, each naming the
//! resource's RFC 9728 metadata so a client can discover where to log in.

use crate::problem::Problem;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use portcullis_domain::dpop::ProofRejection;
use portcullis_domain::usecase::dpop::DpopGuard;
use std::sync::Arc;

/// Where RFC 9728 protected-resource metadata is served, below the resource's URL.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// Failure labels of `portcullis_auth_failures_total{reason}` that are about the scheme rather
/// than the token or the proof.
pub const SCHEME_REASONS: [&str; 3] = [
    "dpop_bound_as_bearer",
    "dpop_unbound_token",
    "dpop_required",
];

/// How the data API accepts DPoP.
#[derive(Clone)]
pub struct DpopSettings {
    /// Verifies proofs and refuses replays.
    pub guard: Arc<DpopGuard>,
    /// The resource's public base URL (scheme and authority, no trailing slash): a proof's
    /// `htu` must be it plus the request's path.
    pub public_url: Arc<str>,
    /// Refuse bearer tokens altogether (`dpop_bound_access_tokens_required`).
    pub required: bool,
}

impl DpopSettings {
    /// The URL of the resource's metadata document, named in every challenge.
    pub fn metadata_url(&self) -> String {
        format!("{}{METADATA_PATH}", self.public_url)
    }
}

/// The thumbprint of the key that proved possession on this request, for a rate limit keyed on
/// it ([`crate::ratelimit::KeySource::DpopKey`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpopKey(pub String);

/// The credentials a request presented.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Credentials<'a> {
    /// No usable `Authorization` header.
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(&'a str),
    /// `Authorization: DPoP <token>`.
    Dpop(&'a str),
}

/// The scheme and token of the `Authorization` header (schemes without case, RFC 9110 §11.1).
pub(crate) fn credentials(headers: &HeaderMap) -> Credentials<'_> {
    let Some((scheme, token)) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
    else {
        return Credentials::None;
    };
    let token = token.trim();
    if token.is_empty() {
        return Credentials::None;
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        Credentials::Bearer(token)
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Credentials::Dpop(token)
    } else {
        Credentials::None
    }
}

/// The one `DPoP` header's value; several are refused (RFC 9449 §4.3 check 1). Every service
/// reads proofs through it (the data API, the issuer's token endpoint and UserInfo).
pub fn proof(headers: &HeaderMap) -> Result<&str, ProofRejection> {
    let mut proofs = headers.get_all("dpop").iter();
    match (proofs.next(), proofs.next()) {
        (None, _) => Err(ProofRejection::Missing),
        (Some(_), Some(_)) => Err(ProofRejection::Multiple),
        (Some(value), None) => value.to_str().map_err(|_| ProofRejection::Malformed),
    }
}

/// The error a refusal names in its challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChallengeError {
    /// No credentials: challenges without an error code (RFC 6750 §3.1).
    None,
    /// The token is invalid, or used with the wrong scheme.
    InvalidToken,
    /// The proof is missing or invalid.
    InvalidProof,
}

/// 401 with a `Bearer` challenge (unless bearer tokens are refused) and a `DPoP` one; the error
/// code goes on the challenge of the scheme it concerns.
pub(crate) fn refusal(
    dpop: &DpopSettings,
    scheme_is_dpop: bool,
    error: ChallengeError,
    detail: &str,
) -> Problem {
    let metadata = dpop.metadata_url();
    let code = match error {
        ChallengeError::None => None,
        ChallengeError::InvalidToken => Some("invalid_token"),
        ChallengeError::InvalidProof => Some("invalid_dpop_proof"),
    };
    let on = |dpop_challenge: bool| {
        code.filter(|_| dpop_challenge == scheme_is_dpop || dpop.required)
            .map(|code| format!(r#"error="{code}", "#))
            .unwrap_or_default()
    };
    let algs = dpop.guard.algorithms().join(" ");
    let mut problem = Problem::new(StatusCode::UNAUTHORIZED).detail(detail);
    if !dpop.required {
        let bearer = format!(r#"Bearer {}resource_metadata="{metadata}""#, on(false));
        problem = problem.header(header::WWW_AUTHENTICATE, value(&bearer));
    }
    let dpop_challenge = format!(
        r#"DPoP {}algs="{algs}", resource_metadata="{metadata}""#,
        on(true)
    );
    problem.header(header::WWW_AUTHENTICATE, value(&dpop_challenge))
}

fn value(challenge: &str) -> HeaderValue {
    // The URL was validated at start-up; a value that still cannot be a header keeps the scheme.
    HeaderValue::from_str(challenge).unwrap_or(HeaderValue::from_static("DPoP"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_read_without_case_and_nothing_else_counts() {
        let mut headers = HeaderMap::new();
        assert_eq!(credentials(&headers), Credentials::None);
        for (value, expected) in [
            ("bearer abc", Credentials::Bearer("abc")),
            ("DPoP abc", Credentials::Dpop("abc")),
            ("dpop  abc ", Credentials::Dpop("abc")),
            ("Basic abc", Credentials::None),
            ("Bearer ", Credentials::None),
            ("DPoP", Credentials::None),
        ] {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
            assert_eq!(credentials(&headers), expected, "{value}");
        }
    }

    #[test]
    fn exactly_one_proof_header_is_accepted() {
        let mut headers = HeaderMap::new();
        assert!(matches!(proof(&headers), Err(ProofRejection::Missing)));
        headers.append("dpop", HeaderValue::from_static("a.b.c"));
        assert_eq!(proof(&headers).unwrap(), "a.b.c");
        headers.append("dpop", HeaderValue::from_static("d.e.f"));
        assert!(matches!(proof(&headers), Err(ProofRejection::Multiple)));
    }
}
