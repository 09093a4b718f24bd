//! What every SQL store does the same way: turning rows into items, judging a write against its
//! precondition and the owner's quota, and planning a page within its byte budget.

use futures::{Stream, StreamExt};
use portcullis_domain::identity::Subject;
use portcullis_domain::item::{Item, ItemData, ItemId, Version};
use portcullis_domain::store::{Listed, Precondition, Quota, StoreError, Usage};

/// A stored version (SQL `BIGINT`); never negative, since versions come from a counter.
pub(crate) fn version(value: i64) -> Version {
    Version(u64::try_from(value).unwrap_or(0))
}

/// A stored count or size; never negative.
pub(crate) fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A count or size as SQL `BIGINT`.
pub(crate) fn sql_count(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// An item read back by id. The document was validated before it was stored.
pub(crate) fn item(owner: &Subject, id: &ItemId, data: String, stored_version: i64) -> Item {
    Item {
        owner: owner.clone(),
        id: id.clone(),
        data: ItemData::from_validated(data),
        version: version(stored_version),
    }
}

/// An item read back by a listing, whose id comes from the row and is checked again.
pub(crate) fn listed(
    owner: &Subject,
    id: String,
    data: String,
    stored_version: i64,
) -> Result<Item, StoreError> {
    let id = ItemId::new(id).map_err(|e| StoreError::Unavailable(format!("corrupt row: {e}")))?;
    Ok(item(owner, &id, data, stored_version))
}

/// The item a write finds: its version and the bytes of its data.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Current {
    pub version: Version,
    pub bytes: u64,
}

/// Judges a write of `new_bytes` (`None`: a delete) over `current`, for an owner at `usage`:
/// the precondition first (a failed one is a 412 whatever the quota), then the quota. Answers
/// the owner's usage after the write.
pub(crate) fn judge(
    precondition: &Precondition,
    quota: Quota,
    usage: Usage,
    current: Option<Current>,
    new_bytes: Option<u64>,
) -> Result<Usage, StoreError> {
    if !precondition.holds(current.map(|c| c.version)) {
        return Err(StoreError::PreconditionFailed);
    }
    let (old_items, old_bytes) = current.map_or((0, 0), |c| (1, c.bytes));
    let (new_items, new_bytes) = new_bytes.map_or((0, 0), |bytes| (1, bytes));
    let after = Usage {
        items: (usage.items + new_items).saturating_sub(old_items),
        bytes: (usage.bytes + new_bytes).saturating_sub(old_bytes),
    };
    quota.admits(usage, after)?;
    Ok(after)
}

/// How many of the rows whose data sizes are `sizes` (in id order, at most `limit + 1` of them)
/// a page takes: up to `limit`, and none once the rows before hold `max_bytes`; the first is
/// always taken. Answers the count and whether rows remain after it.
pub(crate) fn plan_page(sizes: &[u64], limit: usize, max_bytes: usize) -> (usize, bool) {
    let budget = u64::try_from(max_bytes).unwrap_or(u64::MAX);
    let mut before = 0u64;
    let mut take = 0;
    for &size in sizes.iter().take(limit) {
        if take > 0 && before >= budget {
            break;
        }
        before = before.saturating_add(size);
        take += 1;
    }
    (take, sizes.len() > take)
}

/// Reads a planned page's rows (id, data, version, bytes) as they stream in. The query covers
/// the planned id range; rows written into it since the plan are taken too, but never more than
/// `limit` nor past the byte budget, so a page never holds more than `max_bytes` plus one item,
/// and an item that existed when the page was planned is never skipped.
pub(crate) async fn collect_page(
    owner: &Subject,
    rows: impl Stream<Item = Result<(String, String, i64, i64), StoreError>>,
    limit: usize,
    max_bytes: usize,
    mut more: bool,
) -> Result<Listed, StoreError> {
    let budget = u64::try_from(max_bytes).unwrap_or(u64::MAX);
    let mut rows = std::pin::pin!(rows);
    let (mut items, mut before) = (Vec::new(), 0u64);
    while let Some(row) = rows.next().await {
        if !items.is_empty() && (before >= budget || items.len() >= limit) {
            more = true;
            break;
        }
        let (id, data, stored_version, bytes) = row?;
        before = before.saturating_add(count(bytes));
        items.push(listed(owner, id, data, stored_version)?);
    }
    Ok(Listed { items, more })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_stop_at_the_count_or_the_byte_budget() {
        assert_eq!(plan_page(&[], 10, 100), (0, false));
        assert_eq!(plan_page(&[1, 1, 1], 2, 100), (2, true));
        assert_eq!(plan_page(&[1, 1], 2, 100), (2, false));
        // The budget is reached after the second row: the third waits for the next page.
        assert_eq!(plan_page(&[60, 40, 1, 1], 10, 100), (2, true));
        // One row over the whole budget still comes alone, so every item can be listed.
        assert_eq!(plan_page(&[500, 1], 10, 100), (1, true));
        assert_eq!(plan_page(&[500], 10, 100), (1, false));
    }

    /// Rows written into the planned range after the plan are read too, within the count and
    /// the byte budget, so nothing that existed at plan time is skipped.
    #[tokio::test]
    async fn collecting_stops_at_the_count_or_the_budget_and_says_more_follow() {
        let owner = Subject::new("o").unwrap();
        let row = |id: &str, bytes: i64| Ok((id.to_string(), "1".to_string(), 1, bytes));
        let page = |rows: Vec<Result<(String, String, i64, i64), StoreError>>, limit, budget| {
            collect_page(&owner, futures::stream::iter(rows), limit, budget, false)
        };
        let ids = |listed: &Listed| {
            listed
                .items
                .iter()
                .map(|i| i.id.to_string())
                .collect::<Vec<_>>()
        };
        let listed = page(vec![row("a", 1), row("b", 1), row("c", 1)], 2, 100)
            .await
            .unwrap();
        assert_eq!(
            (ids(&listed), listed.more),
            (vec!["a".into(), "b".into()], true)
        );
        let listed = page(vec![row("a", 60), row("b", 50), row("c", 1)], 10, 100)
            .await
            .unwrap();
        assert_eq!(
            (ids(&listed), listed.more),
            (vec!["a".into(), "b".into()], true)
        );
        let listed = page(vec![row("a", 1)], 10, 100).await.unwrap();
        assert_eq!((ids(&listed), listed.more), (vec!["a".into()], false));
    }

    #[test]
    fn writes_are_judged_by_precondition_then_quota() {
        let quota = Quota {
            max_items: 2,
            max_bytes: 100,
        };
        let usage = Usage {
            items: 2,
            bytes: 90,
        };
        let current = Some(Current {
            version: Version(7),
            bytes: 50,
        });
        // Replacing an item keeps the count; growing past the bytes quota is refused.
        assert_eq!(
            judge(&Precondition::NONE, quota, usage, current, Some(60)).unwrap(),
            Usage {
                items: 2,
                bytes: 100
            }
        );
        assert!(matches!(
            judge(&Precondition::NONE, quota, usage, current, Some(61)),
            Err(StoreError::QuotaExceeded { limit: 100, .. })
        ));
        // A third item is refused; a failed precondition wins over the quota.
        assert!(matches!(
            judge(&Precondition::NONE, quota, usage, None, Some(1)),
            Err(StoreError::QuotaExceeded { limit: 2, .. })
        ));
        assert!(matches!(
            judge(&Precondition::exists(), quota, usage, None, Some(1)),
            Err(StoreError::PreconditionFailed)
        ));
        // Shrinking is allowed even over a quota that was lowered; deletes always are.
        let over = Usage {
            items: 5,
            bytes: 500,
        };
        assert!(judge(&Precondition::NONE, quota, over, current, Some(10)).is_ok());
        assert_eq!(
            judge(&Precondition::NONE, quota, over, current, None).unwrap(),
            Usage {
                items: 4,
                bytes: 450
            }
        );
    }
}
