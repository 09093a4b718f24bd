//! `/v1/items`: owner-scoped items with ETags and conditional requests.

use crate::DataState;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use portcullis_domain::item::{Item, ItemData, ItemId, Version, MAX_ITEM_DATA_LEN};
use portcullis_domain::scope::{ITEMS_READ, ITEMS_WRITE};
use portcullis_domain::store::{Precondition, StoreError};
use portcullis_http::auth::Caller;
use portcullis_http::Problem;
use serde::Deserialize;
use serde_json::value::RawValue;

/// Largest PUT body: the 1 MiB document plus its envelope.
pub const MAX_BODY_BYTES: usize = MAX_ITEM_DATA_LEN + 4096;

fn item_id(path: Result<Path<String>, PathRejection>) -> Result<ItemId, Problem> {
    let Path(id) = path.map_err(|_| Problem::bad_request("the item id could not be read"))?;
    ItemId::new(id).map_err(|e| Problem::bad_request(e.to_string()))
}

fn etag(version: Version) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{}\"", version.0))
        .unwrap_or(HeaderValue::from_static("\"0\""))
}

/// An item as JSON, written directly: ids are unreserved characters (no escaping needed) and the
/// document is JSON text already validated, so nothing is parsed or re-serialised.
fn item_json(item: &Item) -> String {
    format!(
        r#"{{"id":"{}","data":{},"version":{}}}"#,
        item.id,
        item.data.as_str(),
        item.version.0
    )
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn store_problem(error: StoreError) -> Problem {
    match error {
        StoreError::PreconditionFailed => changed(),
        StoreError::Unavailable(reason) => {
            tracing::error!(%reason, "item store failed");
            Problem::unavailable()
        }
    }
}

fn changed() -> Problem {
    Problem::new(StatusCode::PRECONDITION_FAILED)
        .detail("the item has changed since the version you named")
}

/// Parses one strong entity tag (`"123"`) or `*`. Weak tags never match (RFC 9110 §13.1.1).
fn parse_condition(value: &HeaderValue, star: Precondition) -> Result<Precondition, Problem> {
    let value = value
        .to_str()
        .map_err(|_| Problem::bad_request("malformed precondition header"))?
        .trim();
    if value == "*" {
        return Ok(star);
    }
    let tags: Vec<&str> = value.split(',').map(str::trim).collect();
    let [tag] = tags.as_slice() else {
        return Err(Problem::bad_request("name one entity tag, or *"));
    };
    if tag.starts_with("W/") {
        return Err(Problem::new(StatusCode::PRECONDITION_FAILED)
            .detail("weak entity tags cannot be used for writes"));
    }
    let digits = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| Problem::bad_request("malformed entity tag"))?;
    // A version too large to exist is well-formed; it just cannot match.
    digits
        .parse::<u64>()
        .map(|v| Precondition::Matches(Version(v)))
        .map_err(|_| changed())
}

/// The write precondition from `If-Match` / `If-None-Match: *`.
fn precondition(headers: &HeaderMap, allow_create_only: bool) -> Result<Precondition, Problem> {
    let if_match = headers.get(header::IF_MATCH);
    let if_none_match = headers.get(header::IF_NONE_MATCH);
    match (if_match, if_none_match) {
        (Some(if_match), Some(if_none_match)) => {
            parse_condition(if_match, Precondition::Exists)?;
            if !(allow_create_only && if_none_match.as_bytes() == b"*") {
                return Err(Problem::bad_request("writes accept only If-None-Match: *"));
            }
            // The item would have to exist and not exist at once (RFC 9110 §13.2.2).
            Err(Problem::new(StatusCode::PRECONDITION_FAILED)
                .detail("If-Match and If-None-Match: * can never both hold"))
        }
        (Some(value), None) => parse_condition(value, Precondition::Exists),
        (None, Some(value)) if allow_create_only && value.as_bytes() == b"*" => {
            Ok(Precondition::Absent)
        }
        (None, Some(_)) => Err(Problem::bad_request("writes accept only If-None-Match: *")),
        (None, None) => Ok(Precondition::None),
    }
}

/// Whether `If-None-Match` names the current version (or `*`); weak comparison, as for GET.
/// A value that is not a list of entity tags is refused rather than ignored.
fn matches_none(headers: &HeaderMap, version: Version) -> Result<bool, Problem> {
    let Some(value) = headers.get(header::IF_NONE_MATCH) else {
        return Ok(false);
    };
    let malformed = || Problem::bad_request("If-None-Match must be * or a list of entity tags");
    let value = value.to_str().map_err(|_| malformed())?.trim();
    if value == "*" {
        return Ok(true);
    }
    let current = format!("\"{}\"", version.0);
    let mut matched = false;
    for tag in value.split(',').map(|t| t.trim().trim_start_matches("W/")) {
        let opaque = tag
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .ok_or_else(malformed)?;
        if opaque.contains('"') {
            return Err(malformed());
        }
        matched |= tag == current;
    }
    Ok(matched)
}

/// `GET /v1/items/{id}`.
#[utoipa::path(get, path = "/v1/items/{id}", tag = "items",
    params(("id" = String, Path, description = "1–128 characters of `[A-Za-z0-9._~-]`", pattern = "^[A-Za-z0-9._~-]{1,128}$"),
        ("If-None-Match" = Option<String>, Header, description = "ETags from earlier reads, or `*`: 304 when one matches", pattern = r#"^(\*|(W/)?"[!#-+\--~]*"( *, *(W/)?"[!#-+\--~]*")*)$"#)),
    responses(
        (status = 200, description = "The item.", body = crate::api_doc::ItemDoc,
            headers(("ETag" = String, description = "The version, quoted"), ("Cache-Control" = String))),
        (status = 304, description = "The item still has the version named in If-None-Match.",
            headers(("ETag" = String, description = "The version, quoted"))),
        (status = 404, description = "No such item for this caller (another owner's item looks the same).",
            body = portcullis_http::Problem, content_type = "application/problem+json")),
    security(("bearer" = ["items:read"])))]
pub async fn get_item(
    State(state): State<DataState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    caller.require_scope(ITEMS_READ)?;
    let id = item_id(path)?;
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
    let mut response = if matches_none(&headers, item.version)? {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        json_response(StatusCode::OK, item_json(&item))
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
        ("If-Match" = Option<String>, Header, description = "Write only if the item has this version (ETag) or exists (`*`)", pattern = r#"^(\*|"[0-9]+")$"#),
        ("If-None-Match" = Option<String>, Header, description = "`*`: write only if the item does not exist", pattern = r#"^\*$"#)),
    request_body(content = crate::api_doc::PutItemDoc, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored; the new version.", body = crate::api_doc::ItemDoc,
            headers(("ETag" = String, description = "The new version, quoted"))),
        (status = 412, description = "The precondition failed: the item changed or (does not) exist.",
            body = portcullis_http::Problem, content_type = "application/problem+json"),
        (status = 413, description = "The item's data is over 1 MiB.",
            body = portcullis_http::Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not application/json.",
            body = portcullis_http::Problem, content_type = "application/problem+json")),
    security(("bearer" = ["items:write"])))]
pub async fn put_item(
    State(state): State<DataState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    caller.require_scope(ITEMS_WRITE)?;
    let id = item_id(path)?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE)
            .detail("send the item as application/json"));
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            Problem::bad_request("the request body could not be read")
        }
    })?;
    let parsed: PutBody<'_> = serde_json::from_slice(&body).map_err(|_| {
        Problem::bad_request(r#"the body must be a JSON object {"data": <any JSON value>}"#)
    })?;
    if parsed.data.get().len() > MAX_ITEM_DATA_LEN {
        return Err(too_large());
    }
    let data =
        ItemData::parse(parsed.data.get()).map_err(|e| Problem::bad_request(e.to_string()))?;
    // Preconditions are judged only for a well-formed request: a bad body is a 400 whatever the
    // item's state.
    let precondition = precondition(&headers, true)?;
    let item = state
        .items
        .put(&caller.0.subject, &id, data, precondition)
        .await
        .map_err(store_problem)?;
    let mut response = json_response(StatusCode::OK, item_json(&item));
    response
        .headers_mut()
        .insert(header::ETAG, etag(item.version));
    Ok(response)
}

/// `DELETE /v1/items/{id}`: 204, or 404 when there was nothing to delete.
#[utoipa::path(delete, path = "/v1/items/{id}", tag = "items",
    params(("id" = String, Path, description = "1–128 characters of `[A-Za-z0-9._~-]`", pattern = "^[A-Za-z0-9._~-]{1,128}$"),
        ("If-Match" = Option<String>, Header, description = "Delete only if the item has this version (ETag) or exists (`*`)", pattern = r#"^(\*|"[0-9]+")$"#)),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such item for this caller.",
            body = portcullis_http::Problem, content_type = "application/problem+json"),
        (status = 412, description = "The item's version is not the one named in If-Match.",
            body = portcullis_http::Problem, content_type = "application/problem+json")),
    security(("bearer" = ["items:write"])))]
pub async fn delete_item(
    State(state): State<DataState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    caller.require_scope(ITEMS_WRITE)?;
    let id = item_id(path)?;
    let precondition = precondition(&headers, false)?;
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
    responses((status = 200, description = "One page of the caller's items.", body = crate::api_doc::ItemPageDoc)),
    security(("bearer" = ["items:read"])))]
pub async fn list_items(
    State(state): State<DataState>,
    caller: Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    caller.require_scope(ITEMS_READ)?;
    let Query(query) = query.map_err(|_| {
        Problem::bad_request("query parameters are cursor (an item id) and limit (1-1000)")
    })?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::bad_request("limit must be between 1 and 1000"));
    }
    let cursor = query
        .cursor
        .map(ItemId::new)
        .transpose()
        .map_err(|_| Problem::bad_request("cursor is not a valid item id"))?;
    let page = state
        .items
        .list(&caller.0.subject, cursor.as_ref(), limit)
        .await
        .map_err(store_problem)?;
    let items: Vec<String> = page.items.iter().map(item_json).collect();
    let next = page
        .next
        .map_or_else(|| "null".to_string(), |id| format!("\"{id}\""));
    Ok(json_response(
        StatusCode::OK,
        format!(r#"{{"items":[{}],"next":{next}}}"#, items.join(",")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn write_preconditions() {
        assert_eq!(
            precondition(&headers(&[]), true).unwrap(),
            Precondition::None
        );
        assert_eq!(
            precondition(&headers(&[(header::IF_MATCH, "\"7\"")]), true).unwrap(),
            Precondition::Matches(Version(7))
        );
        assert_eq!(
            precondition(&headers(&[(header::IF_MATCH, "*")]), true).unwrap(),
            Precondition::Exists
        );
        assert_eq!(
            precondition(&headers(&[(header::IF_NONE_MATCH, "*")]), true).unwrap(),
            Precondition::Absent
        );
        let weak = precondition(&headers(&[(header::IF_MATCH, "W/\"7\"")]), true).unwrap_err();
        assert_eq!(weak.status(), StatusCode::PRECONDITION_FAILED);
        for bad in ["7", "\"x\"", "\"1\", \"2\""] {
            let error = precondition(&headers(&[(header::IF_MATCH, bad)]), true).unwrap_err();
            assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{bad}");
        }
        assert!(precondition(&headers(&[(header::IF_NONE_MATCH, "*")]), false).is_err());
    }

    #[test]
    fn if_none_match_uses_weak_comparison() {
        assert!(matches_none(&headers(&[(header::IF_NONE_MATCH, "\"3\"")]), Version(3)).unwrap());
        assert!(matches_none(
            &headers(&[(header::IF_NONE_MATCH, "W/\"3\", \"4\"")]),
            Version(3)
        )
        .unwrap());
        assert!(matches_none(&headers(&[(header::IF_NONE_MATCH, "*")]), Version(3)).unwrap());
        assert!(!matches_none(&headers(&[(header::IF_NONE_MATCH, "\"4\"")]), Version(3)).unwrap());
        assert!(!matches_none(&headers(&[]), Version(3)).unwrap());
        for malformed in ["3", "\"3", "\"3\", 4", "W/"] {
            let headers = headers(&[(header::IF_NONE_MATCH, malformed)]);
            assert!(matches_none(&headers, Version(3)).is_err(), "{malformed}");
        }
    }
}
