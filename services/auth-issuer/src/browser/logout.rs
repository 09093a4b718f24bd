//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): ends the browser session, and
//! with it the refresh-token families issued under it, then returns to a registered
//! `post_logout_redirect_uri` or says the user is signed out. A valid `id_token_hint` naming
//! this browser's session logs out at once; anything else asks the user first, so a link on
//! another site cannot sign people out.

use super::authorize::{see_other, with_query};
use super::cookies::{self, csrf_token, same_browser_post};
use super::pages::{origin_of, LogoutPage, Page};
use super::{current_session, read_page_form, unavailable_page};
use crate::audit::{AuditEvent, Origin};
use crate::form::Form;
use crate::IssuerState;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, StatusCode};
use portcullis_domain::login::request::redirect_uri_registered;
use portcullis_http::client_ip::ClientIp;

/// The parameters carried through the confirmation form.
const LOGOUT_PARAMETERS: [&str; 4] = [
    "id_token_hint",
    "post_logout_redirect_uri",
    "state",
    "client_id",
];

/// `GET /oauth2/logout` (`end_session_endpoint`).
pub(crate) async fn logout_get(
    State(state): State<IssuerState>,
    ip: ClientIp,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match Form::parse(query.unwrap_or_default().as_bytes()) {
        Ok(form) => logout(&state, &headers, Origin::from(ip), &form, false).await,
        Err(_) => invalid("The logout request is malformed."),
    }
}

/// `POST /oauth2/logout`: a relying party's form post, or the user's confirmation.
pub(crate) async fn logout_post(
    State(state): State<IssuerState>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match read_page_form(&headers, body) {
        Ok(form) => {
            let confirmed =
                form.get("decision") == Some("logout") && same_browser_post(&headers, &form);
            logout(&state, &headers, Origin::from(ip), &form, confirmed).await
        }
        Err(bad) => bad.into_response(),
    }
}

async fn logout(
    state: &IssuerState,
    headers: &HeaderMap,
    origin: Origin,
    form: &Form,
    confirmed: bool,
) -> Response {
    let hint = match form.get("id_token_hint") {
        Some(token) => {
            match portcullis_jwt::read_id_token_hint(&state.ring, state.config.issuer_url(), token)
            {
                Some(hint) => Some(hint),
                None => return invalid("The id_token_hint is not a token this issuer signed."),
            }
        }
        None => None,
    };
    let client_id = match (hint.as_ref().map(|h| h.aud.as_str()), form.get("client_id")) {
        (Some(aud), Some(id)) if aud != id => {
            return invalid("client_id does not match the id_token_hint.")
        }
        (Some(aud), _) => Some(aud),
        (None, id) => id,
    };
    let redirect = match form.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let client = match client_id {
                Some(id) => match state.login.client(id).await {
                    Ok(client) => client,
                    Err(error) => return unavailable_page(&error),
                },
                None => None,
            };
            // Compared like redirect URIs: exactly, except a loopback IP literal's port.
            if !client.is_some_and(|c| redirect_uri_registered(&c.post_logout_redirect_uris, uri)) {
                return invalid("The address to return to is not registered for this application.");
            }
            Some(uri)
        }
    };
    let session = match current_session(state, headers).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    let hinted_sid = hint.as_ref().and_then(|h| h.sid.as_deref());
    let this_browser = match (&session, hinted_sid) {
        (Some(session), Some(sid)) => session.sid == sid,
        (None, _) => true,
        (Some(_), None) => false,
    };
    if session.is_some() && !confirmed && !this_browser {
        return confirmation(headers, form, redirect.and_then(origin_of));
    }
    // Only this browser's session ends: a hint (often an old id_token from a log or a URL)
    // never ends a session elsewhere.
    if let Some(session) = &session {
        if let Err(error) = state.login.records().end_session(&session.sid).await {
            return unavailable_page(&error.into());
        }
    }
    if let Some(session) = &session {
        state.audit(
            AuditEvent::Logout,
            &origin,
            client_id.unwrap_or("-"),
            Some(&session.subject),
        );
    }
    let mut response = match redirect {
        Some(uri) => {
            let state: Vec<_> = form
                .get("state")
                .map(|s| ("state", s))
                .into_iter()
                .collect();
            see_other(&with_query(uri, &state))
        }
        None => Page::message(
            StatusCode::OK,
            "Signed out",
            "You are signed out. You can close this page.",
        )
        .into_response(),
    };
    if let Some(cookie) = cookies::clear_session() {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

fn confirmation(headers: &HeaderMap, form: &Form, target: Option<String>) -> Response {
    let (csrf, cookie) = csrf_token(headers);
    let hidden = LOGOUT_PARAMETERS
        .iter()
        .filter_map(|&name| form.get(name).map(|value| (name, value)))
        .collect();
    Page::new(
        StatusCode::OK,
        &LogoutPage {
            hidden,
            csrf: &csrf,
        },
    )
    .allow_form_target(target)
    .with_cookie(cookie)
    .into_response()
}

fn invalid(message: &str) -> Response {
    Page::message(
        StatusCode::BAD_REQUEST,
        "This logout link is not valid",
        message,
    )
    .into_response()
}
