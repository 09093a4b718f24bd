//! The data API's OpenAPI 3.1 document, served at `/openapi.json`. Routes are described on their
//! handlers; the shapes below describe bodies the handlers write directly (without serde, to
//! avoid re-serialising stored JSON), and the schemathesis run in CI checks the two agree.

use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// An item as `GET` and `PUT` return it.
#[derive(Serialize, ToSchema)]
#[schema(as = Item)]
pub struct ItemDoc {
    /// 1–128 characters of `[A-Za-z0-9._~-]`, unique per owner.
    #[schema(pattern = "^[A-Za-z0-9._~-]{1,128}$")]
    pub id: String,
    /// The stored JSON document, as written.
    pub data: serde_json::Value,
    /// Increases with every write; the `ETag` is this number in quotes.
    #[schema(minimum = 1)]
    pub version: u64,
}

/// One page of the caller's items, in id order.
#[derive(Serialize, ToSchema)]
#[schema(as = ItemPage)]
pub struct ItemPageDoc {
    /// The items of this page.
    pub items: Vec<ItemDoc>,
    /// The cursor for the next page, or null on the last page.
    pub next: Option<String>,
}

/// The body of `PUT /v1/items/{id}`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PutItem)]
pub struct PutItemDoc {
    /// Any JSON value, at most 1 MiB.
    pub data: serde_json::Value,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Portcullis data API",
        description = "Owner-scoped JSON items behind RS256 bearer tokens, Redis rate limits and a Redis cache."
    ),
    paths(
        crate::items::list_items,
        crate::items::get_item,
        crate::items::put_item,
        crate::items::delete_item,
        crate::dpop::metadata
    ),
    components(schemas(ItemDoc, ItemPageDoc, PutItemDoc, crate::dpop::ResourceMetadata)),
    tags((name = "items", description = "The caller's items"), (name = "operations", description = "Health and metrics"))
)]
struct DataApiDoc;

/// The complete document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = portcullis_http::openapi::complete(DataApiDoc::openapi());
    portcullis_http::openapi::protect(&mut doc, "/v1/");
    doc
}
