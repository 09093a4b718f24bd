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
#[derive(Clone)]
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
    /// An authorization code came back after redemption: what it produced was revoked.
    CodeReplayed,
    /// A password entered on the login page was right: a browser session started.
    LoginSucceeded,
    /// A password entered on the login page was wrong (or the user unknown).
    LoginFailed,
    /// A user allowed a client on the consent page.
    ConsentGranted,
    /// A user denied a client on the consent page.
    ConsentDenied,
    /// A user approved a device.
    DeviceApproved,
    /// A user denied a device.
    DeviceDenied,
    /// A user entered a device code that names no pending device (a guess, or a typo).
    DeviceCodeUnknown,
    /// A browser session ended at the user's or a client's request.
    Logout,
    /// The admin API added a user.
    AdminUserCreated { username: &'a str },
    /// The admin API changed a user; `change` names what (scopes, profile, disabled, enabled,
    /// password), never the new value of a password.
    AdminUserChanged {
        username: &'a str,
        change: &'static str,
    },
    /// The admin API deleted a user.
    AdminUserDeleted { username: &'a str },
    /// The admin API added a client.
    AdminClientCreated { client_id: &'a str },
    /// The admin API changed a client; `change` names what (scopes, secret), never a secret.
    AdminClientChanged {
        client_id: &'a str,
        change: &'static str,
    },
    /// The admin API deleted a client.
    AdminClientDeleted { client_id: &'a str },
    /// The admin API refused a token (invalid_token, insufficient_scope, grant_withdrawn).
    AdminRefused { reason: &'static str },
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
            Self::CodeReplayed => "code_replayed",
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::ConsentGranted => "consent_granted",
            Self::ConsentDenied => "consent_denied",
            Self::DeviceApproved => "device_approved",
            Self::DeviceDenied => "device_denied",
            Self::DeviceCodeUnknown => "device_code_unknown",
            Self::Logout => "logout",
            Self::AdminUserCreated { .. } => "admin_user_created",
            Self::AdminUserChanged { .. } => "admin_user_changed",
            Self::AdminUserDeleted { .. } => "admin_user_deleted",
            Self::AdminClientCreated { .. } => "admin_client_created",
            Self::AdminClientChanged { .. } => "admin_client_changed",
            Self::AdminClientDeleted { .. } => "admin_client_deleted",
            Self::AdminRefused { .. } => "admin_refused",
        }
    }

    fn reason(&self) -> Option<&str> {
        match self {
            Self::TokenIssued { grant_type } => Some(grant_type),
            Self::TokenDenied { reason } => Some(reason),
            Self::RefreshReuseDetected | Self::CodeReplayed => Some("family revoked"),
            Self::AdminUserChanged { change, .. } | Self::AdminClientChanged { change, .. } => {
                Some(change)
            }
            Self::AdminRefused { reason } => Some(reason),
            _ => None,
        }
    }

    /// The user or client an admin change was made to.
    fn target(&self) -> Option<&str> {
        match self {
            Self::AdminUserCreated { username }
            | Self::AdminUserChanged { username, .. }
            | Self::AdminUserDeleted { username } => Some(username),
            Self::AdminClientCreated { client_id }
            | Self::AdminClientChanged { client_id, .. }
            | Self::AdminClientDeleted { client_id } => Some(client_id),
            _ => None,
        }
    }

    /// The event a refused grant is audited as, if any: reuse is an event of its own, and a
    /// dependency's failure is no verdict on the credentials.
    pub(crate) fn of_refusal(error: &GrantError) -> Option<Self> {
        let reason = match error {
            GrantError::RefreshReused { .. } => return Some(Self::RefreshReuseDetected),
            GrantError::CodeReplayed { .. } => return Some(Self::CodeReplayed),
            GrantError::AccessDenied => "access_denied",
            GrantError::ExpiredToken => "expired_token",
            // A device polling is no verdict on anything.
            GrantError::AuthorizationPending | GrantError::SlowDown => return None,
            GrantError::InvalidGrant => "invalid_grant",
            GrantError::InvalidClient => "invalid_client",
            GrantError::InvalidScope => "invalid_scope",
            GrantError::UnauthorizedClient => "unauthorized_client",
            GrantError::InvalidDpopProof(_) => "invalid_dpop_proof",
            GrantError::InvalidRequest(_) | GrantError::Unavailable(_) => return None,
        };
        Some(Self::TokenDenied { reason })
    }
}

impl IssuerState {
    /// Logs and counts `event` for `client_id` (and the user it concerns, if any), called from
    /// `origin`. For an admin change, `client_id` and `username` say who made it and the event
    /// names the `target`.
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
        let target = event.target().map(clip);
        tracing::info!(
            target: "portcullis::audit",
            event = name,
            client_ip = %origin.ip,
            client_id,
            username,
            target,
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
