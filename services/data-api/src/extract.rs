//! The items API's extractors. Each one's rejection is the RFC 9457 problem the API answers
//! with, so handlers receive values that are already valid instead of parsing them first.
//!
//! Handlers list the scope extractor before the id extractor: axum runs extractors in order, so
//! a caller without the scope gets its 403 before a malformed id is looked at (a 400).

use axum::extract::{FromRequestParts, Path};
use http::request::Parts;
use portcullis_domain::item::ItemId;
use portcullis_domain::scope::{ITEMS_READ, ITEMS_WRITE};
use portcullis_http::auth::Caller;
use portcullis_http::Problem;
use std::marker::PhantomData;

/// A scope an endpoint requires, as a type, so the requirement reads in the handler's signature.
pub trait RequiredScope {
    /// The scope's name.
    const SCOPE: &'static str;
}

/// `items:read`.
pub struct Read;

impl RequiredScope for Read {
    const SCOPE: &'static str = ITEMS_READ;
}

/// `items:write`.
pub struct Write;

impl RequiredScope for Write {
    const SCOPE: &'static str = ITEMS_WRITE;
}

/// The authenticated caller, whose token grants scope `S`; otherwise a 403 problem with
/// `WWW-Authenticate: Bearer error="insufficient_scope"` (or the 401 of a missing caller).
pub struct Scoped<S>(pub Caller, pub PhantomData<S>);

impl<S: RequiredScope, State: Send + Sync> FromRequestParts<State> for Scoped<S> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Problem> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require_scope(S::SCOPE)?;
        Ok(Self(caller, PhantomData))
    }
}

/// The `{id}` of `/v1/items/{id}`, valid (1–128 characters of `[A-Za-z0-9._~-]`); otherwise a
/// 400 problem naming the rule.
pub struct ItemPath(pub ItemId);

impl<State: Send + Sync> FromRequestParts<State> for ItemPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Problem> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| Problem::bad_request("the item id could not be read"))?;
        ItemId::new(id)
            .map(Self)
            .map_err(|e| Problem::bad_request(e.to_string()))
    }
}
