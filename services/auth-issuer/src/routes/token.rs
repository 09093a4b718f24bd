//! `POST /oauth2/token` (RFC 6749) and `POST /oauth2/revoke` (RFC 7009).

use super::request::{client_auth, read_form, required};
use crate::audit::{AuditEvent, Origin};
use crate::form::Form;
use crate::limits::LoginKeys;
use crate::oauth_error::OAuthError;
use crate::IssuerState;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use portcullis_domain::cause::Chain;
use portcullis_domain::directory::DEVICE_CODE_GRANT;
use portcullis_domain::identity::Username;
use portcullis_domain::scope::ScopeSet;
use portcullis_domain::secret::Secret;
use portcullis_domain::usecase::tokens::{CodeExchange, GrantError, IssuedTokens};
use portcullis_http::client_ip::ClientIp;
use serde::Serialize;

/// Largest token or revocation request body accepted.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// RFC 6749 §5.1 token response.
#[derive(Serialize, utoipa::ToSchema)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<&'a str>,
    scope: String,
}

pub(crate) fn grant_error(error: GrantError, used_basic: bool) -> OAuthError {
    match error {
        GrantError::InvalidClient => OAuthError::invalid_client(used_basic),
        GrantError::UnauthorizedClient => OAuthError::unauthorized_client(),
        GrantError::InvalidGrant
        | GrantError::RefreshReused { .. }
        | GrantError::CodeReplayed { .. } => OAuthError::invalid_grant(),
        GrantError::AuthorizationPending => OAuthError::device(
            "authorization_pending",
            "the user has not yet approved the device",
        ),
        GrantError::SlowDown => OAuthError::device(
            "slow_down",
            "poll less often: the interval grew by 5 seconds",
        ),
        GrantError::AccessDenied => {
            OAuthError::device("access_denied", "the user denied the device")
        }
        GrantError::ExpiredToken => {
            OAuthError::device("expired_token", "the device code expired; start again")
        }
        GrantError::InvalidScope => OAuthError::invalid_scope(),
        GrantError::InvalidDpopProof(message) => OAuthError::invalid_dpop_proof(message),
        GrantError::InvalidRequest(message) => OAuthError::invalid_request(message),
        GrantError::Unavailable(reason) => {
            tracing::error!(error = %Chain(&reason), "token request failed on a dependency");
            OAuthError::unavailable()
        }
    }
}

async fn grant(
    state: &IssuerState,
    origin: &Origin,
    headers: &HeaderMap,
    form: &Form,
) -> Result<IssuedTokens, OAuthError> {
    let (mut client, used_basic) = client_auth(headers, form)?;
    client.dpop_jkt = state.dpop.proof_key(headers).await?;
    let scope = form
        .get("scope")
        .map(ScopeSet::parse)
        .transpose()
        .map_err(|_| OAuthError::invalid_scope())?;
    let grant_type = required(form, "grant_type", "grant_type is required")?;
    let (result, username) = match grant_type {
        "password" => {
            let username = required(form, "username", "username is required")?;
            let password = Secret::new(required(form, "password", "password is required")?);
            // A name no user can have is refused before it reaches a limiter or the directory,
            // with the answer an unknown user gets.
            if Username::new(username).is_err() {
                return Err(OAuthError::invalid_grant());
            }
            let keys = LoginKeys::new(username, &origin.limit_key);
            state.login_allowed(&keys).await.inspect_err(|_| {
                let event = AuditEvent::LoginThrottled;
                state.audit(event, origin, &client.client_id, Some(username));
            })?;
            let result = state
                .tokens
                .password_grant(&client, username, &password, scope.as_ref())
                .await;
            // Only the password check's verdict counts: client errors never reach it, and a
            // wrong scope comes after a right password.
            match &result {
                Ok(_) => state.login_succeeded(&keys).await,
                Err(GrantError::InvalidGrant) => state.login_failed(&keys).await,
                Err(_) => {}
            }
            (result, Some(username))
        }
        "refresh_token" => {
            let token = Secret::new(required(
                form,
                "refresh_token",
                "refresh_token is required",
            )?);
            (
                state
                    .tokens
                    .refresh_grant(&client, &token, scope.as_ref())
                    .await,
                None,
            )
        }
        "client_credentials" => (
            state
                .tokens
                .client_credentials_grant(&client, scope.as_ref())
                .await,
            None,
        ),
        "authorization_code" => {
            let exchange = CodeExchange {
                code: required(form, "code", "code is required")?,
                redirect_uri: form.get("redirect_uri"),
                code_verifier: form.get("code_verifier"),
            };
            (
                state
                    .tokens
                    .authorization_code_grant(&client, exchange)
                    .await,
                None,
            )
        }
        DEVICE_CODE_GRANT => {
            let device_code = required(form, "device_code", "device_code is required")?;
            (
                state.tokens.device_code_grant(&client, device_code).await,
                None,
            )
        }
        _ => return Err(OAuthError::unsupported_grant_type()),
    };
    match result {
        Ok(tokens) => {
            let event = AuditEvent::TokenIssued { grant_type };
            let subject = Some(tokens.subject.as_str());
            state.audit(event, origin, &client.client_id, subject);
            Ok(tokens)
        }
        Err(error) => {
            if let Some(event) = AuditEvent::of_refusal(&error) {
                // Reuse is about the family's owner, whoever presented the token.
                let user = match &error {
                    GrantError::RefreshReused { subject }
                    | GrantError::CodeReplayed { subject } => Some(subject.as_str()),
                    _ => username,
                };
                state.audit(event, origin, &client.client_id, user);
            }
            Err(grant_error(error, used_basic))
        }
    }
}

/// `POST /oauth2/token`.
#[utoipa::path(post, path = "/oauth2/token", tag = "oauth2",
    params(("DPoP" = Option<String>, Header, description = "A DPoP proof (RFC 9449): the tokens are then bound to its key and `token_type` is `DPoP`")),
    request_body(content = crate::api_doc::TokenRequestDoc, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "Tokens. `refresh_token` is absent for client_credentials.", body = TokenResponse,
            headers(("Cache-Control" = String, description = "no-store"), ("Pragma" = String, description = "no-cache"))),
        crate::api_doc::OAuthErrorResponses))]
pub async fn token(
    State(state): State<IssuerState>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let origin = Origin::from(ip);
    let result = match read_form(&headers, body) {
        Ok(form) => grant(&state, &origin, &headers, &form).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(tokens) => {
            let body = TokenResponse {
                access_token: tokens.access_token.expose(),
                token_type: if tokens.dpop_bound { "DPoP" } else { "Bearer" },
                expires_in: tokens.expires_in,
                refresh_token: tokens.refresh_token.as_ref().map(Secret::expose),
                id_token: tokens.id_token.as_ref().map(Secret::expose),
                scope: tokens.scope.to_string(),
            };
            let mut response = Json(body).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(error) => error.into_response(),
    }
}

/// `POST /oauth2/revoke`: revokes a refresh token's family. Unknown tokens (and access tokens,
/// which simply expire) get 200 too, as RFC 7009 §2.2 requires.
#[utoipa::path(post, path = "/oauth2/revoke", tag = "oauth2",
    request_body(content = crate::api_doc::TokenFormDoc, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke (RFC 7009 §2.2).",
            headers(("Cache-Control" = String, description = "no-store"))),
        crate::api_doc::OAuthErrorResponses))]
pub async fn revoke(
    State(state): State<IssuerState>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let origin = Origin::from(ip);
    let result = async {
        let form = read_form(&headers, body)?;
        let (client, used_basic) = client_auth(&headers, &form)?;
        let token = Secret::new(required(&form, "token", "token is required")?);
        state
            .tokens
            .revoke(&client, &token)
            .await
            .map_err(|e| grant_error(e, used_basic))?;
        state.audit(AuditEvent::TokenRevoked, &origin, &client.client_id, None);
        Ok::<_, OAuthError>(())
    }
    .await;
    match result {
        Ok(()) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response(),
        Err(error) => error.into_response(),
    }
}
