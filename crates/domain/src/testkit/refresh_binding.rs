//! The refresh-token store contract's rule for DPoP-bound families (RFC 9449 §5).

use super::refresh_store::{grant, successor_of};
use super::unique;
use crate::identity::ClientId;
use crate::refresh::{
    new_refresh_token, RefreshGrant, RefreshTokenHash, RefreshTokenStore, Rotation,
};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A family bound to a DPoP key keeps the binding through inspection and every rotation; an
/// unbound one stays unbound.
pub(super) async fn dpop_binding(store: Arc<dyn RefreshTokenStore>) {
    let client = ClientId::new(unique("dpop-client")).expect("client");
    let now = SystemTime::now();
    let later = now + Duration::from_secs(600);
    for binding in [Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"), None] {
        let first_token = new_refresh_token();
        let first = RefreshTokenHash::of(&first_token);
        let grant = RefreshGrant {
            dpop_jkt: binding.map(str::to_owned),
            ..grant(&unique("dora"), &client, later)
        };
        store.issue(first, grant).await.expect("issue");
        let inspected = store.inspect(&first, &client, now).await.expect("inspect");
        assert_eq!(inspected.dpop_jkt.as_deref(), binding);
        let (next, _) = successor_of(&first_token, later);
        let second = next.hash;
        match store
            .rotate(&first, &client, next, now, Duration::ZERO)
            .await
        {
            Ok(Rotation::Rotated(rotated)) => assert_eq!(rotated.dpop_jkt.as_deref(), binding),
            other => panic!("rotation failed: {other:?}"),
        }
        let inspected = store.inspect(&second, &client, now).await.expect("inspect");
        assert_eq!(
            inspected.dpop_jkt.as_deref(),
            binding,
            "the successor stays bound"
        );
    }
}
