//! The authorization endpoint's decisions, independent of HTTP: which client and redirect URI
//! are trusted, whether the user must log in or consent, and the code that ends the flow.

use super::grant_error::unavailable;
use super::grant_error::GrantError;
use crate::clock::{unix_seconds, Clock};
use crate::directory::UserDirectory;
use crate::identity::ClientId;
use crate::login::claims::user_scope;
use crate::login::codes::CodeGrant;
use crate::login::request::{
    check_redirect, check_request, AuthorizationParams, AuthorizationRequest, RedirectError,
    Untrusted,
};
use crate::login::session::BrowserSession;
use crate::login::LoginRecords;
use crate::scope::ScopeSet;
use std::sync::Arc;

/// Why an authorization request failed, by where the answer may go.
#[derive(Debug)]
pub enum AuthorizeFailure {
    /// Client or redirect URI not trusted: an error page, never a redirect.
    Untrusted(Untrusted),
    /// Sent back to the (validated) redirect URI.
    Redirect {
        /// Where to.
        redirect_uri: String,
        /// The client's `state`, echoed.
        state: Option<String>,
        /// What went wrong.
        error: RedirectError,
    },
    /// A dependency failed.
    Unavailable(GrantError),
}

/// What the browser sees next.
#[derive(Debug)]
pub enum Step {
    /// The login form.
    Login,
    /// The consent page, for these scopes.
    Consent(ScopeSet),
    /// Back to the client with this code.
    Code(String),
}

/// The authorization endpoint's rules.
pub struct LoginService {
    directory: Arc<dyn UserDirectory>,
    records: Arc<LoginRecords>,
    clock: Arc<dyn Clock>,
}

impl LoginService {
    /// Wires the service.
    pub fn new(
        directory: Arc<dyn UserDirectory>,
        records: Arc<LoginRecords>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            directory,
            records,
            clock,
        }
    }

    /// The shared login records (sessions, devices).
    pub fn records(&self) -> &Arc<LoginRecords> {
        &self.records
    }

    /// The client with this id, if it exists (logout checks its post-logout redirect URIs).
    pub async fn client(
        &self,
        client_id: &str,
    ) -> Result<Option<crate::directory::ClientRecord>, GrantError> {
        let Ok(id) = ClientId::new(client_id) else {
            return Ok(None);
        };
        self.directory.client(&id).await.map_err(unavailable)
    }

    /// Checks an authorization request: first its client and redirect URI, then the rest.
    pub async fn check(
        &self,
        params: &AuthorizationParams,
    ) -> Result<AuthorizationRequest, AuthorizeFailure> {
        let client = match params.client_id.as_deref() {
            Some(id) => self
                .client(id)
                .await
                .map_err(AuthorizeFailure::Unavailable)?,
            None => None,
        };
        let (client, redirect_uri) =
            check_redirect(params, client).map_err(AuthorizeFailure::Untrusted)?;
        check_request(params, client, redirect_uri.clone()).map_err(|error| {
            AuthorizeFailure::Redirect {
                redirect_uri,
                state: params.state.clone(),
                error,
            }
        })
    }

    /// What a checked request needs next, given the browser's session (if any). With
    /// `prompt=none`, a page that would be needed is an error instead.
    pub async fn next_step(
        &self,
        request: &AuthorizationRequest,
        session: Option<&BrowserSession>,
    ) -> Result<Step, AuthorizeFailure> {
        let fail = |code, description| AuthorizeFailure::Redirect {
            redirect_uri: request.redirect_uri.clone(),
            state: request.state.clone(),
            error: RedirectError::new(code, description),
        };
        let now = unix_seconds(self.clock.now());
        let fresh_enough = |s: &&BrowserSession| {
            request
                .max_age
                .is_none_or(|max| now.saturating_sub(s.auth_time) <= max)
        };
        let session = session
            .filter(|_| !request.prompt.login)
            .filter(fresh_enough);
        let user = match session {
            // A session from before a password change (or a re-enable) no longer counts, nor one
            // from the same second (times are whole seconds).
            Some(session) => self.user(&session.subject).await?.filter(|user| {
                user.sessions_not_before == 0 || session.auth_time > user.sessions_not_before
            }),
            None => None,
        };
        let (Some(session), Some(user)) = (session, user) else {
            return match request.prompt.none {
                true => Err(fail("login_required", "the user is not logged in")),
                false => Ok(Step::Login),
            };
        };
        let scope = user_scope(&request.scope, &user.scopes);
        let consented = request.client.trusted
            || (!request.prompt.consent
                && self
                    .records
                    .consented(&session.subject, &request.client.client_id, &scope)
                    .await
                    .map_err(|e| AuthorizeFailure::Unavailable(e.into()))?);
        match (consented, request.prompt.none) {
            (true, _) => self.code(request, session, scope).await.map(Step::Code),
            (false, true) => Err(fail("consent_required", "the user has not consented")),
            (false, false) => Ok(Step::Consent(scope)),
        }
    }

    /// The user allowed the client `scope` on the consent page: remembered, and the code issued.
    pub async fn consent_given(
        &self,
        request: &AuthorizationRequest,
        session: &BrowserSession,
        scope: ScopeSet,
    ) -> Result<String, AuthorizeFailure> {
        self.records
            .remember_consent(&session.subject, &request.client.client_id, &scope)
            .await
            .map_err(|e| AuthorizeFailure::Unavailable(e.into()))?;
        self.code(request, session, scope).await
    }

    async fn code(
        &self,
        request: &AuthorizationRequest,
        session: &BrowserSession,
        scope: ScopeSet,
    ) -> Result<String, AuthorizeFailure> {
        let grant = CodeGrant {
            client_id: request.client.client_id.as_str().to_owned(),
            redirect_uri: request.redirect_uri.clone(),
            scope: scope.iter().map(|s| s.as_str().to_owned()).collect(),
            nonce: request.nonce.clone(),
            challenge: request.challenge.clone(),
            subject: session.subject.clone(),
            sid: session.sid.clone(),
            auth_time: session.auth_time,
            expires_at: 0,
            dpop_jkt: request.dpop_jkt.clone(),
        };
        self.records
            .issue_code(grant)
            .await
            .map_err(|e| AuthorizeFailure::Unavailable(e.into()))
    }

    async fn user(
        &self,
        subject: &str,
    ) -> Result<Option<crate::directory::UserRecord>, AuthorizeFailure> {
        self.directory
            .user_by_subject(subject)
            .await
            .map_err(|e| AuthorizeFailure::Unavailable(unavailable(e)))
    }
}
