//! `/v1/items`: owner-scoped items with ETags and conditional requests.

use crate::body_budget::{reserved_body, Reservation, READ_COPIES, WRITE_COPIES};
use crate::conditions::{self, not_modified};
use crate::extract::{ItemPath, Read, Scoped, Write};
use crate::DataState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, Query, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use portcullis_domain::cause::Chain;
use portcullis_domain::item::{Item, ItemData, ItemId, Version, MAX_ITEM_DATA_LEN};
use portcullis_domain::store::StoreError;
use portcullis_domain::usecase::items::MAX_PAGE_ITEMS;
use portcullis_http::Problem;
use serde::Deserialize;
use serde_json::value::RawValue;

/// Largest PUT body: the 1 MiB document plus its envelope.
pub const MAX_BODY_BYTES: usize = MAX_ITEM_DATA_LEN + 4096;

fn etag(version: Version) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{}\"", version.0))
        .unwrap_or(HeaderValue::from_static("\"0\""))
}

/// Bytes of an item's JSON besides its document: the id, the version and the punctuation.
const ITEM_ENVELOPE: usize = 64 + portcullis_domain::item::MAX_ITEM_ID_LEN;

/// Appends an item as JSON, written directly: ids are unreserved characters (no escaping
/// needed) and the document is JSON text already validated, so nothing is parsed or
/// re-serialised.
fn write_item_json(out: &mut String, item: &Item) {
    out.push_str(r#"{"id":""#);
    out.push_str(item.id.as_str());
    out.push_str(r#"","data":"#);
    out.push_str(item.data.as_str());
    out.push_str(r#","version":"#);
    out.push_str(&item.version.0.to_string());
    out.push('}');
}

fn item_json(item: &Item) -> String {
    let mut out = String::with_capacity(item.data.as_str().len() + ITEM_ENVELOPE);
    write_item_json(&mut out, item);
    out
}

/// What a list page reserves: at most its byte budget plus one document (and the items'
/// envelopes), held twice: as read and as sent.
fn list_reservation(page_max_bytes: usize, limit: usize) -> usize {
    READ_COPIES * (page_max_bytes + MAX_ITEM_DATA_LEN + limit * ITEM_ENVELOPE)
}

/// The most any one request reserves from the body budget with this page budget: a budget
/// smaller than this would not bound it.
pub(crate) fn largest_reservation(page_max_bytes: usize) -> usize {
    (WRITE_COPIES * MAX_BODY_BYTES).max(list_reservation(page_max_bytes, MAX_PAGE_ITEMS))
}

/// A JSON response whose body holds `reservation` of the body budget until it is sent.
fn json_response(status: StatusCode, body: String, reservation: Reservation) -> Response {
    let mut response = (status, reserved_body(body, reservation)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn store_problem(error: StoreError) -> Problem {
    match error {
        StoreError::PreconditionFailed => conditions::failed(),
        StoreError::QuotaExceeded { quota, limit } => {
            Problem::new(StatusCode::FORBIDDEN).detail(format!(
                "the {} quota of this owner ({limit}) is used up",
                quota.as_str()
            ))
        }
        StoreError::Unavailable(reason) => {
            tracing::error!(error = %Chain(&reason), "item store failed");
            Problem::unavailable()
        }
    }
}

/// `GET /v1/items/{id}`.
#[utoipa::path(get, path = "/v1/items/{id}", tag = "items",
    params(("id" = String, Path, description = "1–128 characters of `[A-Za-z0-9._~-]`", pattern = "^[A-Za-z0-9._~-]{1,128}$"),
        ("If-None-Match" = Option<String>, Header, description = "ETags from earlier reads, or `*`: 304 when one matches", pattern = r#"^(\*|(W/)?"[!#-+\--~]*"( *, *(W/)?"[!#-+\--~]*")*)$"#),
        ("If-Match" = Option<String>, Header, description = "Answer only if the item has one of these versions (strong comparison) or exists (`*`); 412 otherwise", pattern = r#"^(\*|(W/)?"[!#-+\--~]*"( *, *(W/)?"[!#-+\--~]*")*)$"#)),
    responses(
        (status = 200, description = "The item.", body = crate::api_doc::ItemDoc,
            headers(("ETag" = String, description = "The version, quoted"), ("Cache-Control" = String))),
        (status = 304, description = "The item still has the version named in If-None-Match.",
            headers(("ETag" = String, description = "The version, quoted"))),
        (status = 404, description = "No such item for this caller (another owner's item looks the same).",
            body = portcullis_http::Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names none of the item's versions.",
            body = portcullis_http::Problem, content_type = "application/problem+json")),
    security(("bearer" = ["items:read"])))]
pub async fn get_item(
    State(state): State<DataState>,
    Scoped(caller, _): Scoped<Read>,
    ItemPath(id): ItemPath,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    // Reserved before the item is loaded (a store load brings its document into memory), then
    // cut to the real size.
    let mut reservation = state
        .body_budget
        .reserve(READ_COPIES * (MAX_ITEM_DATA_LEN + ITEM_ENVELOPE))
        .await?;
    let (item, cache) = state
        .items
        .get(&caller.0.subject, &id)
        .await
        .map_err(store_problem)?;
    state
        .metrics
        .cache_requests
        .with_label_values(&[cache.as_str()])
        .inc();
    tracing::Span::current().record("cache.result", cache.as_str());
    // Another owner's item is indistinguishable from a missing one.
    let item = item.ok_or_else(Problem::not_found)?;
    let mut response = if not_modified(&headers, item.version)? {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        reservation.shrink_to(item.data.as_str().len() + ITEM_ENVELOPE);
        json_response(StatusCode::OK, item_json(&item), reservation)
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag(item.version));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(response)
}

fn too_large() -> Problem {
    Problem::new(StatusCode::PAYLOAD_TOO_LARGE).detail("an item's data is at most 1 MiB")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody<'a> {
    #[serde(borrow)]
    data: &'a RawValue,
}

/// `PUT /v1/items/{id}`, body `{"data": <any JSON>}`.
#[utoipa::path(put, path = "/v1/items/{id}", tag = "items",
    params(("id" = String, Path, description = "1–128 characters of `[A-Za-z0-9._~-]`", pattern = "^[A-Za-z0-9._~-]{1,128}$"),
        ("If-Match" = Option<String>, Header, description = "Write only if the item has one of these versions (ETags, strong comparison) or exists (`*`)", pattern = r#"^(\*|(W/)?"[!#-~]*"( *, *(W/)?"[!#-~]*")*)$"#),
        ("If-None-Match" = Option<String>, Header, description = "Write only if the item does not exist (`*`) or has none of these versions (weak comparison)", pattern = r#"^(\*|(W/)?"[!#-~]*"( *, *(W/)?"[!#-~]*")*)$"#)),
    request_body(content = crate::api_doc::PutItemDoc, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored; the new version.", body = crate::api_doc::ItemDoc,
            headers(("ETag" = String, description = "The new version, quoted"))),
        (status = 412, description = "The precondition failed: the item changed or (does not) exist.",
            body = portcullis_http::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The owner's items or bytes quota is used up; the detail names which.",
            body = portcullis_http::Problem, content_type = "application/problem+json"),
        (status = 413, description = "The item's data is over 1 MiB.",
            body = portcullis_http::Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not application/json.",
            body = portcullis_http::Problem, content_type = "application/problem+json")),
    security(("bearer" = ["items:write"])))]
pub async fn put_item(
    State(state): State<DataState>,
    Scoped(caller, _): Scoped<Write>,
    ItemPath(id): ItemPath,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, Problem> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE)
            .detail("send the item as application/json"));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    // The body is read only once its memory is reserved.
    let body_bytes = declared.unwrap_or(MAX_BODY_BYTES);
    let reservation = state.body_budget.reserve(WRITE_COPIES * body_bytes).await?;
    let body = Bytes::from_request(request, &())
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                Problem::bad_request("the request body could not be read")
            }
        })?;
    let not_an_envelope =
        || Problem::bad_request(r#"the body must be a JSON object {"data": <any JSON value>}"#);
    // serde reads a struct from an array too (`[[]]` would be `{"data": []}`): only an object
    // is the documented envelope.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(not_an_envelope());
    }
    let parsed: PutBody<'_> = serde_json::from_slice(&body).map_err(|_| not_an_envelope())?;
    if parsed.data.get().len() > MAX_ITEM_DATA_LEN {
        return Err(too_large());
    }
    let data =
        ItemData::parse(parsed.data.get()).map_err(|e| Problem::bad_request(e.to_string()))?;
    // Preconditions are judged only for a well-formed request: a bad body is a 400 whatever the
    // item's state.
    let precondition = conditions::precondition(&headers)?;
    drop(body);
    let item = state
        .items
        .put(&caller.0.subject, &id, data, precondition)
        .await
        .map_err(store_problem)?;
    let mut response = json_response(StatusCode::OK, item_json(&item), reservation);
    response
        .headers_mut()
        .insert(header::ETAG, etag(item.version));
    Ok(response)
}

/// `DELETE /v1/items/{id}`: 204, or 404 when there was nothing to delete.
#[utoipa::path(delete, path = "/v1/items/{id}", tag = "items",
    params(("id" = String, Path, description = "1–128 characters of `[A-Za-z0-9._~-]`", pattern = "^[A-Za-z0-9._~-]{1,128}$"),
        ("If-Match" = Option<String>, Header, description = "Delete only if the item has one of these versions (ETags) or exists (`*`)", pattern = r#"^(\*|(W/)?"[!#-~]*"( *, *(W/)?"[!#-~]*")*)$"#)),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such item for this caller.",
            body = portcullis_http::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The item's version is not the one named in If-Match.",
            body = portcullis_http::Problem, content_type = "application/problem+json")),
    security(("bearer" = ["items:write"])))]
pub async fn delete_item(
    State(state): State<DataState>,
    Scoped(caller, _): Scoped<Write>,
    ItemPath(id): ItemPath,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let precondition = conditions::precondition(&headers)?;
    let existed = state
        .items
        .delete(&caller.0.subject, &id, precondition)
        .await
        .map_err(store_problem)?;
    if existed {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(Problem::not_found())
    }
}

/// Query of `GET /v1/items`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    cursor: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/items?cursor=&limit=`: the caller's items in id order, `limit` 1–1000 (default 100).
#[utoipa::path(get, path = "/v1/items", tag = "items",
    params(
        ("cursor" = Option<String>, Query, description = "The `next` of the previous page", pattern = "^[A-Za-z0-9._~-]{1,128}$"),
        ("limit" = Option<u32>, Query, description = "Items per page, 1–1000 (default 100)", minimum = 1, maximum = 1000)),
    responses((status = 200, description = "One page of the caller's items: at most `limit`, and no more once the page holds `DATA_API_PAGE_MAX_BYTES` of data (the first item always comes). `next` is the cursor of the following page, null on the last.", body = crate::api_doc::ItemPageDoc)),
    security(("bearer" = ["items:read"])))]
pub async fn list_items(
    State(state): State<DataState>,
    Scoped(caller, _): Scoped<Read>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(query) = query.map_err(|_| {
        Problem::bad_request("query parameters are cursor (an item id) and limit (1-1000)")
    })?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_PAGE_ITEMS).contains(&limit) {
        return Err(Problem::bad_request("limit must be between 1 and 1000"));
    }
    let cursor = query
        .cursor
        .map(ItemId::new)
        .transpose()
        .map_err(|_| Problem::bad_request("cursor is not a valid item id"))?;
    let page_bytes = list_reservation(state.items.limits().page_max_bytes, limit);
    let reservation = state.body_budget.reserve(page_bytes).await?;
    let page = state
        .items
        .list(&caller.0.subject, cursor.as_ref(), limit)
        .await
        .map_err(store_problem)?;
    let size: usize = page
        .items
        .iter()
        .map(|i| i.data.as_str().len() + ITEM_ENVELOPE)
        .sum();
    let mut body = String::with_capacity(size + ITEM_ENVELOPE);
    body.push_str(r#"{"items":["#);
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        write_item_json(&mut body, item);
    }
    body.push_str(r#"],"next":"#);
    match &page.next {
        Some(id) => {
            body.push('"');
            body.push_str(id.as_str());
            body.push('"');
        }
        None => body.push_str("null"),
    }
    body.push('}');
    drop(page);
    Ok(json_response(StatusCode::OK, body, reservation))
}
