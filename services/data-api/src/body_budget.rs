//! One memory budget for the bodies a replica holds at once.
//!
//! A document is up to 1 MiB and a list page up to its byte budget plus one document, and each
//! is copied a few times on its way through (request bytes, the stored text, the response). A
//! few hundred concurrent requests at those sizes would exceed any pod's memory, so every
//! request that carries or returns documents reserves its share of this budget first, and holds
//! it until its body has been handed to the connection. When the budget stays exhausted for
//! [`RESERVE_WAIT`], the request gets a 503 problem instead of memory the pod does not have.

use axum::body::Body;
use bytes::Bytes;
use futures::stream;
use portcullis_http::Problem;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Longest a request waits for its share of the budget.
pub const RESERVE_WAIT: Duration = Duration::from_secs(2);

/// Copies of a written document held at once: the request bytes, the stored text, the bytes
/// bound into the store's query and the response.
pub const WRITE_COPIES: usize = 4;
/// Copies of a read document held at once: the stored text and the response.
pub const READ_COPIES: usize = 2;

/// The budget, in bytes. Cheap to clone.
#[derive(Clone, Debug)]
pub struct BodyBudget {
    permits: Arc<Semaphore>,
    total: u32,
    wait: Duration,
}

/// A reservation, released when dropped.
pub struct Reservation {
    permit: OwnedSemaphorePermit,
}

impl Reservation {
    /// Gives back what exceeds `bytes`, once a request knows its real size.
    pub fn shrink_to(&mut self, bytes: usize) {
        let keep = u32::try_from(bytes).unwrap_or(u32::MAX).max(1) as usize;
        let excess = self.permit.num_permits().saturating_sub(keep);
        drop(self.permit.split(excess));
    }
}

impl BodyBudget {
    /// A budget of `bytes` (at most 4 GiB); a reservation waits at most `wait` (the service
    /// uses [`RESERVE_WAIT`]).
    pub fn new(bytes: u64, wait: Duration) -> Self {
        let total = u32::try_from(bytes).unwrap_or(u32::MAX);
        Self {
            permits: Arc::new(Semaphore::new(total as usize)),
            total,
            wait,
        }
    }

    /// Reserves `bytes` (a request larger than the whole budget takes all of it), waiting at
    /// most the budget's wait.
    pub async fn reserve(&self, bytes: usize) -> Result<Reservation, Problem> {
        let wanted = u32::try_from(bytes)
            .unwrap_or(u32::MAX)
            .clamp(1, self.total.max(1));
        let acquire = self.permits.clone().acquire_many_owned(wanted);
        match tokio::time::timeout(self.wait, acquire).await {
            Ok(Ok(permit)) => Ok(Reservation { permit }),
            _ => {
                tracing::warn!(bytes, "body memory budget exhausted; refusing a request");
                Err(Problem::unavailable())
            }
        }
    }

    #[cfg(test)]
    fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

/// A response body that keeps its reservation until the connection has taken the bytes (the
/// server asks for the next frame only after the previous one is written out).
pub fn reserved_body(bytes: impl Into<Bytes>, reservation: Reservation) -> Body {
    let chunks = stream::unfold(
        (Some(bytes.into()), Some(reservation)),
        |(bytes, reservation)| async move {
            let chunk = bytes?;
            Some((Ok::<_, Infallible>(chunk), (None, reservation)))
        },
    );
    Body::from_stream(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_wait_then_refuse_and_bodies_release_theirs_when_consumed() {
        let budget = BodyBudget::new(10, Duration::from_millis(10));
        let held = budget.reserve(8).await.unwrap();
        assert_eq!(budget.available(), 2);
        let refused = budget.reserve(5).await.err().expect("over the budget");
        assert_eq!(refused.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        let body = reserved_body("payload", held);
        assert_eq!(budget.available(), 2, "held until the body is consumed");
        let bytes = axum::body::to_bytes(body, 100).await.unwrap();
        assert_eq!(bytes, "payload");
        assert_eq!(budget.available(), 10);
        let mut whole = budget.reserve(1 << 30).await.unwrap();
        assert_eq!(
            budget.available(),
            0,
            "an oversized request takes the whole budget"
        );
        whole.shrink_to(4);
        assert_eq!(budget.available(), 6, "the excess is given back");
        drop(whole);
    }
}
