//! `GET`/`POST /oauth2/userinfo` (OpenID Connect Core §5.3): what the access token's scopes
//! release about its user. The token is verified like introspection verifies it (this issuer's
//! keys, a live session), must carry `openid`, and must speak for a user, not a client.

use crate::IssuerState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use portcullis_domain::login::claims::released_claims;
use portcullis_jwt::SigningAlgorithm;

/// `GET`/`POST /oauth2/userinfo`.
#[utoipa::path(method(get, post), path = "/oauth2/userinfo", tag = "oauth2",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user's claims.", body = crate::api_doc::UserInfoDoc),
        (status = 401, description = "No valid access token.", headers(("WWW-Authenticate" = String))),
        (status = 403, description = "The token lacks the openid scope.", headers(("WWW-Authenticate" = String))),
        (status = 503, description = "A dependency is unavailable.")))]
pub(crate) async fn userinfo_endpoint(
    State(state): State<IssuerState>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    userinfo(&state, &method, &headers).await
}

async fn userinfo(state: &IssuerState, method: &Method, headers: &HeaderMap) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(scheme, token)| (scheme, token.trim()));
    let (dpop, token) = match presented {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => (false, token),
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("dpop") => (true, token),
        _ => return challenge(StatusCode::UNAUTHORIZED, r#"Bearer realm="portcullis""#),
    };
    let verified = match state.introspector.verify_live(state, token).await {
        Ok(Some(verified)) => verified,
        Ok(None) => return invalid_token(dpop),
        Err(response) => return response,
    };
    // RFC 9449 §7: a bound token only with a proof by its key, an unbound one only as Bearer.
    match (&verified.confirmation, dpop) {
        (None, false) => {}
        (Some(bound), true) => {
            let url = format!("{}/oauth2/userinfo", state.config.issuer_url());
            match state
                .dpop
                .resource_proof_key(headers, method.as_str(), &url, token)
                .await
            {
                Ok(jkt) if &jkt == bound => {}
                Ok(_) => return invalid_proof("the DPoP proof is by another key than the token's"),
                Err(rejection) => {
                    tracing::info!(
                        reason = rejection.reason(),
                        "DPoP proof refused at UserInfo"
                    );
                    return invalid_proof("the DPoP proof is invalid");
                }
            }
        }
        _ => return invalid_token(dpop),
    }
    if !verified.scope.contains("openid") {
        return challenge(
            StatusCode::FORBIDDEN,
            r#"Bearer realm="portcullis", error="insufficient_scope", scope="openid""#,
        );
    }
    let user = match state
        .tokens
        .user_with_subject(verified.subject.as_str())
        .await
    {
        Ok(Some(user)) => user,
        Ok(None) => return invalid_token(dpop),
        Err(error) => return crate::routes::token::grant_error(error, false).into_response(),
    };
    let mut claims = released_claims(&user, verified.scope.iter().map(|s| s.as_str()));
    claims.insert("sub".into(), verified.subject.as_str().into());
    super::request::no_store_json(claims)
}

/// 401 `invalid_token`, challenging in the scheme the request used.
fn invalid_token(dpop: bool) -> Response {
    if dpop {
        dpop_challenge(r#"error="invalid_token""#)
    } else {
        challenge(
            StatusCode::UNAUTHORIZED,
            r#"Bearer realm="portcullis", error="invalid_token""#,
        )
    }
}

/// 401 `invalid_dpop_proof` (RFC 9449 §7.1).
fn invalid_proof(description: &str) -> Response {
    dpop_challenge(&format!(
        r#"error="invalid_dpop_proof", error_description="{description}""#
    ))
}

fn dpop_challenge(error: &str) -> Response {
    let algs = SigningAlgorithm::NAMES.join(" ");
    let value = format!(r#"DPoP realm="portcullis", {error}, algs="{algs}""#);
    let value = HeaderValue::from_str(&value)
        .unwrap_or(HeaderValue::from_static(r#"DPoP realm="portcullis""#));
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, value)],
    )
        .into_response()
}

fn challenge(status: StatusCode, value: &'static str) -> Response {
    (
        status,
        [(header::WWW_AUTHENTICATE, HeaderValue::from_static(value))],
    )
        .into_response()
}
