//! Counts item-store queries (`portcullis_store_queries_total{op}`) around any store adapter,
//! so every adapter is measured the same way.

use async_trait::async_trait;
use portcullis_domain::identity::Subject;
use portcullis_domain::item::{Item, ItemData, ItemId, Version};
use portcullis_domain::store::{ItemStore, Listed, Precondition, Quota, StoreError};
use prometheus::IntCounterVec;
use std::sync::Arc;
use tracing::Instrument;

const GET: &str = "get";
const PUT: &str = "put";
const DELETE: &str = "delete";
const LIST: &str = "list";

/// An [`ItemStore`] decorator that counts each call by operation.
pub struct CountingStore {
    inner: Arc<dyn ItemStore>,
    queries: IntCounterVec,
}

impl CountingStore {
    /// The `op` label values, exported as 0 from start-up so rates and absence alerts work
    /// before the first query.
    pub const OPERATIONS: [&'static str; 4] = [GET, PUT, DELETE, LIST];

    /// Counts calls to `inner` in `queries`.
    pub fn new(inner: Arc<dyn ItemStore>, queries: IntCounterVec) -> Self {
        portcullis_http::metrics::Metrics::zero(&queries, Self::OPERATIONS);
        Self { inner, queries }
    }

    /// Counts one query and opens its span (a client span, as the query leaves the process).
    fn count(&self, op: &'static str) -> tracing::Span {
        self.queries.with_label_values(&[op]).inc();
        tracing::debug_span!("store", otel.kind = "client", db.operation.name = op)
    }
}

#[async_trait]
impl ItemStore for CountingStore {
    async fn get(&self, owner: &Subject, id: &ItemId) -> Result<Option<Item>, StoreError> {
        let span = self.count(GET);
        self.inner.get(owner, id).instrument(span).await
    }

    async fn put(
        &self,
        owner: &Subject,
        id: &ItemId,
        data: ItemData,
        precondition: Precondition,
        quota: Quota,
    ) -> Result<Item, StoreError> {
        let span = self.count(PUT);
        self.inner
            .put(owner, id, data, precondition, quota)
            .instrument(span)
            .await
    }

    async fn delete(
        &self,
        owner: &Subject,
        id: &ItemId,
        precondition: Precondition,
    ) -> Result<Option<Version>, StoreError> {
        let span = self.count(DELETE);
        self.inner
            .delete(owner, id, precondition)
            .instrument(span)
            .await
    }

    async fn list(
        &self,
        owner: &Subject,
        after: Option<&ItemId>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Listed, StoreError> {
        let span = self.count(LIST);
        self.inner
            .list(owner, after, limit, max_bytes)
            .instrument(span)
            .await
    }
}
