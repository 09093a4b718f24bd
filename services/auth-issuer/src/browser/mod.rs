//! What people see in a browser: the authorization endpoint's login and consent pages, the
//! device approval page and logout. HTML answers here, never JSON, and every error before a
//! redirect URI is validated is a page, never a redirect.

mod authorize;
mod cookies;
mod device;
mod login;
mod logout;
mod pages;

use crate::form::{Form, FormError};
use crate::IssuerState;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http::{header, HeaderMap, StatusCode};
use pages::Page;
use portcullis_domain::cause::Chain;
use portcullis_domain::login::session::BrowserSession;
use portcullis_domain::usecase::tokens::GrantError;

/// The browser endpoints.
pub(crate) fn router(state: IssuerState) -> Router {
    Router::new()
        .route(
            "/oauth2/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route("/oauth2/consent", post(authorize::consent))
        .route("/login", post(login::login))
        .route("/device", get(device::device_get).post(device::device_post))
        .route(
            "/oauth2/logout",
            get(logout::logout_get).post(logout::logout_post),
        )
        .route("/assets/portcullis.css", get(stylesheet))
        .with_state(state)
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        pages::STYLESHEET,
    )
        .into_response()
}

/// The live session the browser's cookie names, if any.
async fn current_session(
    state: &IssuerState,
    headers: &HeaderMap,
) -> Result<Option<BrowserSession>, Response> {
    let Some(cookie) = cookies::read(headers, cookies::SESSION_COOKIE) else {
        return Ok(None);
    };
    state
        .login
        .records()
        .session_of_cookie(&cookie)
        .await
        .map_err(|error| unavailable_page(&error.into()))
}

/// Why a form post's body was refused: said on a page.
struct BadForm(&'static str);

impl IntoResponse for BadForm {
    fn into_response(self) -> Response {
        Page::message(
            StatusCode::BAD_REQUEST,
            "The form could not be read",
            self.0,
        )
        .into_response()
    }
}

/// A form post's body as a strict form.
fn read_page_form(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Form, BadForm> {
    let malformed = BadForm;
    let body = body.map_err(|_| malformed("The form could not be read; try again."))?;
    if !crate::form::is_form_content_type(headers) {
        return Err(malformed("The form was not sent as a form."));
    }
    Form::parse(&body).map_err(|error| match error {
        FormError::Repeated | FormError::NotUtf8 | FormError::TooMany => {
            malformed("The form is malformed.")
        }
    })
}

/// A form posted from one of the issuer's own pages in this browser: read strictly and checked
/// against its CSRF token before any handler sees it; anything else is answered with the page
/// that says why.
pub(super) struct PagePost(pub Form);

impl<S: Send + Sync> FromRequest<S> for PagePost {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, state).await;
        let form = read_page_form(&headers, body).map_err(IntoResponse::into_response)?;
        if !cookies::same_browser_post(&headers, &form) {
            return Err(expired_form());
        }
        Ok(Self(form))
    }
}

/// A form post that is not from this browser's own page (CSRF), or whose token expired.
fn expired_form() -> Response {
    Page::message(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "Go back, reload the page and try again.",
    )
    .into_response()
}

/// A dependency failed: a page that says to retry, with the cause in the log.
fn unavailable_page(error: &GrantError) -> Response {
    tracing::error!(error = %Chain(error), "a login page failed on a dependency");
    let mut response = Page::message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Sign-in is temporarily unavailable",
        "Try again in a moment.",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, http::HeaderValue::from_static("1"));
    response
}
