//! The issuer's OpenAPI 3.1 document, served at `/openapi.json`. Routes are described on their
//! handlers; the form shapes below exist only for the document, since the token endpoint reads
//! its form with a strict parser rather than serde.

use crate::oauth_error::OAuthError;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{OpenApi, ToSchema};

/// The grants the token endpoint accepts.
#[derive(ToSchema)]
#[schema(as = GrantType)]
#[allow(
    dead_code,
    non_camel_case_types,
    reason = "a schema for the document only"
)]
pub enum GrantTypeDoc {
    /// First-party login with a username and password.
    password,
    /// Exchange a refresh token for new tokens (the old one is retired).
    refresh_token,
    /// A confidential client acting for itself.
    client_credentials,
    /// An authorization code with its PKCE verifier.
    authorization_code,
    /// A device polling for its approval (RFC 8628).
    #[schema(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    device_code,
}

/// `POST /oauth2/token`, form-encoded (RFC 6749). Client credentials may come in the form or,
/// for confidential clients, in HTTP Basic authentication.
#[derive(ToSchema)]
#[schema(as = TokenRequest)]
#[allow(dead_code, reason = "a schema for the document only")]
pub struct TokenRequestDoc {
    grant_type: GrantTypeDoc,
    /// For `password`.
    #[schema(nullable = false)]
    username: Option<String>,
    /// For `password`.
    #[schema(nullable = false)]
    password: Option<String>,
    /// For `refresh_token`.
    #[schema(nullable = false)]
    refresh_token: Option<String>,
    /// For `authorization_code`.
    #[schema(nullable = false)]
    code: Option<String>,
    /// For `authorization_code`: the redirect URI of the authorization request.
    #[schema(nullable = false)]
    redirect_uri: Option<String>,
    /// For `authorization_code`: the PKCE verifier (required).
    #[schema(nullable = false)]
    code_verifier: Option<String>,
    /// For the device-code grant.
    #[schema(nullable = false)]
    device_code: Option<String>,
    /// Space-separated scopes; none = every scope the client and user may have.
    #[schema(nullable = false)]
    scope: Option<String>,
    #[schema(nullable = false)]
    client_id: Option<String>,
    #[schema(nullable = false)]
    client_secret: Option<String>,
}

/// `POST /oauth2/revoke` and `/oauth2/introspect`, form-encoded, client-authenticated.
#[derive(ToSchema)]
#[schema(as = TokenForm)]
#[allow(dead_code, reason = "a schema for the document only")]
pub struct TokenFormDoc {
    /// The token to revoke or inspect.
    #[schema(min_length = 1)]
    token: String,
    /// Ignored: the issuer finds out itself.
    #[schema(nullable = false)]
    token_type_hint: Option<String>,
    #[schema(nullable = false)]
    client_id: Option<String>,
    #[schema(nullable = false)]
    client_secret: Option<String>,
}

/// `POST /oauth2/device_authorization`, form-encoded (RFC 8628 §3.1).
#[derive(ToSchema)]
#[schema(as = DeviceAuthorizationRequest)]
#[allow(dead_code, reason = "a schema for the document only")]
pub struct DeviceAuthorizationDoc {
    /// Space-separated scopes; none = every scope the client may have.
    #[schema(nullable = false)]
    scope: Option<String>,
    #[schema(nullable = false)]
    client_id: Option<String>,
    #[schema(nullable = false)]
    client_secret: Option<String>,
}

/// OpenID Connect UserInfo: `sub` and what the token's scopes release.
#[derive(ToSchema)]
#[schema(as = UserInfo)]
#[allow(dead_code, reason = "a schema for the document only")]
pub struct UserInfoDoc {
    sub: String,
    /// With `profile`.
    #[schema(nullable = false)]
    preferred_username: Option<String>,
    /// With `profile`, when known.
    #[schema(nullable = false)]
    name: Option<String>,
    /// With `email`, when known.
    #[schema(nullable = false)]
    email: Option<String>,
    /// With `email`, when known.
    #[schema(nullable = false)]
    email_verified: Option<bool>,
}

/// RFC 7662 introspection answer; only `active` when the token is not an active access token.
#[derive(ToSchema)]
#[schema(as = Introspection)]
#[allow(dead_code, reason = "a schema for the document only")]
pub struct IntrospectionDoc {
    active: bool,
    sub: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
    exp: Option<u64>,
    jti: Option<String>,
    token_type: Option<String>,
}

/// The RFC 6749 §5.2 errors every OAuth endpoint may answer.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code, reason = "a schema for the document only")]
pub enum OAuthErrorResponses {
    /// invalid_request, invalid_grant, unauthorized_client, unsupported_grant_type or invalid_scope.
    #[response(status = 400)]
    BadRequest(OAuthError),
    /// invalid_client: client authentication failed.
    #[response(status = 401, headers(("WWW-Authenticate" = String, description = "Basic challenge when Basic authentication was tried")))]
    Unauthorized(OAuthError),
    /// The form is over 16 KiB.
    #[response(status = 413)]
    TooLarge(OAuthError),
    /// Too many attempts for this username or address.
    #[response(status = 429, headers(("Retry-After" = String, description = "Seconds to wait")))]
    TooManyRequests(OAuthError),
    /// A dependency (Redis) is unavailable; retry later.
    #[response(status = 503, headers(("Retry-After" = String, description = "Seconds to wait")))]
    Unavailable(OAuthError),
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Portcullis auth issuer",
        description = "OAuth 2.0 and OpenID Connect: token endpoint (authorization_code with PKCE, refresh_token, client_credentials, device code, opt-in password), device authorization, UserInfo, RFC 9068 RS256 access tokens, JWKS and discovery. The browser endpoints (/oauth2/authorize, /login, /oauth2/consent, /device, /oauth2/logout) answer HTML and are described in the README."
    ),
    paths(
        crate::routes::token::token,
        crate::routes::token::revoke,
        crate::routes::introspect::introspect,
        crate::routes::device::device_authorization,
        crate::routes::userinfo::userinfo_endpoint,
        crate::routes::wellknown::jwks,
        crate::routes::wellknown::discovery,
        crate::routes::wellknown::authorization_server_metadata
    ),
    components(schemas(
        GrantTypeDoc,
        TokenRequestDoc,
        TokenFormDoc,
        DeviceAuthorizationDoc,
        UserInfoDoc,
        IntrospectionDoc,
        crate::oauth_error::OAuthError
    )),
    tags((name = "oauth2", description = "Tokens"), (name = "discovery", description = "Keys and metadata"), (name = "operations", description = "Health and metrics"))
)]
struct IssuerDoc;

/// The complete document; the admin routes only when the admin API is on.
pub fn document(admin_api: bool) -> utoipa::openapi::OpenApi {
    let mut doc = IssuerDoc::openapi();
    if admin_api {
        crate::admin::doc::add_to(&mut doc);
    }
    let mut doc = portcullis_http::openapi::complete(doc);
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "client_basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("Confidential clients: client_id and secret, form-urlencoded, in HTTP Basic (RFC 6749 §2.3.1)."))
                    .build(),
            ),
        );
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from this issuer with the openid scope.",
                    ))
                    .build(),
            ),
        );
    doc
}
