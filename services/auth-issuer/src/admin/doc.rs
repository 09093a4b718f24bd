//! The admin API in the issuer's OpenAPI document (added only when the API is on): its routes,
//! the problems every admin route can answer, and the `admin_bearer` security scheme.

use portcullis_http::problem::Problem;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;

/// The problems every admin route may answer (RFC 9457 `application/problem+json`).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code, reason = "a schema for the document only")]
pub(crate) enum AdminErrors {
    /// The body is not JSON, or the query is malformed.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// No token (`WWW-Authenticate: Bearer realm=...`) or an invalid one
    /// (`error="invalid_token"`: not this issuer's, expired, not for `portcullis-admin`,
    /// DPoP-bound, or its client or user no longer granted `portcullis:admin`).
    #[response(status = 401, content_type = "application/problem+json",
        headers(("WWW-Authenticate" = String, description = "The RFC 6750 Bearer challenge")))]
    Unauthorized(Problem),
    /// The token lacks `portcullis:admin` (`error="insufficient_scope"`).
    #[response(status = 403, content_type = "application/problem+json",
        headers(("WWW-Authenticate" = String, description = "The RFC 6750 Bearer challenge")))]
    Forbidden(Problem),
    /// No such user or client.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The name or id is taken (users and clients share one namespace).
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(Problem),
    /// The body is over 64 KiB.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// The body is not `application/json`.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Problem),
    /// The change breaks a rule: password policy, scopes, unknown fields, wrong types.
    #[response(status = 422, content_type = "application/problem+json")]
    Unprocessable(Problem),
    /// Too many admin requests from this client.
    #[response(status = 429, content_type = "application/problem+json",
        headers(("Retry-After" = String, description = "Seconds to wait")))]
    TooManyRequests(Problem),
    /// The identity store is unavailable; nothing was changed.
    #[response(status = 503, content_type = "application/problem+json",
        headers(("Retry-After" = String, description = "Seconds to wait")))]
    Unavailable(Problem),
}

#[derive(OpenApi)]
#[openapi(
    paths(
        super::users::create_user,
        super::users::list_users,
        super::users::get_user,
        super::users::update_user,
        super::users::set_password,
        super::users::delete_user,
        super::clients::create_client,
        super::clients::list_clients,
        super::clients::get_client,
        super::clients::update_client,
        super::clients::rotate_secret,
        super::clients::delete_client
    ),
    components(schemas(
        super::users::NewUser,
        super::users::UserView,
        super::users::UserPage,
        super::users::UserPatch,
        super::users::NewPassword,
        super::clients::NewClient,
        super::clients::ClientView,
        super::clients::ClientPage,
        super::clients::ClientPatch,
        super::clients::ClientSecret
    )),
    tags((name = "admin", description = "Users and clients of the identity store (ISSUER_ADMIN_API)"))
)]
struct AdminDoc;

/// Adds the admin routes and their security scheme to `doc`.
pub(crate) fn add_to(doc: &mut utoipa::openapi::OpenApi) {
    doc.merge(AdminDoc::openapi());
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "admin_bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from this issuer whose aud contains portcullis-admin and whose scope contains portcullis:admin (client credentials of a confidential client with that audience).",
                    ))
                    .build(),
            ),
        );
}
