//! The login form (`POST /login`): the password goes through the same argon2 pool, brute-force
//! limits and audit as the token endpoint, and every failure gets one message, so the form
//! tells nobody which usernames exist.

use super::authorize::{invalid_link, see_other};
use super::cookies::{self, csrf_token};
use super::pages::{origin_of, LoginPage, Page};
use super::{unavailable_page, PagePost};
use crate::audit::{AuditEvent, Origin};
use crate::form::Form;
use crate::limits::LoginKeys;
use crate::IssuerState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use portcullis_domain::login::request::AuthorizationParams;
use portcullis_domain::secret::Secret;
use portcullis_domain::usecase::login::AuthorizeFailure;
use portcullis_http::client_ip::ClientIp;

/// The one message every failed login gets.
const LOGIN_FAILED: &str = "The username or password is incorrect.";
/// The message of a throttled login (the same for every name, known or not).
const LOGIN_THROTTLED: &str = "Too many failed attempts. Wait a while and try again.";

/// What a login form shows.
pub(super) struct LoginView<'a> {
    pub client: Option<&'a str>,
    pub username: &'a str,
    pub return_to: &'a str,
    pub form_target: Option<String>,
    pub error: Option<&'static str>,
    pub status: StatusCode,
}

/// The login form.
pub(super) fn login_page(headers: &HeaderMap, view: LoginView<'_>) -> Response {
    let (csrf, cookie) = csrf_token(headers);
    let page = LoginPage {
        client: view.client,
        error: view.error,
        username: view.username,
        return_to: view.return_to,
        csrf: &csrf,
    };
    Page::new(view.status, &page)
        .allow_form_target(view.form_target)
        .with_cookie(cookie)
        .into_response()
}

/// Where a login may lead: back to an authorization request or to the device page, nowhere
/// else (the form field is the attacker's to set).
fn return_target(return_to: &str) -> Option<ReturnTarget> {
    if let Some(query) = return_to.strip_prefix("/oauth2/authorize?") {
        return Some(ReturnTarget::Authorize(query.to_owned()));
    }
    let device = return_to == "/device"
        || return_to
            .strip_prefix("/device?user_code=")
            .is_some_and(|code| code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    device.then_some(ReturnTarget::Device)
}

enum ReturnTarget {
    Authorize(String),
    Device,
}

/// `POST /login`.
pub(crate) async fn login(
    State(state): State<IssuerState>,
    ip: ClientIp,
    headers: HeaderMap,
    PagePost(form): PagePost,
) -> Response {
    let return_to = form.get("return_to").unwrap_or("/device");
    // Before a password is checked, the request it leads back to is validated again: the form
    // field is the browser's to change.
    let (client, form_target) = match return_target(return_to) {
        Some(ReturnTarget::Authorize(query)) => match authorization_client(&state, &query).await {
            Ok(found) => found,
            Err(page) => return page,
        },
        Some(ReturnTarget::Device) => (None, None),
        None => {
            return Page::message(
                StatusCode::BAD_REQUEST,
                "Sign-in failed",
                "The form is malformed.",
            )
            .into_response()
        }
    };
    let username = form.get("username").unwrap_or("");
    let again = |error, status| {
        login_page(
            &headers,
            LoginView {
                client: client.as_deref(),
                username,
                return_to,
                form_target: form_target.clone(),
                error: Some(error),
                status,
            },
        )
    };
    let origin = Origin::from(ip);
    let client_label = client.as_deref().unwrap_or("device");
    let keys = LoginKeys::new(username, &origin.limit_key);
    // Every attempt is charged to the address too, as on the token endpoint: one address
    // cannot try a password against every username, nor keep the argon2 pool busy.
    if state.limit_ip(&origin.limit_key).await.is_err() || state.login_allowed(&keys).await.is_err()
    {
        state.audit(
            AuditEvent::LoginThrottled,
            &origin,
            client_label,
            Some(username),
        );
        return again(LOGIN_THROTTLED, StatusCode::TOO_MANY_REQUESTS);
    }
    let password = Secret::new(form.get("password").unwrap_or(""));
    let user = match state.tokens.check_password(username, &password).await {
        Ok(user) => user,
        Err(error) => return unavailable_page(&error),
    };
    let Some(user) = user else {
        state.login_failed(&keys).await;
        state.audit(
            AuditEvent::LoginFailed,
            &origin,
            client_label,
            Some(username),
        );
        return again(LOGIN_FAILED, StatusCode::OK);
    };
    state.login_succeeded(&keys).await;
    let subject = user.subject;
    let records = state.login.records();
    // A new login replaces the browser's previous session: nothing issued under the old one
    // outlives this login's logout.
    if let Some(previous) = cookies::read(&headers, cookies::SESSION_COOKIE) {
        let ended = match records.session_of_cookie(&previous).await {
            Ok(Some(session)) => records.end_session(&session.sid).await,
            Ok(None) => Ok(()),
            Err(error) => Err(error),
        };
        if let Err(error) = ended {
            return unavailable_page(&error.into());
        }
    }
    let (cookie, _) = match records.start_session(&subject).await {
        Ok(started) => started,
        Err(error) => return unavailable_page(&error.into()),
    };
    state.audit(
        AuditEvent::LoginSucceeded,
        &origin,
        client_label,
        Some(subject.as_str()),
    );
    let lifetime = records.policy().session_absolute;
    let mut response = see_other(return_to);
    if let Some(cookie) = cookies::session(cookie.expose(), lifetime) {
        response
            .headers_mut()
            .append(http::header::SET_COOKIE, cookie);
    }
    response
}

/// The client an authorization request names, with its redirect origin, once the request is
/// valid; an invalid one ends here with the page the authorization endpoint would show.
async fn authorization_client(
    state: &IssuerState,
    query: &str,
) -> Result<(Option<String>, Option<String>), Response> {
    let invalid = || invalid_link("The request is malformed.");
    let inner = Form::parse(query.as_bytes()).map_err(|_| invalid())?;
    let params = AuthorizationParams::from_lookup(|name| inner.get(name));
    match state.login.check(&params).await {
        Ok(request) => Ok((
            Some(request.client.client_id.as_str().to_owned()),
            origin_of(&request.redirect_uri),
        )),
        // The authorization endpoint will send this error to the client once the browser is
        // back there; the login itself can proceed to it without a password.
        Err(AuthorizeFailure::Redirect { .. }) => {
            Err(see_other(&format!("/oauth2/authorize?{query}")))
        }
        Err(AuthorizeFailure::Untrusted(_)) => Err(invalid()),
        Err(AuthorizeFailure::Unavailable(error)) => Err(unavailable_page(&error)),
    }
}
