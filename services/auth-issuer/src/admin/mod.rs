//! The admin API (`/admin/v1/`, `ISSUER_ADMIN_API`): users and clients of the identity store
//! changed by automation over HTTP, with the same rules as the admin CLI. Every request is
//! authorised by [`auth`], rate-limited per client, and every change audited naming who made it
//! and what it touched, never a password or secret. Answers are JSON that no cache keeps; errors
//! are RFC 9457 problems. Each change is one store transaction, so nothing is half-applied.

mod auth;
mod clients;
pub(crate) mod doc;
mod users;

use crate::audit::{AuditEvent, Origin};
use crate::routes::introspect::Introspector;
use crate::IssuerState;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use http::StatusCode;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use portcullis_domain::cause::Chain;
use portcullis_domain::directory_admin::{AdminError, DirectoryAdmin};
use portcullis_domain::ratelimit::RateLimitPolicy;
use portcullis_http::problem::Problem;
use serde::Deserialize;
use std::sync::Arc;

use auth::{Actor, AUDIENCE};

/// The largest admin request body: a client with many redirect URIs fits; nothing needs more.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Records in a page when the caller names no `limit`.
const DEFAULT_PAGE: u32 = 100;
/// The most records in one page.
const MAX_PAGE: u32 = 500;

/// What the admin handlers share.
#[derive(Clone)]
pub(crate) struct AdminState {
    /// The issuer's state: limiter, audit, token service.
    issuer: IssuerState,
    /// The identity store the API changes.
    store: Arc<dyn DirectoryAdmin>,
    /// Verifies this issuer's tokens for the audience [`AUDIENCE`] only.
    verifier: Arc<Introspector>,
    /// Requests allowed per client.
    rate_limit: Arc<RateLimitPolicy>,
}

/// The admin routes, authorised and limited, on `store`.
pub(crate) fn router(
    issuer: IssuerState,
    store: Arc<dyn DirectoryAdmin>,
    rate_limit: RateLimitPolicy,
) -> Result<Router, portcullis_jwt::FetchError> {
    let verifier = Introspector::new(
        issuer.ring.clone(),
        issuer.config.issuer_url(),
        vec![AUDIENCE.to_owned()],
    )?;
    let state = AdminState {
        issuer,
        store,
        verifier: Arc::new(verifier),
        rate_limit: Arc::new(rate_limit),
    };
    Ok(Router::new()
        .route(
            "/admin/v1/users",
            get(users::list_users).post(users::create_user),
        )
        .route(
            "/admin/v1/users/{name}",
            get(users::get_user)
                .patch(users::update_user)
                .delete(users::delete_user),
        )
        .route("/admin/v1/users/{name}/password", put(users::set_password))
        .route(
            "/admin/v1/clients",
            get(clients::list_clients).post(clients::create_client),
        )
        .route(
            "/admin/v1/clients/{id}",
            get(clients::get_client)
                .patch(clients::update_client)
                .delete(clients::delete_client),
        )
        .route(
            "/admin/v1/clients/{id}/secret",
            post(clients::rotate_secret),
        )
        .route_layer(from_fn_with_state(state.clone(), auth::require_admin))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state))
}

impl AdminState {
    /// Audits `event` as done by `actor` from `origin`.
    fn audit(&self, event: AuditEvent<'_>, actor: &Actor, origin: &Origin) {
        self.issuer
            .audit(event, origin, &actor.client_id, actor.user.as_deref());
    }
}

/// The problem for a store refusal: duplicate 409, unknown 404, a broken rule 422, the store
/// down 503 (its cause logged, never shown).
fn store_problem(error: AdminError) -> Problem {
    match error {
        AdminError::Duplicate(what) => {
            Problem::new(StatusCode::CONFLICT).detail(format!("{what} already exists"))
        }
        AdminError::NotFound(what) => Problem::not_found().detail(format!("no such {what}")),
        AdminError::Invalid(rule) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY).detail(rule),
        AdminError::Unavailable(_) => {
            tracing::error!(error = %Chain(&error), "identity store failed in the admin API");
            Problem::unavailable()
        }
    }
}

/// 422 for a value that breaks a rule (the rule says which and why).
fn invalid(detail: impl std::fmt::Display) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY).detail(detail.to_string())
}

/// The JSON body, or the problem with it: not JSON 400 (415 without a JSON media type), a body
/// over the limit 413, and JSON of the wrong shape (unknown fields, wrong types) 422.
fn json_body<T>(body: Result<axum::Json<T>, JsonRejection>) -> Result<T, Problem> {
    match body {
        Ok(axum::Json(value)) => Ok(value),
        Err(JsonRejection::JsonDataError(e)) => Err(invalid(e.body_text())),
        Err(JsonRejection::MissingJsonContentType(_)) => {
            Err(Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE)
                .detail("the body must be application/json"))
        }
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(Problem::new(StatusCode::PAYLOAD_TOO_LARGE)
                .detail(format!("the body is over {MAX_BODY_BYTES} bytes")))
        }
        Err(_) => Err(Problem::bad_request("the body is not valid JSON")),
    }
}

/// `?after=...&limit=...`: a page of records in name order.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Start after this name: the `next` of the previous page.
    after: Option<String>,
    /// At most this many records, 1 to 500 (default 100).
    limit: Option<u32>,
}

/// The page asked for, as `(after, limit)`, or 400.
fn page(
    query: Result<axum::extract::Query<PageQuery>, QueryRejection>,
) -> Result<(Option<String>, u32), Problem> {
    let axum::extract::Query(query) = query
        .map_err(|_| Problem::bad_request("the query takes only after and limit (1 to 500)"))?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Problem::bad_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    Ok((query.after, limit))
}

/// The records of one page and the cursor of the next: a page is fetched one record longer
/// than asked, so `next` is `None` exactly when nothing follows.
fn paged<T>(
    mut records: Vec<T>,
    limit: u32,
    name: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let more = records.len() > limit as usize;
    records.truncate(limit as usize);
    let next = more.then(|| records.last().map(&name)).flatten();
    (records, next)
}

/// The path of one record below `collection`, for `Location`.
fn location(collection: &str, name: &str) -> String {
    format!(
        "/admin/v1/{collection}/{}",
        utf8_percent_encode(name, NON_ALPHANUMERIC)
    )
}

/// A JSON answer no cache may keep (records, and secrets shown once).
fn answer(status: StatusCode, body: impl serde::Serialize) -> Response {
    let mut response = crate::routes::request::no_store_json(body);
    *response.status_mut() = status;
    response
}

/// `204 No Content`.
fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Computes an argon2id hash off the async runtime: it takes tens of milliseconds of a core.
async fn hash(
    secret: String,
    params: portcullis_directory::HashParams,
) -> Result<portcullis_domain::secret::Secret, Problem> {
    let hashed = tokio::task::spawn_blocking(move || {
        portcullis_directory::hash_password_with(&secret, params)
    })
    .await
    .map_err(|error| {
        tracing::error!(%error, "the password hashing task failed");
        Problem::unavailable()
    })?;
    hashed
        .map(portcullis_domain::secret::Secret::new)
        .map_err(|error| {
            tracing::error!(error = %Chain(&error), "password hashing failed");
            Problem::unavailable()
        })
}
