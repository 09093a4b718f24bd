//! The device grant through its ports: pending, slow down, approval, denial and expiry, each
//! answered exactly as RFC 8628 §3.5 says.

use super::*;
use crate::login::device::DeviceDecision;

impl Issuer {
    async fn device(&self) -> crate::login::device::DeviceStart {
        self.service
            .device_authorization(&auth("web", None), Some(&scopes("openid items:read")))
            .await
            .unwrap()
    }

    async fn poll(&self, device_code: &str) -> Result<IssuedTokens, GrantError> {
        self.service
            .device_code_grant(&auth("web", None), device_code)
            .await
    }

    async fn decide(&self, user_code: &str, decision: DeviceDecision) {
        let pending = self
            .records
            .pending_device(user_code)
            .await
            .unwrap()
            .expect("a pending device");
        assert!(self
            .records
            .decide_device(&pending, user_code, &decision)
            .await
            .unwrap());
    }
}

impl Issuer {
    async fn alice_approves(&self) -> (DeviceDecision, String) {
        let session = self.session().await;
        let decision = DeviceDecision::Approved {
            subject: session.subject.clone(),
            sid: session.sid.clone(),
            auth_time: session.auth_time,
        };
        (decision, session.sid)
    }
}

#[tokio::test]
async fn a_device_waits_slows_down_and_gets_its_tokens_once() {
    let issuer = issuer();
    let device = issuer.device().await;
    assert_eq!((device.expires_in, device.interval), (600, 5));
    assert!(matches!(
        issuer.poll(&device.device_code).await,
        Err(GrantError::AuthorizationPending)
    ));
    assert!(matches!(
        issuer.poll(&device.device_code).await,
        Err(GrantError::SlowDown)
    ));
    issuer.clock.advance(Duration::from_secs(9));
    assert!(
        matches!(
            issuer.poll(&device.device_code).await,
            Err(GrantError::SlowDown)
        ),
        "the interval grew to 10 s"
    );
    let (approval, _) = issuer.alice_approves().await;
    issuer.decide(&device.user_code, approval).await;
    issuer.clock.advance(Duration::from_secs(15));
    let issued = issuer.poll(&device.device_code).await.unwrap();
    assert_eq!(issued.subject.as_str(), "alice");
    assert!(issued.id_token.is_some() && issued.refresh_token.is_some());
    issuer.clock.advance(Duration::from_secs(15));
    assert!(matches!(
        issuer.poll(&device.device_code).await,
        Err(GrantError::InvalidGrant)
    ));
    assert!(
        issuer
            .records
            .pending_device(&device.user_code)
            .await
            .unwrap()
            .is_none(),
        "the user code is spent"
    );
}

#[tokio::test]
async fn a_denied_or_expired_device_hears_so() {
    let issuer = issuer();
    let denied = issuer.device().await;
    issuer
        .decide(&denied.user_code, DeviceDecision::Denied)
        .await;
    assert!(matches!(
        issuer.poll(&denied.device_code).await,
        Err(GrantError::AccessDenied)
    ));

    let late = issuer.device().await;
    issuer.clock.advance(Duration::from_secs(601));
    assert!(matches!(
        issuer.poll(&late.device_code).await,
        Err(GrantError::ExpiredToken)
    ));
    assert!(issuer
        .records
        .pending_device(&late.user_code)
        .await
        .unwrap()
        .is_none());

    let other = issuer
        .service
        .device_code_grant(&auth("app", None), &late.device_code)
        .await;
    assert!(
        matches!(other, Err(GrantError::UnauthorizedClient)),
        "{other:?}"
    );
}

#[tokio::test]
async fn an_approval_from_a_session_that_ended_gives_no_tokens() {
    let issuer = issuer();
    let device = issuer.device().await;
    let (approval, sid) = issuer.alice_approves().await;
    issuer.decide(&device.user_code, approval).await;
    issuer.records.end_session(&sid).await.unwrap();
    let poll = issuer.poll(&device.device_code).await;
    assert!(matches!(poll, Err(GrantError::InvalidGrant)), "{poll:?}");
}
