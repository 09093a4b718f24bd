//! Audit events of the issuer: what happened to whose credentials, logged on the target
//! `portcullis::audit` (so they can be routed apart) and counted in
//! `portcullis_audit_events_total{event}`. Typed, so every event is named once and carries
//! exactly the detail it needs.

use crate::IssuerState;
use portcullis_domain::identity::MAX_IDENTIFIER_LEN;
use portcullis_domain::usecase::tokens::GrantError;
use portcullis_http::client_ip::ClientIp;

/// Who is calling: the address for the audit log, the key for limits (see
/// [`ClientIp::limit_key`]).
pub(crate) struct Origin {
    ip: String,
    pub(crate) limit_key: String,
}

impl From<ClientIp> for Origin {
    fn from(ip: ClientIp) -> Self {
        Self {
            ip: ip.0.to_string(),
            limit_key: ip.limit_key(),
        }
    }
}

/// What happened.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AuditEvent<'a> {
    /// Tokens were issued under a grant type.
    TokenIssued { grant_type: &'a str },
    /// A token request was refused, for an RFC 6749 error code.
    TokenDenied { reason: &'static str },
    /// A login was refused before its password was checked: too many failures.
    LoginThrottled,
    /// A rotated refresh token came back: its family was revoked.
    RefreshReuseDetected,
    /// A client revoked a refresh token's family.
    TokenRevoked,
}

impl AuditEvent<'_> {
    /// The `event` label and log field.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::TokenIssued { .. } => "token_issued",
            Self::TokenDenied { .. } => "token_denied",
            Self::LoginThrottled => "login_throttled",
            Self::RefreshReuseDetected => "refresh_reuse_detected",
            Self::TokenRevoked => "token_revoked",
        }
    }

    fn reason(&self) -> Option<&str> {
        match self {
            Self::TokenIssued { grant_type } => Some(grant_type),
            Self::TokenDenied { reason } => Some(reason),
            Self::RefreshReuseDetected => Some("family revoked"),
            Self::LoginThrottled | Self::TokenRevoked => None,
        }
    }

    /// The event a refused grant is audited as, if any: reuse is an event of its own, and a
    /// dependency's failure is no verdict on the credentials.
    pub(crate) fn of_refusal(error: &GrantError) -> Option<Self> {
        let reason = match error {
            GrantError::RefreshReused { .. } => return Some(Self::RefreshReuseDetected),
            GrantError::InvalidGrant => "invalid_grant",
            GrantError::InvalidClient => "invalid_client",
            GrantError::InvalidScope => "invalid_scope",
            GrantError::UnauthorizedClient => "unauthorized_client",
            GrantError::InvalidRequest(_) | GrantError::Unavailable(_) => return None,
        };
        Some(Self::TokenDenied { reason })
    }
}

impl IssuerState {
    /// Logs and counts `event` for `client_id` (and the user it concerns, if any), called from
    /// `origin`.
    pub(crate) fn audit(
        &self,
        event: AuditEvent<'_>,
        origin: &Origin,
        client_id: &str,
        username: Option<&str>,
    ) {
        let name = event.name();
        self.metrics.audit_events.with_label_values(&[name]).inc();
        // Names come from the request: an attacker's 16 KiB name is not written out whole.
        let (client_id, username) = (clip(client_id), username.map(clip));
        tracing::info!(
            target: "portcullis::audit",
            event = name,
            client_ip = %origin.ip,
            client_id,
            username,
            reason = event.reason(),
            "audit"
        );
    }
}

/// At most [`MAX_IDENTIFIER_LEN`] bytes of `value`, cut at a character boundary.
fn clip(value: &str) -> &str {
    let mut end = value.len().min(MAX_IDENTIFIER_LEN);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}
