//! `POST /oauth2/introspect` (RFC 7662): resource servers (confidential clients named in a
//! token's `aud`) ask whether an access token is active. The issuer verifies its own tokens
//! exactly as a resource server would, against the keys it currently publishes, and then asks
//! whether the login session named by `sid` is still alive (not revoked, not expired).

use super::request::{client_auth, read_form, required};
use super::token::grant_error;
use crate::oauth_error::OAuthError;
use crate::IssuerState;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::HeaderMap;
use portcullis_domain::identity::ClientId;
use portcullis_domain::token::{TokenVerifier, VerifiedToken};
use portcullis_jwt::{JwkSet, JwksVerifier, KeyRing};
use std::sync::{Arc, Mutex};

/// Verifies the issuer's own tokens, following key-ring changes.
pub struct Introspector {
    ring: Arc<KeyRing>,
    verifier: JwksVerifier,
    etag: Mutex<String>,
}

impl Introspector {
    /// Verifies tokens of `issuer` for any of `audiences` against `ring`'s published keys.
    pub fn new(
        ring: Arc<KeyRing>,
        issuer: &str,
        audiences: Vec<String>,
    ) -> Result<Self, portcullis_jwt::FetchError> {
        let config = portcullis_jwt::VerifierConfig {
            audiences,
            token_cache_capacity: 10_000,
            ..portcullis_jwt::VerifierConfig::new(issuer, "")
        };
        Ok(Self {
            verifier: JwksVerifier::new(config)?,
            ring,
            etag: Mutex::new(String::new()),
        })
    }

    /// Keeps the verifier's keys equal to the ring's published ones.
    fn sync_keys(&self) {
        let keys = self.ring.current();
        let mut etag = self.etag.lock().unwrap_or_else(|e| e.into_inner());
        if *etag != keys.jwks_etag() {
            if let Ok(set) = serde_json::from_slice::<JwkSet>(&keys.jwks_json()) {
                self.verifier.set_keys(&set);
                *etag = keys.jwks_etag().to_string();
            }
        }
    }

    /// The verified claims of one of this issuer's live access tokens: signed by a published
    /// key, unexpired, and (if it names a login session) issued under a session still alive.
    /// `None` for every other token.
    pub(crate) async fn verify_live(
        &self,
        state: &IssuerState,
        token: &str,
    ) -> Result<Option<Arc<VerifiedToken>>, Response> {
        self.sync_keys();
        let Ok(verified) = self.verifier.verify(token).await else {
            return Ok(None);
        };
        if let Some(sid) = &verified.session_id {
            let alive = state
                .tokens
                .session_active(sid)
                .await
                .map_err(|e| grant_error(e, false).into_response())?;
            if !alive {
                return Ok(None);
            }
        }
        Ok(Some(verified))
    }

    /// The answer for `caller`: active only for a live token naming `caller` in its `aud`.
    async fn introspect(
        &self,
        state: &IssuerState,
        caller: &ClientId,
        token: &str,
    ) -> Result<serde_json::Value, Response> {
        let inactive = serde_json::json!({ "active": false });
        // RFC 7662 §2.2: nothing about an inactive token is disclosed, and only the resource
        // servers a token was meant for may learn about it (§4).
        let Some(verified) = self
            .verify_live(state, token)
            .await?
            .filter(|v| v.audience.iter().any(|a| a == caller.as_str()))
        else {
            return Ok(inactive);
        };
        let mut answer = serde_json::json!({
                "active": true,
                "token_type": "Bearer",
                "sub": verified.subject.as_str(),
                "client_id": verified.client_id.as_str(),
                "scope": verified.scope.to_string(),
                "exp": verified.expires_at,
                "jti": verified.token_id,
        });
        // RFC 9449 §6.2: a resource server relying on introspection must learn the binding.
        if let Some(jkt) = &verified.confirmation {
            answer["token_type"] = "DPoP".into();
            answer["cnf"] = serde_json::json!({ "jkt": jkt });
        }
        Ok(answer)
    }
}

/// `POST /oauth2/introspect`.
#[utoipa::path(post, path = "/oauth2/introspect", tag = "oauth2",
    request_body(content = crate::api_doc::TokenFormDoc, content_type = "application/x-www-form-urlencoded"),
    security(("client_basic" = [])),
    responses(
        (status = 200, description = "RFC 7662 answer.", body = crate::api_doc::IntrospectionDoc,
            headers(("Cache-Control" = String, description = "no-store"))),
        crate::api_doc::OAuthErrorResponses))]
pub async fn introspect(
    State(state): State<IssuerState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let form = read_form(&headers, body)?;
        let (client, used_basic) = client_auth(&headers, &form)?;
        let caller = state
            .tokens
            .authenticate_confidential(&client)
            .await
            .map_err(|e| grant_error(e, used_basic))?;
        let token = required(&form, "token", "token is required")?;
        Ok::<_, OAuthError>(state.introspector.introspect(&state, &caller, token).await)
    }
    .await;
    match result {
        Ok(Err(response)) => response,
        Ok(Ok(body)) => super::request::no_store_json(body),
        Err(error) => error.into_response(),
    }
}
