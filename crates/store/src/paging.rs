//! Listing one owner's items a page at a time, the same way in every SQL store: plan the page
//! on item sizes alone, then stream exactly the planned documents (see [`crate::rows`]).

use crate::rows::{self, PagePlan};
use futures::StreamExt;
use portcullis_domain::identity::Subject;
use portcullis_domain::item::ItemId;
use portcullis_domain::store::{Listed, StoreError};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};

/// Plans on sizes (an index read, no document touched).
const PLAN: &str = "SELECT id, bytes FROM items WHERE owner = $1 AND id > $2 ORDER BY id LIMIT $3";
/// Reads the planned range; rows written into it meanwhile are bounded by [`rows::collect_page`].
const READ: &str = "SELECT id, data, version FROM items \
     WHERE owner = $1 AND id > $2 AND id <= $3 ORDER BY id LIMIT $4";

/// A page of `owner`'s items after `after` on `pool`: at most `limit`, ending once it holds
/// `max_bytes` of data (see [`portcullis_domain::store::ItemStore::list`]). Generic over the
/// database: the SQL above is valid for SQLite and PostgreSQL alike (`$N` parameters).
pub(crate) async fn list<'p, DB, P>(
    pool: P,
    owner: &Subject,
    after: Option<&ItemId>,
    limit: usize,
    max_bytes: usize,
) -> Result<Listed, StoreError>
where
    DB: Database,
    P: Executor<'p, Database = DB> + Copy,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let after = after.map_or("", ItemId::as_str);
    let page_rows = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
    let planned: Vec<(String, i64)> = sqlx::query(PLAN)
        .bind(owner.as_str())
        .bind(after)
        .bind(page_rows)
        .fetch_all(pool)
        .await
        .map_err(rows::unavailable)?
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let sizes: Vec<u64> = planned
        .iter()
        .map(|(_, bytes)| rows::count(*bytes))
        .collect();
    let (take, more) = rows::plan_page(&sizes, limit, max_bytes);
    let Some((last, _)) = take.checked_sub(1).and_then(|i| planned.get(i)) else {
        return Ok(Listed::default());
    };
    let documents = sqlx::query(READ)
        .bind(owner.as_str())
        .bind(after)
        .bind(last.as_str())
        .bind(page_rows)
        .fetch(pool)
        .map(|row| {
            row.map(|r| (r.get(0), r.get(1), r.get(2)))
                .map_err(rows::unavailable)
        });
    let plan = PagePlan {
        planned_last: last,
        more,
        limit,
        max_bytes,
    };
    rows::collect_page(owner, documents, plan).await
}
