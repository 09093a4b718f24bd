//! The authorization request (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1), judged in two
//! stages. Until the client and its redirect URI are known good, nothing may be sent to the
//! redirect URI (that would make the issuer an open redirector), so those failures are
//! [`Untrusted`]; every later failure goes back to the client as an RFC 6749 error.

use super::pkce::CodeChallenge;
use crate::directory::{ClientRecord, GrantType};
use crate::scope::ScopeSet;

/// Longest `state`, `nonce` or `login_hint` accepted: they are echoed into redirects and stored
/// with codes, so their size is the attacker's to choose otherwise.
pub const MAX_PARAMETER_LEN: usize = 512;

/// The raw parameters of an authorization request, from the query or a form.
#[derive(Clone, Debug, Default)]
pub struct AuthorizationParams {
    /// `response_type`.
    pub response_type: Option<String>,
    /// `client_id`.
    pub client_id: Option<String>,
    /// `redirect_uri`.
    pub redirect_uri: Option<String>,
    /// `scope`.
    pub scope: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// `code_challenge`.
    pub code_challenge: Option<String>,
    /// `code_challenge_method`.
    pub code_challenge_method: Option<String>,
    /// `prompt`.
    pub prompt: Option<String>,
    /// `max_age`.
    pub max_age: Option<String>,
    /// `login_hint`.
    pub login_hint: Option<String>,
    /// `response_mode`.
    pub response_mode: Option<String>,
    /// `request` (a request object, not supported).
    pub request: Option<String>,
    /// `request_uri` (not supported).
    pub request_uri: Option<String>,
    /// `dpop_jkt` (RFC 9449 §10): the thumbprint of the DPoP key the code must be redeemed with.
    pub dpop_jkt: Option<String>,
}

impl AuthorizationParams {
    /// The parameters `get` finds by name.
    pub fn from_lookup<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Self {
        let take = |name: &str| get(name).map(str::to_owned);
        Self {
            response_type: take("response_type"),
            client_id: take("client_id"),
            redirect_uri: take("redirect_uri"),
            scope: take("scope"),
            state: take("state"),
            nonce: take("nonce"),
            code_challenge: take("code_challenge"),
            code_challenge_method: take("code_challenge_method"),
            prompt: take("prompt"),
            max_age: take("max_age"),
            login_hint: take("login_hint"),
            response_mode: take("response_mode"),
            request: take("request"),
            request_uri: take("request_uri"),
            dpop_jkt: take("dpop_jkt"),
        }
    }

    /// The parameters as name-value pairs, for carrying the request through a login form or a
    /// redirect.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        let all = [
            ("response_type", &self.response_type),
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &self.scope),
            ("state", &self.state),
            ("nonce", &self.nonce),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
            ("prompt", &self.prompt),
            ("max_age", &self.max_age),
            ("login_hint", &self.login_hint),
            ("response_mode", &self.response_mode),
            ("request", &self.request),
            ("request_uri", &self.request_uri),
            ("dpop_jkt", &self.dpop_jkt),
        ];
        all.into_iter()
            .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
            .collect()
    }
}

/// Why a request cannot even be answered at its redirect URI: shown as an error page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Untrusted {
    /// No `client_id`, or no such client.
    #[error("the application is unknown")]
    UnknownClient,
    /// No `redirect_uri`, or one the client did not register.
    #[error("the redirect address is not registered for this application")]
    RedirectUri,
}

/// An RFC 6749 §4.1.2.1 / OIDC §3.1.2.6 error, sent to the validated redirect URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedirectError {
    /// The `error` code.
    pub code: &'static str,
    /// The `error_description`.
    pub description: &'static str,
}

impl RedirectError {
    /// An error with this code and description.
    pub const fn new(code: &'static str, description: &'static str) -> Self {
        Self { code, description }
    }
}

/// `prompt` (OIDC Core §3.1.2.1): a space-separated set of what the user must (not) be shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prompt {
    /// `none`: never show a page; answer `login_required` or `consent_required` instead.
    pub none: bool,
    /// `login` (or `select_account`, there being one account per browser): ask for the
    /// password even with a live session.
    pub login: bool,
    /// `consent`: ask for consent even when it was given before (first-party clients never ask).
    pub consent: bool,
}

impl Prompt {
    /// Parses the parameter; `none` combined with anything else is an error (§3.1.2.1).
    pub fn parse(value: Option<&str>) -> Result<Self, RedirectError> {
        let mut prompt = Self::default();
        for word in value.unwrap_or("").split(' ').filter(|w| !w.is_empty()) {
            match word {
                "none" => prompt.none = true,
                "login" | "select_account" => prompt.login = true,
                "consent" => prompt.consent = true,
                _ => {
                    return Err(RedirectError::new(
                        "invalid_request",
                        "prompt must be none, login, consent or select_account",
                    ))
                }
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return Err(RedirectError::new(
                "invalid_request",
                "prompt=none cannot be combined with other values",
            ));
        }
        Ok(prompt)
    }
}

/// A request whose every parameter has been checked against its client.
#[derive(Clone, Debug)]
pub struct AuthorizationRequest {
    /// The client, as the directory has it now.
    pub client: ClientRecord,
    /// The redirect URI exactly as sent (one the client registered).
    pub redirect_uri: String,
    /// The scopes asked for (within the client's).
    pub scope: ScopeSet,
    /// Echoed back with the answer.
    pub state: Option<String>,
    /// Put into the id_token.
    pub nonce: Option<String>,
    /// The PKCE challenge the token request must meet.
    pub challenge: CodeChallenge,
    /// What the user must be shown.
    pub prompt: Prompt,
    /// Longest acceptable time since the user last entered a password, in seconds.
    pub max_age: Option<u64>,
    /// A username to pre-fill.
    pub login_hint: Option<String>,
    /// The DPoP key the code is bound to, if the client named one.
    pub dpop_jkt: Option<String>,
}

/// Whether `presented` is one of `registered`: exact string comparison (RFC 9700 §4.1.3), except
/// that a loopback IP literal's port is ignored on both sides (RFC 8252 §7.3), because native
/// apps listen on whatever port the system gives them.
pub fn redirect_uri_registered(registered: &[String], presented: &str) -> bool {
    let loose = without_loopback_port(presented);
    registered.iter().any(|candidate| {
        candidate == presented
            || loose
                .as_deref()
                .is_some_and(|l| without_loopback_port(candidate).as_deref() == Some(l))
    })
}

/// `http://127.0.0.1:PORT/rest` or `http://[::1]:PORT/rest` without `:PORT`; `None` for every
/// other URI (including `http://127.0.0.1:80@evil.example/`, whose "port" is no number).
fn without_loopback_port(uri: &str) -> Option<String> {
    ["http://127.0.0.1", "http://[::1]"]
        .iter()
        .find_map(|host| {
            let rest = uri.strip_prefix(host)?;
            let after_port = match rest.strip_prefix(':') {
                Some(port_and_rest) => {
                    let end = port_and_rest
                        .find(['/', '?'])
                        .unwrap_or(port_and_rest.len());
                    let port = &port_and_rest[..end];
                    if port.is_empty()
                        || port.len() > 5
                        || !port.bytes().all(|b| b.is_ascii_digit())
                    {
                        return None;
                    }
                    &port_and_rest[end..]
                }
                None => rest,
            };
            (after_port.is_empty() || after_port.starts_with(['/', '?']))
                .then(|| format!("{host}{after_port}"))
        })
}

/// The first stage: the client and the redirect URI. `client` is the directory's answer for
/// `params.client_id`.
pub fn check_redirect(
    params: &AuthorizationParams,
    client: Option<ClientRecord>,
) -> Result<(ClientRecord, String), Untrusted> {
    let client = client.ok_or(Untrusted::UnknownClient)?;
    let redirect_uri = params
        .redirect_uri
        .as_deref()
        .ok_or(Untrusted::RedirectUri)?;
    if !redirect_uri_registered(&client.redirect_uris, redirect_uri) {
        return Err(Untrusted::RedirectUri);
    }
    Ok((client, redirect_uri.to_owned()))
}

/// The second stage: everything else, answered at the redirect URI.
pub fn check_request(
    params: &AuthorizationParams,
    client: ClientRecord,
    redirect_uri: String,
) -> Result<AuthorizationRequest, RedirectError> {
    let invalid = |description| RedirectError::new("invalid_request", description);
    if params.request.is_some() {
        return Err(RedirectError::new(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if params.request_uri.is_some() {
        return Err(RedirectError::new(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    match params.response_type.as_deref() {
        Some("code") => {}
        None => return Err(invalid("response_type is required")),
        Some(_) => {
            return Err(RedirectError::new(
                "unsupported_response_type",
                "only response_type=code is supported",
            ))
        }
    }
    if params
        .response_mode
        .as_deref()
        .is_some_and(|m| m != "query")
    {
        return Err(invalid("only response_mode=query is supported"));
    }
    if !client.grants.contains(&GrantType::AuthorizationCode) {
        return Err(RedirectError::new(
            "unauthorized_client",
            "this client may not use the authorization code flow",
        ));
    }
    let too_long = [&params.state, &params.nonce, &params.login_hint]
        .iter()
        .any(|v| v.as_ref().is_some_and(|v| v.len() > MAX_PARAMETER_LEN));
    if too_long {
        return Err(invalid(
            "state, nonce and login_hint are limited to 512 bytes",
        ));
    }
    let challenge = CodeChallenge::parse(
        params.code_challenge.as_deref(),
        params.code_challenge_method.as_deref(),
    )
    .map_err(|e| invalid(e.message()))?;
    let scope = match params.scope.as_deref() {
        Some(scope) => ScopeSet::parse(scope)
            .map_err(|_| RedirectError::new("invalid_scope", "the scope is malformed"))?,
        None => client.scopes.clone(),
    };
    if !scope.is_subset(&client.scopes) {
        return Err(RedirectError::new(
            "invalid_scope",
            "the requested scope exceeds what this client may ask for",
        ));
    }
    // A SHA-256 thumbprint is 43 base64url characters (RFC 7638, RFC 9449 §10).
    let thumbprint = |jkt: &&String| {
        jkt.len() == 43
            && jkt
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if params
        .dpop_jkt
        .as_ref()
        .is_some_and(|jkt| !thumbprint(&jkt))
    {
        return Err(invalid(
            "dpop_jkt must be a base64url SHA-256 JWK thumbprint",
        ));
    }
    let prompt = Prompt::parse(params.prompt.as_deref())?;
    let max_age = params
        .max_age
        .as_deref()
        .map(str::parse::<u64>)
        .transpose()
        .map_err(|_| invalid("max_age must be a number of seconds"))?;
    Ok(AuthorizationRequest {
        client,
        redirect_uri,
        scope,
        state: params.state.clone(),
        nonce: params.nonce.clone(),
        challenge,
        prompt,
        max_age,
        login_hint: params.login_hint.clone(),
        dpop_jkt: params.dpop_jkt.clone(),
    })
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
