//! What every form-encoded OAuth endpoint reads first: the form itself and the client's
//! credentials (RFC 6749 §2.3.1), shared by the token, revocation and introspection handlers.

use crate::form::{Form, FormError};
use crate::oauth_error::OAuthError;
use axum::extract::rejection::BytesRejection;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http::{header, HeaderMap, StatusCode};
use percent_encoding::percent_decode_str;
use portcullis_domain::secret::Secret;
use portcullis_domain::usecase::tokens::ClientAuth;

/// Reads the body as a strict form, refusing other media types.
pub(crate) fn read_form(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Form, OAuthError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            OAuthError::too_large()
        } else {
            OAuthError::invalid_request("the request body could not be read")
        }
    })?;
    if !crate::form::is_form_content_type(headers) {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    Form::parse(&body).map_err(|e| match e {
        FormError::Repeated => OAuthError::invalid_request("a parameter is repeated"),
        FormError::NotUtf8 => OAuthError::invalid_request("the form is not valid UTF-8"),
        FormError::TooMany => OAuthError::invalid_request("too many parameters"),
    })
}

/// A JSON answer no cache may keep (tokens, codes, introspection verdicts, user claims).
pub(crate) fn no_store_json(body: impl serde::Serialize) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}

/// Client authentication: HTTP Basic (RFC 6749 §2.3.1, form-encoded id and secret) or the
/// `client_id` / `client_secret` parameters, never both. Returns whether Basic was used, so a
/// failure can carry the matching challenge.
pub(crate) fn client_auth(
    headers: &HeaderMap,
    form: &Form,
) -> Result<(ClientAuth, bool), OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .map(|value| {
            let value = value
                .to_str()
                .map_err(|_| OAuthError::invalid_client(true))?;
            let (scheme, credentials) = value
                .split_once(' ')
                .ok_or(OAuthError::invalid_client(true))?;
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(OAuthError::invalid_client(true));
            }
            let decoded = STANDARD
                .decode(credentials.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or(OAuthError::invalid_client(true))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or(OAuthError::invalid_client(true))?;
            let unescape = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8()
                    .map(|s| s.into_owned())
                    .map_err(|_| OAuthError::invalid_client(true))
            };
            Ok((unescape(id)?, unescape(secret)?))
        })
        .transpose()?;
    match (basic, form.get("client_id"), form.get("client_secret")) {
        (Some(_), _, Some(_)) => Err(OAuthError::invalid_request(
            "use one client authentication method, not two",
        )),
        (Some((id, secret)), form_id, None) => {
            if form_id.is_some_and(|f| f != id) {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the credentials",
                ));
            }
            let secret = (!secret.is_empty()).then(|| Secret::new(secret));
            Ok((
                ClientAuth {
                    client_id: id,
                    secret,
                    dpop_jkt: None,
                },
                true,
            ))
        }
        (None, Some(id), secret) => Ok((
            ClientAuth {
                client_id: id.to_string(),
                secret: secret.map(Secret::new),
                dpop_jkt: None,
            },
            false,
        )),
        (None, None, _) => Err(OAuthError::invalid_client(false)),
    }
}

pub(crate) fn required<'a>(
    form: &'a Form,
    name: &'static str,
    message: &'static str,
) -> Result<&'a str, OAuthError> {
    form.get(name).ok_or(OAuthError::invalid_request(message))
}
