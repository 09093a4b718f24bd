//! `POST /oauth2/device_authorization` (RFC 8628 §3.1-3.2): a device asks for its codes.

use super::request::{client_auth, read_form};
use super::token::grant_error;
use crate::oauth_error::OAuthError;
use crate::IssuerState;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::HeaderMap;
use portcullis_domain::scope::ScopeSet;
use serde::Serialize;

/// RFC 8628 §3.2 device authorization response.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DeviceAuthorizationResponse {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: String,
    expires_in: u64,
    interval: u64,
}

/// `POST /oauth2/device_authorization`.
#[utoipa::path(post, path = "/oauth2/device_authorization", tag = "oauth2",
    request_body(content = crate::api_doc::DeviceAuthorizationDoc, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "The device's codes.", body = DeviceAuthorizationResponse,
            headers(("Cache-Control" = String, description = "no-store"))),
        crate::api_doc::OAuthErrorResponses))]
pub(crate) async fn device_authorization(
    State(state): State<IssuerState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let form = read_form(&headers, body)?;
        let (client, used_basic) = client_auth(&headers, &form)?;
        let scope = form
            .get("scope")
            .map(ScopeSet::parse)
            .transpose()
            .map_err(|_| OAuthError::invalid_scope())?;
        let start = state
            .tokens
            .device_authorization(&client, scope.as_ref())
            .await
            .map_err(|e| grant_error(e, used_basic))?;
        let verification_uri = format!("{}/device", state.config.issuer_url());
        Ok::<_, OAuthError>(DeviceAuthorizationResponse {
            verification_uri_complete: format!("{verification_uri}?user_code={}", start.user_code),
            verification_uri,
            device_code: start.device_code,
            user_code: start.user_code,
            expires_in: start.expires_in,
            interval: start.interval,
        })
    }
    .await;
    match result {
        Ok(body) => super::request::no_store_json(body),
        Err(error) => error.into_response(),
    }
}
