//! `GET`/`POST /oauth2/authorize` and `POST /oauth2/consent`: the authorization code flow's
//! front channel. The request is checked in two stages (see
//! [`portcullis_domain::login::request`]); nothing is ever sent to an unvalidated redirect URI.

use super::cookies::csrf_token;
use super::login::{login_page, LoginView};
use super::pages::{origin_of, with_page_headers, ConsentPage, Page};
use super::{current_session, read_page_form, unavailable_page, PagePost};
use crate::audit::{AuditEvent, Origin};
use crate::form::Form;
use crate::IssuerState;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use portcullis_domain::login::request::{AuthorizationParams, AuthorizationRequest};
use portcullis_domain::usecase::login::{AuthorizeFailure, Step};
use portcullis_http::client_ip::ClientIp;

/// Where the login and consent forms send the browser back to: the authorization request
/// itself, minus `prompt` (a `prompt=login` is satisfied by the login just made).
const AUTHORIZE_PATH: &str = "/oauth2/authorize?";

/// `GET /oauth2/authorize`.
pub(crate) async fn authorize_get(
    State(state): State<IssuerState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match Form::parse(query.unwrap_or_default().as_bytes()) {
        Ok(form) => authorize(&state, &headers, &form).await,
        Err(_) => malformed(),
    }
}

/// `POST /oauth2/authorize` (OIDC Core §3.1.2.1 allows the request as a form post): answered
/// with a 303 to the same request as a GET, because a cross-site POST carries no SameSite=Lax
/// session cookie, so single sign-on and `prompt=none` would never see the session.
pub(crate) async fn authorize_post(
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let form = match read_page_form(&headers, body) {
        Ok(form) => form,
        Err(bad) => return bad.into_response(),
    };
    let params = AuthorizationParams::from_lookup(|name| form.get(name));
    let mut query =
        form_urlencoded::Serializer::for_suffix(String::from(AUTHORIZE_PATH), AUTHORIZE_PATH.len());
    query.extend_pairs(params.pairs());
    see_other(&query.finish())
}

async fn authorize(state: &IssuerState, headers: &HeaderMap, form: &Form) -> Response {
    let params = AuthorizationParams::from_lookup(|name| form.get(name));
    let request = match state.login.check(&params).await {
        Ok(request) => request,
        Err(failure) => return failed(state, failure),
    };
    let session = match current_session(state, headers).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    match state.login.next_step(&request, session.as_ref()).await {
        Ok(Step::Code(code)) => code_response(state, &request, &code),
        Ok(Step::Login) => login_page(
            headers,
            LoginView {
                client: Some(request.client.client_id.as_str()),
                username: request.login_hint.as_deref().unwrap_or(""),
                return_to: &return_to(&params),
                form_target: origin_of(&request.redirect_uri),
                error: None,
                status: StatusCode::OK,
            },
        ),
        Ok(Step::Consent(scope)) => {
            let (csrf, cookie) = csrf_token(headers);
            let return_to = return_to(&params);
            let username = session.as_ref().map_or("", |s| s.subject.as_str());
            let page = ConsentPage {
                client: request.client.client_id.as_str(),
                user_code: None,
                username,
                scopes: scope.iter().map(|s| s.as_str()).collect(),
                action: "/oauth2/consent",
                hidden: vec![("return_to", return_to.as_str())],
                csrf: &csrf,
            };
            Page::new(StatusCode::OK, &page)
                .allow_form_target(origin_of(&request.redirect_uri))
                .with_cookie(cookie)
                .into_response()
        }
        Err(failure) => failed(state, failure),
    }
}

/// `POST /oauth2/consent`: the user's answer on the consent page.
pub(crate) async fn consent(
    State(state): State<IssuerState>,
    ip: ClientIp,
    headers: HeaderMap,
    PagePost(form): PagePost,
) -> Response {
    let Some(return_to) = form.get("return_to") else {
        return malformed();
    };
    let Some(Ok(inner)) = return_to
        .strip_prefix(AUTHORIZE_PATH)
        .map(|query| Form::parse(query.as_bytes()))
    else {
        return malformed();
    };
    let params = AuthorizationParams::from_lookup(|name| inner.get(name));
    let request = match state.login.check(&params).await {
        Ok(request) => request,
        Err(failure) => return failed(&state, failure),
    };
    let session = match current_session(&state, &headers).await {
        Ok(Some(session)) => session,
        // The session ended meanwhile: back to the authorization request, which asks again.
        Ok(None) => return see_other(return_to),
        Err(page) => return page,
    };
    let origin = Origin::from(ip);
    let client_id = request.client.client_id.as_str();
    match form.get("decision") {
        Some("allow") => {
            let result = match state.login.next_step(&request, Some(&session)).await {
                Ok(Step::Consent(scope)) => {
                    state.login.consent_given(&request, &session, scope).await
                }
                Ok(Step::Code(code)) => Ok(code),
                Ok(Step::Login) => return see_other(return_to),
                Err(failure) => Err(failure),
            };
            match result {
                Ok(code) => {
                    state.audit(
                        AuditEvent::ConsentGranted,
                        &origin,
                        client_id,
                        Some(&session.subject),
                    );
                    code_response(&state, &request, &code)
                }
                Err(failure) => failed(&state, failure),
            }
        }
        Some("deny") => {
            state.audit(
                AuditEvent::ConsentDenied,
                &origin,
                client_id,
                Some(&session.subject),
            );
            to_client(
                &state,
                &request.redirect_uri,
                &[
                    ("error", "access_denied"),
                    ("error_description", "the user denied the request"),
                ],
                request.state.as_deref(),
            )
        }
        _ => malformed(),
    }
}

fn code_response(state: &IssuerState, request: &AuthorizationRequest, code: &str) -> Response {
    to_client(
        state,
        &request.redirect_uri,
        &[("code", code)],
        request.state.as_deref(),
    )
}

/// An authorization response (RFC 6749 §4.1.2) with `state` and `iss` (RFC 9207).
fn to_client(
    state: &IssuerState,
    redirect_uri: &str,
    pairs: &[(&str, &str)],
    client_state: Option<&str>,
) -> Response {
    let mut all = pairs.to_vec();
    all.extend(client_state.map(|s| ("state", s)));
    all.push(("iss", state.config.issuer_url()));
    see_other(&with_query(redirect_uri, &all))
}

/// `uri` with `pairs` added to its query (a registered URI may already have one).
pub(super) fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return uri.to_owned();
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let separator = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{separator}{query}")
}

/// A 303 to `location` with the page headers.
pub(super) fn see_other(location: &str) -> Response {
    let Ok(location) = HeaderValue::from_str(location) else {
        return malformed();
    };
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    with_page_headers(response.headers_mut());
    response
}

fn failed(state: &IssuerState, failure: AuthorizeFailure) -> Response {
    match failure {
        AuthorizeFailure::Untrusted(reason) => invalid_link(&format!("{reason}.")),
        AuthorizeFailure::Redirect {
            redirect_uri,
            state: client_state,
            error,
        } => to_client(
            state,
            &redirect_uri,
            &[
                ("error", error.code),
                ("error_description", error.description),
            ],
            client_state.as_deref(),
        ),
        AuthorizeFailure::Unavailable(error) => unavailable_page(&error),
    }
}

fn malformed() -> Response {
    invalid_link("The request is malformed.")
}

/// The page of an authorization request that cannot be answered at its redirect URI.
pub(super) fn invalid_link(why: &str) -> Response {
    Page::message(
        StatusCode::BAD_REQUEST,
        "This sign-in link is not valid",
        &format!("{why} Go back to the application and try again."),
    )
    .into_response()
}

/// The authorization request to come back to after the login form.
/// The login just made satisfies `prompt=login` and `max_age`, so both are left out (keeping
/// them would ask again, forever); `prompt=consent` still stands.
fn return_to(params: &AuthorizationParams) -> String {
    let mut query =
        form_urlencoded::Serializer::for_suffix(String::from(AUTHORIZE_PATH), AUTHORIZE_PATH.len());
    for (name, value) in params.pairs() {
        match name {
            "max_age" => {}
            "prompt" if value.split(' ').any(|w| w == "consent") => {
                query.append_pair(name, "consent");
            }
            "prompt" => {}
            _ => {
                query.append_pair(name, value);
            }
        }
    }
    query.finish()
}
