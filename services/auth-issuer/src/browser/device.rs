//! The device approval page (RFC 8628 §3.3): a signed-in user enters the code their device
//! shows, sees which client asks for what, and allows or denies it. Unknown codes are charged to
//! a guessing budget per user and per address, so the code space cannot be searched.

use super::cookies::csrf_token;
use super::login::{login_page, LoginView};
use super::pages::{ConsentPage, DevicePage, Page};
use super::{current_session, unavailable_page, PagePost};
use crate::audit::{AuditEvent, Origin};
use crate::form::Form;
use crate::limits::username_digest;
use crate::IssuerState;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use portcullis_domain::login::device::{
    normalize_user_code, shown_user_code, DeviceDecision, PendingDevice,
};
use portcullis_domain::login::session::BrowserSession;
use portcullis_domain::ratelimit::RateLimitKey;
use portcullis_http::client_ip::ClientIp;

const UNKNOWN_CODE: &str =
    "That code is not valid or has expired. Check your device and try again.";
const TOO_MANY_CODES: &str = "Too many codes were tried. Wait a while and try again.";

/// `GET /device[?user_code=...]` (`verification_uri` and `verification_uri_complete`).
///
/// A GET looks nothing up: it shows the entry form, with the code of
/// `verification_uri_complete` filled in, and the user continues with a (CSRF-checked) POST.
/// Lookups, and the guessing budget they are charged to, happen on POST only, so another site
/// cannot spend a user's budget by sending their browser to `/device?user_code=WRONG`.
pub(crate) async fn device_get(
    State(state): State<IssuerState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(query) = Form::parse(query.unwrap_or_default().as_bytes()) else {
        return Page::message(StatusCode::BAD_REQUEST, "Connect a device", UNKNOWN_CODE)
            .into_response();
    };
    let typed = query.get("user_code").and_then(normalize_user_code);
    if let Err(page) = signed_in(&state, &headers, typed.as_deref()).await {
        return page;
    }
    let shown = typed.as_deref().map(shown_user_code);
    entry_page(
        &headers,
        shown.as_deref().unwrap_or(""),
        None,
        StatusCode::OK,
    )
}

/// `POST /device`: a typed code (shown for approval), or the user's decision on one.
pub(crate) async fn device_post(
    State(state): State<IssuerState>,
    ip: ClientIp,
    headers: HeaderMap,
    PagePost(form): PagePost,
) -> Response {
    let typed = form.get("user_code").unwrap_or("");
    let session = match signed_in(&state, &headers, Some(typed)).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    let origin = Origin::from(ip);
    let decision = match form.get("decision") {
        None => return approval_or_retry(&state, &headers, &origin, &session, typed).await,
        Some("allow") => DeviceDecision::Approved {
            subject: session.subject.clone(),
            sid: session.sid.clone(),
            auth_time: session.auth_time,
        },
        Some("deny") => DeviceDecision::Denied,
        Some(_) => return entry_page(&headers, "", Some(UNKNOWN_CODE), StatusCode::BAD_REQUEST),
    };
    let pending = match find(&state, &origin, &session, typed).await {
        Ok(pending) => pending,
        Err(miss) => return miss.page(&headers),
    };
    let records = state.login.records();
    let decided = match records.decide_device(&pending, typed, &decision).await {
        Ok(decided) => decided,
        Err(error) => return unavailable_page(&error.into()),
    };
    let (event, heading, message) = match (&decision, decided) {
        (_, false) => return entry_page(&headers, "", Some(UNKNOWN_CODE), StatusCode::OK),
        (DeviceDecision::Denied, true) => (
            AuditEvent::DeviceDenied,
            "Request denied",
            "The device was not given access. You can close this page.",
        ),
        (DeviceDecision::Approved { .. }, true) => (
            AuditEvent::DeviceApproved,
            "Device connected",
            "Return to your device; it will continue on its own. You can close this page.",
        ),
    };
    state.audit(
        event,
        &origin,
        &pending.grant.client_id,
        Some(&session.subject),
    );
    Page::message(StatusCode::OK, heading, message).into_response()
}

/// The signed-in user, or the login page that comes back here.
async fn signed_in(
    state: &IssuerState,
    headers: &HeaderMap,
    typed: Option<&str>,
) -> Result<BrowserSession, Response> {
    if let Some(session) = current_session(state, headers).await? {
        return Ok(session);
    }
    let return_to = match typed.and_then(normalize_user_code) {
        Some(code) => format!("/device?user_code={code}"),
        None => "/device".to_owned(),
    };
    Err(login_page(
        headers,
        LoginView {
            client: None,
            username: "",
            return_to: &return_to,
            form_target: None,
            error: None,
            status: StatusCode::OK,
        },
    ))
}

async fn approval_or_retry(
    state: &IssuerState,
    headers: &HeaderMap,
    origin: &Origin,
    session: &BrowserSession,
    typed: &str,
) -> Response {
    let pending = match find(state, origin, session, typed).await {
        Ok(pending) => pending,
        Err(miss) => return miss.page(headers),
    };
    let (csrf, cookie) = csrf_token(headers);
    let page = ConsentPage {
        client: &pending.grant.client_id,
        user_code: Some(&pending.user_code),
        username: &session.subject,
        scopes: pending.grant.scope.iter().map(String::as_str).collect(),
        action: "/device",
        hidden: vec![("user_code", &pending.user_code)],
        csrf: &csrf,
    };
    Page::new(StatusCode::OK, &page)
        .with_cookie(cookie)
        .into_response()
}

/// Why no pending device was found.
enum Miss {
    Unknown,
    Throttled,
    Unavailable(Response),
}

impl Miss {
    /// The entry page again, saying why.
    fn page(self, headers: &HeaderMap) -> Response {
        match self {
            Self::Unknown => entry_page(headers, "", Some(UNKNOWN_CODE), StatusCode::OK),
            Self::Throttled => entry_page(
                headers,
                "",
                Some(TOO_MANY_CODES),
                StatusCode::TOO_MANY_REQUESTS,
            ),
            Self::Unavailable(page) => page,
        }
    }
}

/// The pending device a typed code names; a miss is charged to the guessing budget.
async fn find(
    state: &IssuerState,
    origin: &Origin,
    session: &BrowserSession,
    typed: &str,
) -> Result<PendingDevice, Miss> {
    let keys = [
        RateLimitKey::new("device-code-ip", &origin.limit_key),
        RateLimitKey::new("device-code-user", &username_digest(&session.subject)),
    ];
    let policy = &state.config.login.device_code_rate_limit;
    let counters = [(&keys[0], policy), (&keys[1], policy)];
    if state.failures_allowed(&counters).await.is_err() {
        return Err(Miss::Throttled);
    }
    match state.login.records().pending_device(typed).await {
        Ok(Some(pending)) => Ok(pending),
        Ok(None) => {
            state.failure_counted(&counters).await;
            state.audit(
                AuditEvent::DeviceCodeUnknown,
                origin,
                "device",
                Some(&session.subject),
            );
            Err(Miss::Unknown)
        }
        Err(error) => Err(Miss::Unavailable(unavailable_page(&error.into()))),
    }
}

fn entry_page(
    headers: &HeaderMap,
    user_code: &str,
    error: Option<&'static str>,
    status: StatusCode,
) -> Response {
    let (csrf, cookie) = csrf_token(headers);
    Page::new(
        status,
        &DevicePage {
            error,
            user_code,
            csrf: &csrf,
        },
    )
    .with_cookie(cookie)
    .into_response()
}
