//! The issuer's limits: every OAuth request charged to its client address before its body is
//! read, and brute-force limits on password logins that an attacker cannot turn against the
//! user.
//!
//! Only *failed password checks* are charged, and only after the client authenticated (a
//! request with a made-up `client_id` never reaches the password check). Failures count
//! against two keys: the username from one client address, with a tight policy
//! (`ISSUER_LOGIN_RATE_LIMIT`), and the username from anywhere, with a much looser one
//! (`ISSUER_LOGIN_USER_RATE_LIMIT`) that only distributed guessing reaches. A successful login
//! clears both. Before the password is checked both are looked at without charging, so a
//! throttled request costs no argon2 work. Keys carry a fixed-size digest of the username,
//! never the name itself, so an attacker's choice of name does not size the limiter's state.

use crate::oauth_error::OAuthError;
use crate::IssuerState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use portcullis_domain::cause::Chain;
use portcullis_domain::ratelimit::{RateLimitDecision, RateLimitKey, RateLimitPolicy};
use portcullis_http::client_ip::ClientIp;
use sha2::{Digest, Sha256};

/// Hex characters of the username digest kept in limiter keys: 128 bits, collision-free for
/// any realistic user count while keeping every key the same short length.
const DIGEST_HEX_LEN: usize = 32;

/// A fixed-size stand-in for a username in limiter keys.
pub(crate) fn username_digest(username: &str) -> String {
    let digest = Sha256::digest(username.as_bytes());
    let mut hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(DIGEST_HEX_LEN);
    hex
}

/// The two counters one login attempt is judged by.
pub(crate) struct LoginKeys {
    per_address: RateLimitKey,
    per_user: RateLimitKey,
}

impl LoginKeys {
    /// The keys of `username` tried from the client address `limit_key`.
    pub(crate) fn new(username: &str, limit_key: &str) -> Self {
        let user = username_digest(username);
        Self {
            per_address: RateLimitKey::new("login-user-ip", &format!("{user}:{limit_key}")),
            per_user: RateLimitKey::new("login-user", &user),
        }
    }
}

impl IssuerState {
    fn login_policies<'a>(
        &'a self,
        keys: &'a LoginKeys,
    ) -> [(&'a RateLimitKey, &'a RateLimitPolicy); 2] {
        [
            (&keys.per_address, &self.config.login_rate_limit),
            (&keys.per_user, &self.config.login_user_rate_limit),
        ]
    }

    /// One decision (the limiter stands in for Redis in process, so it fails only when the
    /// in-process limiter does).
    async fn failure_decision(
        &self,
        key: &RateLimitKey,
        policy: &RateLimitPolicy,
        cost: u64,
    ) -> Result<RateLimitDecision, OAuthError> {
        self.limiter
            .check(key, policy, cost)
            .await
            .map_err(|error| {
                tracing::error!(error = %Chain(&error), "failure limiter failed");
                OAuthError::unavailable()
            })
    }

    /// Refuses (429) an attempt whose counters are full, charging nothing.
    pub(crate) async fn login_allowed(&self, keys: &LoginKeys) -> Result<(), OAuthError> {
        self.failures_allowed(&self.login_policies(keys)).await
    }

    /// Charges a failed password check to both counters.
    pub(crate) async fn login_failed(&self, keys: &LoginKeys) {
        self.failure_counted(&self.login_policies(keys)).await;
    }

    /// Refuses (429) an attempt when any of `counters` (which only failures are charged to:
    /// wrong passwords, unknown device codes) is full, charging nothing; a failing limiter
    /// refuses too.
    pub(crate) async fn failures_allowed(
        &self,
        counters: &[(&RateLimitKey, &RateLimitPolicy)],
    ) -> Result<(), OAuthError> {
        for &(key, policy) in counters {
            if self.failure_decision(key, policy, 0).await?.has_room() {
                continue;
            }
            // A full window rejects a unit check without charging it, and says how long to wait.
            let decision = self.failure_decision(key, policy, 1).await?;
            let retry = decision
                .retry_after
                .map_or(1, |d| d.as_secs_f64().ceil() as u64);
            return Err(OAuthError::too_many_attempts(retry.max(1)));
        }
        Ok(())
    }

    /// Charges one failure to each of `counters`.
    pub(crate) async fn failure_counted(&self, counters: &[(&RateLimitKey, &RateLimitPolicy)]) {
        for &(key, policy) in counters {
            if let Err(error) = self.failure_decision(key, policy, 1).await {
                tracing::warn!(?error, "a failure could not be counted");
            }
        }
    }

    /// Clears both counters after a successful login (and the in-process stand-in's copies).
    pub(crate) async fn login_succeeded(&self, keys: &LoginKeys) {
        for (key, policy) in self.login_policies(keys) {
            if let Err(error) = self.limiter.reset(key, policy).await {
                tracing::warn!(error = %Chain(&error), "login counters could not be reset");
            }
        }
    }
}

impl IssuerState {
    /// Charges one attempt to `key`; the in-process limiter stands in if the shared one fails,
    /// so brute-force protection never switches off.
    async fn limit(&self, key: RateLimitKey, policy: &RateLimitPolicy) -> Result<(), OAuthError> {
        let decision = self.limiter.check(&key, policy, 1).await.map_err(|error| {
            tracing::error!(error = %Chain(&error), "token-endpoint limiter failed");
            OAuthError::unavailable()
        })?;
        if decision.allowed {
            return Ok(());
        }
        let retry = decision
            .retry_after
            .map_or(1, |d| d.as_secs_f64().ceil() as u64);
        Err(OAuthError::too_many_attempts(retry))
    }

    /// Charges one token-endpoint request (or login form post) to the client address.
    pub(crate) async fn limit_ip(&self, ip: &str) -> Result<(), OAuthError> {
        self.limit(
            RateLimitKey::new("token-ip", ip),
            &self.config.ip_rate_limit,
        )
        .await
    }
}

/// Charges every request of the OAuth endpoints to its client address before anything else
/// happens, the body included: a client that sends a head and then trickles (or withholds) its
/// body has already paid for the request.
pub(crate) async fn limit_ip_first(
    State(state): State<IssuerState>,
    ip: ClientIp,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match state.limit_ip(&ip.limit_key()).await {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fixed_size_whatever_the_name() {
        let short = LoginKeys::new("al", "192.0.2.1");
        let long = LoginKeys::new(&"x".repeat(15_000), "192.0.2.1");
        assert_eq!(short.per_user.as_str().len(), long.per_user.as_str().len());
        assert_eq!(
            short.per_address.as_str().len(),
            long.per_address.as_str().len()
        );
        assert_ne!(short.per_user, long.per_user);
        assert_ne!(
            LoginKeys::new("al", "192.0.2.1").per_address,
            LoginKeys::new("al", "192.0.2.2").per_address
        );
    }
}
