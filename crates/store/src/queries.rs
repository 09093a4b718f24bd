//! The statements every SQL store runs the same way, written once: the SQL is valid for SQLite
//! and PostgreSQL alike (`$N` parameters), and the functions are generic over the database.
//! What differs between the stores (how a write locks, where versions come from) stays in them.

use crate::rows::{self, Current, PagePlan};
use futures::StreamExt;
use portcullis_domain::identity::Subject;
use portcullis_domain::item::{Item, ItemId, Version};
use portcullis_domain::store::{Listed, Precondition, Quota, StoreError, Usage};
use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Transaction, Type,
};

/// Plans on sizes (an index read, no document touched).
const PLAN: &str = "SELECT id, bytes FROM items WHERE owner = $1 AND id > $2 ORDER BY id LIMIT $3";
/// Reads the planned range; rows written into it meanwhile are bounded by [`rows::collect_page`].
const READ: &str = "SELECT id, data, version FROM items \
     WHERE owner = $1 AND id > $2 AND id <= $3 ORDER BY id LIMIT $4";

/// The owner's item with this id, if any.
pub(crate) async fn get<'p, DB, P>(
    pool: P,
    owner: &Subject,
    id: &ItemId,
) -> Result<Option<Item>, StoreError>
where
    DB: Database,
    P: Executor<'p, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let row = sqlx::query("SELECT data, version FROM items WHERE owner = $1 AND id = $2")
        .bind(owner.as_str())
        .bind(id.as_str())
        .fetch_optional(pool)
        .await
        .map_err(rows::unavailable)?;
    Ok(row.map(|row| rows::item(owner, id, row.get(0), row.get(1))))
}

/// The item's current version and size, read in a write's transaction.
pub(crate) async fn current<DB>(
    tx: &mut Transaction<'static, DB>,
    owner: &Subject,
    id: &ItemId,
) -> Result<Option<Current>, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let row = sqlx::query("SELECT version, bytes FROM items WHERE owner = $1 AND id = $2")
        .bind(owner.as_str())
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(rows::unavailable)?;
    Ok(row.map(|row| Current {
        version: rows::version(row.get(0)),
        bytes: rows::count(row.get(1)),
    }))
}

/// Finishes a delete whose transaction found `current` for an owner at `usage`: judges the
/// precondition, deletes the row and commits. `Ok(None)` when there was nothing to delete.
pub(crate) async fn delete<DB>(
    mut tx: Transaction<'static, DB>,
    owner: &Subject,
    id: &ItemId,
    precondition: &Precondition,
    usage: Usage,
    current: Option<Current>,
) -> Result<Option<Version>, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    rows::judge(precondition, Quota::UNLIMITED, usage, current, None)?;
    let Some(current) = current else {
        return Ok(None);
    };
    sqlx::query("DELETE FROM items WHERE owner = $1 AND id = $2")
        .bind(owner.as_str())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(rows::unavailable)?;
    tx.commit().await.map_err(rows::unavailable)?;
    Ok(Some(current.version))
}

/// A page of `owner`'s items after `after` on `pool`: at most `limit`, ending once it holds
/// `max_bytes` of data (see [`portcullis_domain::store::ItemStore::list`]).
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
