//! `/.well-known/*`: the JWKS and the discovery documents (RFC 8414, OpenID Connect Discovery).

use crate::IssuerState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use portcullis_domain::directory::GrantType;
use portcullis_domain::login::claims::SUPPORTED_CLAIMS;
use std::collections::BTreeSet;

/// What discovery advertises: only what this issuer's clients can really use.
pub struct Capabilities {
    /// The grants at least one client may use.
    pub grants: Vec<GrantType>,
    /// Every scope some client may ask for.
    pub scopes: BTreeSet<String>,
}

/// The discovery document (OpenID Connect Discovery 1.0, RFC 8414), built once at start-up.
pub fn discovery_document(
    issuer: &str,
    capabilities: &Capabilities,
    dpop_algorithms: &[&str],
) -> serde_json::Value {
    let grants: Vec<&str> = capabilities.grants.iter().map(GrantType::as_str).collect();
    let mut scopes = capabilities.scopes.clone();
    scopes.insert("openid".to_owned());
    let client_auth = ["client_secret_basic", "client_secret_post", "none"];
    let mut document = serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "end_session_endpoint": format!("{issuer}/oauth2/logout"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grants,
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": scopes,
        "claims_supported": SUPPORTED_CLAIMS,
        "subject_types_supported": ["public"],
        "token_endpoint_auth_methods_supported": client_auth,
        "revocation_endpoint_auth_methods_supported": client_auth,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": true,
        "dpop_signing_alg_values_supported": dpop_algorithms,
        "prompt_values_supported": ["none", "login"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    if capabilities.grants.contains(&GrantType::DeviceCode) {
        document["device_authorization_endpoint"] =
            format!("{issuer}/oauth2/device_authorization").into();
    }
    document
}

/// `GET /.well-known/openid-configuration`: OpenID discovery metadata.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "discovery",
    responses((status = 200, description = "Issuer metadata.", body = serde_json::Value,
        headers(("Cache-Control" = String)))))]
pub async fn discovery(State(state): State<IssuerState>) -> Response {
    // The algorithms follow the key directory, which changes while the issuer runs.
    let algorithms: Vec<&str> = state
        .ring
        .current()
        .algorithms()
        .into_iter()
        .map(|alg| alg.name())
        .collect();
    let mut document = state.discovery.as_ref().clone();
    document["id_token_signing_alg_values_supported"] = algorithms.into();
    let mut response = Json(document).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414): the same metadata as discovery.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "discovery",
    responses((status = 200, description = "Authorization server metadata.", body = serde_json::Value,
        headers(("Cache-Control" = String)))))]
pub async fn authorization_server_metadata(state: State<IssuerState>) -> Response {
    discovery(state).await
}

/// `GET /.well-known/jwks.json`: public keys only, cacheable, with an ETag so verifiers can
/// revalidate cheaply.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "discovery",
    params(("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier fetch")),
    responses(
        (status = 200, description = "The public keys (RFC 7517).", body = serde_json::Value, content_type = "application/jwk-set+json",
            headers(("ETag" = String), ("Cache-Control" = String, description = "public, max-age"))),
        (status = 304, description = "The key set is unchanged.", headers(("ETag" = String)))))]
pub async fn jwks(State(state): State<IssuerState>, headers: HeaderMap) -> Response {
    let keys = state.ring.current();
    let etag = HeaderValue::from_str(keys.jwks_etag()).unwrap_or(HeaderValue::from_static("\"\""));
    let cache_control = HeaderValue::from_str(&format!(
        "public, max-age={}",
        state.config.jwks_max_age.as_secs()
    ))
    .unwrap_or(HeaderValue::from_static("no-cache"));
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == keys.jwks_etag()));
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = keys.jwks_json().to_vec().into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/jwk-set+json"),
        );
        response
    };
    let response_headers = response.headers_mut();
    response_headers.insert(header::ETAG, etag);
    response_headers.insert(header::CACHE_CONTROL, cache_control);
    response
}
