//! Limits on what one client may hold of a service: its request bodies must arrive within the
//! body-read timeout, and one client address may have only so many requests in flight. Without
//! them a few hundred connections that send a head and a `Content-Length` and then nothing hold
//! every request slot for the whole request timeout.

use crate::client_ip::ClientIp;
use crate::problem::Problem;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::StatusCode;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tower::util::MapRequestLayer;

/// The body did not arrive within the body-read timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyReadTimeout(pub Duration);

/// A request body that fails once `deadline` passes before it has been read to the end.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                Poll::Ready(Some(Err(axum::Error::new(BodyReadTimeout(this.timeout)))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Layer: the request's body must be read whole within `timeout` of the request's start.
/// A handler reading it later gets an error (its extractor answers 400), so a slow body holds
/// a request slot for the body-read timeout, not for the whole request timeout. A plain request
/// map rather than a middleware, and nothing at all for bodies that are already complete
/// (reads): both showed in the read path's profile (#21).
pub fn body_read_deadline(
    timeout: Duration,
) -> MapRequestLayer<impl Fn(Request) -> Request + Clone + Send + Sync + 'static> {
    MapRequestLayer::new(move |request: Request| {
        if request.body().is_end_stream() {
            return request;
        }
        let (parts, body) = request.into_parts();
        let body = Body::new(DeadlineBody {
            inner: body,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            timeout,
        });
        Request::from_parts(parts, body)
    })
}

/// Requests in flight per client address (the [`ClientIp`] limit key: IPv4 address or IPv6
/// /64). Holds an entry only while a request from that address is in flight, so its size is
/// bounded by the open connections.
#[derive(Debug)]
pub struct PerClientInFlight {
    limit: usize,
    in_flight: Mutex<HashMap<String, usize>>,
}

impl PerClientInFlight {
    /// At most `limit` requests in flight per client address.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit: limit.max(1),
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    fn enter(self: &Arc<Self>, key: String) -> Option<Slot> {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let count = in_flight.entry(key.clone()).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Slot {
            owner: self.clone(),
            key,
        })
    }
}

/// One request's place in its address's count, given back when the request ends (or is
/// dropped: a client that disconnects frees its place).
struct Slot {
    owner: Arc<PerClientInFlight>,
    key: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut in_flight = self
            .owner
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = in_flight.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                in_flight.remove(&self.key);
            }
        }
    }
}

/// Middleware: refuses (429 problem, `Retry-After: 1`) a request whose client address already
/// has its share of requests in flight, before it takes one of the shared request slots.
pub async fn per_client_in_flight(
    State(limits): State<Arc<PerClientInFlight>>,
    ip: ClientIp,
    request: Request,
    next: Next,
) -> Response {
    let Some(_slot) = limits.enter(ip.limit_key()) else {
        return Problem::new(StatusCode::TOO_MANY_REQUESTS)
            .detail("too many requests from this address at once; retry shortly")
            .header(header::RETRY_AFTER, HeaderValue::from_static("1"))
            .into_response();
    };
    next.run(request).await
}
