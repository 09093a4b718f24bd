//! Access-token authentication in front of protected routes: bearer tokens (RFC 6750) and
//! DPoP-bound tokens with their proofs (RFC 9449 §7).

use crate::dpop::{
    credentials, proof, refusal, ChallengeError, Credentials, DpopKey, DpopSettings,
};
use crate::metrics::Metrics;
use crate::problem::Problem;
use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{header, HeaderValue, StatusCode};
use portcullis_domain::dpop::{ProofRejection, ProofRequest};
use portcullis_domain::token::{TokenRejection, TokenVerifier, VerifiedToken};
use std::future::Future;
use std::sync::Arc;
use tracing::Instrument;

/// What authentication needs; one of a protected route's [`crate::protect::Guards`].
pub struct AuthState {
    /// Verifies tokens.
    pub verifier: Arc<dyn TokenVerifier>,
    /// Counts failures by reason.
    pub metrics: Arc<Metrics>,
    /// How DPoP-bound tokens are checked, and the resource's metadata URL for challenges.
    pub dpop: DpopSettings,
}

impl AuthState {
    /// Counts and logs a refusal; the reason never reaches the caller.
    fn failed(&self, reason: &'static str) {
        self.metrics
            .auth_failures
            .with_label_values(&[reason])
            .inc();
        tracing::info!(reason, "access token rejected");
    }

    /// Verifies the access token (and, for `Authorization: DPoP`, its proof), puts the
    /// [`VerifiedToken`] (and the proof's [`DpopKey`]) into the request for handlers and the
    /// rate limits, and runs `next` on it. Failures answer 401 with `WWW-Authenticate`
    /// challenges for `Bearer` and `DPoP` (`error="invalid_token"` or `"invalid_dpop_proof"`);
    /// the exact reason goes to logs and `portcullis_auth_failures_total`, never to the caller.
    pub async fn enforce<F, Fut>(&self, request: Request, next: F) -> Response
    where
        F: FnOnce(Request) -> Fut,
        Fut: Future<Output = Response>,
    {
        let (parts, body) = request.into_parts();
        let authenticated = authenticate(self, &parts).await;
        let mut request = Request::from_parts(parts, body);
        match authenticated {
            Ok((token, key)) => {
                request.extensions_mut().insert(token);
                if let Some(key) = key {
                    request.extensions_mut().insert(key);
                }
                next(request).await
            }
            Err(problem) => problem.into_response(),
        }
    }
}

async fn authenticate(
    auth: &AuthState,
    request: &Parts,
) -> Result<(Arc<VerifiedToken>, Option<DpopKey>), Problem> {
    let dpop = &auth.dpop;
    let (token, scheme_is_dpop) = match credentials(&request.headers) {
        Credentials::None => {
            auth.failed(TokenRejection::Missing.reason());
            let detail = "an access token is required";
            return Err(refusal(dpop, false, ChallengeError::None, detail));
        }
        Credentials::Bearer(token) => (token, false),
        Credentials::Dpop(token) => (token, true),
    };
    let invalid_token = |reason, detail| {
        auth.failed(reason);
        refusal(dpop, scheme_is_dpop, ChallengeError::InvalidToken, detail)
    };
    if dpop.required && !scheme_is_dpop {
        let detail = "this resource accepts DPoP-bound tokens only";
        return Err(invalid_token("dpop_required", detail));
    }
    let verified = verify(auth, token).await.map_err(|rejection| {
        if rejection == TokenRejection::KeysUnavailable {
            auth.failed(rejection.reason());
            // Not the token's fault: telling the client to drop it would stampede the issuer.
            return Problem::unavailable();
        }
        invalid_token(rejection.reason(), "the access token is invalid")
    })?;
    let jkt = match (scheme_is_dpop, verified.confirmation.as_deref()) {
        (false, None) => return Ok((verified, None)),
        (false, Some(_)) => {
            let detail = "a DPoP-bound token needs the DPoP scheme and a proof";
            return Err(invalid_token("dpop_bound_as_bearer", detail));
        }
        (true, None) => {
            let detail = "the access token is not DPoP-bound";
            return Err(invalid_token("dpop_unbound_token", detail));
        }
        (true, Some(jkt)) => jkt,
    };
    match check_proof(dpop, request, token, jkt).await {
        Ok(key) => Ok((verified, Some(key))),
        Err(rejection) => {
            auth.failed(rejection.reason());
            if let ProofRejection::ReplayCheckUnavailable(_) = rejection {
                return Err(Problem::unavailable());
            }
            let detail = "the DPoP proof is invalid";
            Err(refusal(dpop, true, ChallengeError::InvalidProof, detail))
        }
    }
}

async fn verify(auth: &AuthState, token: &str) -> Result<Arc<VerifiedToken>, TokenRejection> {
    let span = tracing::debug_span!("verify_token", outcome = tracing::field::Empty);
    let verified = auth.verifier.verify(token).instrument(span.clone()).await;
    match &verified {
        Ok(_) => span.record("outcome", "valid"),
        Err(rejection) => span.record("outcome", rejection.reason()),
    };
    verified
}

/// The proof's key, if the request carries one valid proof for this request, this token and
/// the key the token is bound to, never seen before.
async fn check_proof(
    dpop: &DpopSettings,
    request: &Parts,
    token: &str,
    jkt: &str,
) -> Result<DpopKey, ProofRejection> {
    let proof = proof(&request.headers)?;
    let uri = format!("{}{}", dpop.public_url, request.uri.path());
    let checked = dpop
        .guard
        .check(&ProofRequest {
            proof,
            method: request.method.as_str(),
            uri: &uri,
            access_token: Some(token),
            nonce: None,
        })
        .await?;
    if checked.jkt == jkt {
        Ok(DpopKey(checked.jkt))
    } else {
        Err(ProofRejection::WrongKey)
    }
}

/// The answer of [`Caller`] outside [`AuthState::enforce`]: a route wired without authentication.
fn unauthorized() -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED)
        .detail("an access token is required")
        .header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
}

/// The authenticated caller, for handlers behind [`AuthState::enforce`].
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<VerifiedToken>);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Arc<VerifiedToken>>()
            .cloned()
            .map(Caller)
            .ok_or_else(unauthorized)
    }
}

impl Caller {
    /// 403 with `error="insufficient_scope"` unless the token grants `scope`, challenging in
    /// the scheme the token is used with (a bound token only ever with DPoP).
    pub fn require_scope(&self, scope: &'static str) -> Result<(), Problem> {
        if self.0.scope.contains(scope) {
            return Ok(());
        }
        let scheme = match self.0.confirmation {
            Some(_) => "DPoP",
            None => "Bearer",
        };
        let challenge = format!(r#"{scheme} error="insufficient_scope", scope="{scope}""#);
        Err(Problem::new(StatusCode::FORBIDDEN)
            .detail(format!("this request needs the {scope} scope"))
            .header(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_str(&challenge).unwrap_or(HeaderValue::from_static("Bearer")),
            ))
    }
}
