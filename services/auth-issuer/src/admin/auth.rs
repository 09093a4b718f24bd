//! Who may call the admin API: a live access token of this issuer, presented as a Bearer token,
//! whose `aud` contains [`AUDIENCE`] and whose scope contains [`SCOPE`] (RFC 6750 challenges
//! otherwise), charged to its client on the issuer's limiter.
//!
//! The token is meant to come from a confidential client with client credentials. A user's token
//! (from a client whose audience is [`AUDIENCE`]) is accepted on the same terms: it carries the
//! scope only when both the client and the user were granted it, and the audit log then names the
//! user beside the client. Because an admin token is powerful, the grant is checked again at
//! every request: a client deleted or a user disabled, deleted or narrowed since the token was
//! issued is refused at once, not when the token expires.

use super::AdminState;
use crate::audit::{AuditEvent, Origin};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use portcullis_domain::cause::Chain;
use portcullis_domain::ratelimit::RateLimitKey;
use portcullis_domain::token::VerifiedToken;
use portcullis_http::client_ip::ClientIp;
use portcullis_http::problem::Problem;

/// The audience an admin token must carry.
pub(crate) const AUDIENCE: &str = "portcullis-admin";
/// The scope an admin token must carry.
pub(crate) const SCOPE: &str = "portcullis:admin";

/// Who made an admin request, for the audit log.
#[derive(Clone, Debug)]
pub(crate) struct Actor {
    /// The token's client.
    pub(crate) client_id: String,
    /// The user the token speaks for, when it is a user's token.
    pub(crate) user: Option<String>,
}

/// Authorises the request (see the module documentation) and hands the [`Actor`] to the handler.
pub(crate) async fn require_admin(
    State(admin): State<AdminState>,
    ip: ClientIp,
    mut request: Request,
    next: Next,
) -> Response {
    let origin = Origin::from(ip);
    match authorise(&admin, &origin, request.headers()).await {
        Ok(actor) => {
            request.extensions_mut().insert(actor);
            request.extensions_mut().insert(origin);
            next.run(request).await
        }
        Err(response) => response,
    }
}

/// The bearer token of `Authorization`, if the request has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let (scheme, token) = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

async fn authorise(
    admin: &AdminState,
    origin: &Origin,
    headers: &HeaderMap,
) -> Result<Actor, Response> {
    let Some(token) = bearer(headers) else {
        // RFC 6750 §3.1: a request without credentials gets a challenge and no error code.
        return Err(refusal(
            StatusCode::UNAUTHORIZED,
            r#"Bearer realm="portcullis""#,
            "the admin API needs a Bearer access token",
        ));
    };
    let refused = |reason: &'static str, client_id: &str| {
        admin
            .issuer
            .audit(AuditEvent::AdminRefused { reason }, origin, client_id, None);
    };
    let verified = admin.verifier.verify_live(&admin.issuer, token).await?;
    // A DPoP-bound token is refused as a Bearer token (RFC 9449 §7.1); the admin API takes
    // Bearer tokens only.
    let Some(verified) = verified.filter(|v| v.confirmation.is_none()) else {
        refused("invalid_token", "");
        return Err(invalid_token());
    };
    if !verified.scope.contains(SCOPE) {
        refused("insufficient_scope", verified.client_id.as_str());
        return Err(insufficient_scope());
    }
    let actor = still_granted(admin, &verified).await?.ok_or_else(|| {
        refused("grant_withdrawn", verified.client_id.as_str());
        invalid_token()
    })?;
    let key = RateLimitKey::new("admin-client", &actor.client_id);
    let decision = admin
        .issuer
        .limiter
        .check(&key, &admin.rate_limit, 1)
        .await
        .map_err(|error| {
            tracing::error!(error = %Chain(&error), "admin API limiter failed");
            Problem::unavailable().into_response()
        })?;
    if !decision.allowed {
        let retry = decision
            .retry_after
            .map_or(1, |d| d.as_secs_f64().ceil() as u64)
            .max(1);
        return Err(Problem::new(StatusCode::TOO_MANY_REQUESTS)
            .detail("too many admin requests from this client")
            .header(header::RETRY_AFTER, HeaderValue::from(retry))
            .into_response());
    }
    Ok(actor)
}

/// The actor, if the token's client (and user) still exist and still hold [`SCOPE`]; `None`
/// when the grant was withdrawn after the token was issued.
async fn still_granted(
    admin: &AdminState,
    verified: &VerifiedToken,
) -> Result<Option<Actor>, Response> {
    let client_id = &verified.client_id;
    let client = admin
        .store
        .client(client_id)
        .await
        .map_err(|e| unavailable(&e))?;
    if !client.is_some_and(|c| c.scopes.contains(SCOPE) && c.audience.iter().any(|a| a == AUDIENCE))
    {
        return Ok(None);
    }
    let subject = verified.subject.as_str();
    // A client acting for itself has its own id as subject; any other subject is a user.
    let user = if subject == client_id.as_str() {
        None
    } else {
        let user = admin
            .issuer
            .tokens
            .user_with_subject(subject)
            .await
            .map_err(|e| unavailable(&e))?;
        if !user.is_some_and(|u| u.scopes.contains(SCOPE)) {
            return Ok(None);
        }
        Some(subject.to_owned())
    };
    Ok(Some(Actor {
        client_id: client_id.to_string(),
        user,
    }))
}

/// 503 for a store that failed while a grant was checked.
fn unavailable(error: &(dyn std::error::Error + 'static)) -> Response {
    tracing::error!(error = %Chain(error), "identity store failed while authorising an admin request");
    Problem::unavailable().into_response()
}

/// 401 `invalid_token`: not a live token of this issuer for the admin audience, bound to a
/// DPoP key, or its grant withdrawn. The reason is for the audit log only.
fn invalid_token() -> Response {
    refusal(
        StatusCode::UNAUTHORIZED,
        r#"Bearer realm="portcullis", error="invalid_token""#,
        "the access token is not valid for the admin API",
    )
}

/// 403 `insufficient_scope` naming the scope needed.
fn insufficient_scope() -> Response {
    refusal(
        StatusCode::FORBIDDEN,
        r#"Bearer realm="portcullis", error="insufficient_scope", scope="portcullis:admin""#,
        "the access token lacks the scope portcullis:admin",
    )
}

fn refusal(status: StatusCode, challenge: &'static str, detail: &str) -> Response {
    Problem::new(status)
        .detail(detail)
        .header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        )
        .into_response()
}
