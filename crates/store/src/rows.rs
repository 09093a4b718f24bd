//! What every SQL store does the same way: turning rows into items, judging a write against its
//! precondition and the owner's quota, and planning a page within its byte budget.

use futures::{Stream, StreamExt};
use portcullis_domain::cause::Cause;
use portcullis_domain::identity::Subject;
use portcullis_domain::item::{Item, ItemData, ItemId, Version};
use portcullis_domain::store::{Listed, Precondition, Quota, StoreError, Usage};

/// The store failed: the cause is kept for the logs.
pub(crate) fn unavailable(error: sqlx::Error) -> StoreError {
    StoreError::Unavailable(Cause::new(error))
}

/// A stored version (SQL `BIGINT`); never negative, since versions come from a counter.
pub(crate) fn version(value: i64) -> Version {
    Version(u64::try_from(value).unwrap_or(0))
}

/// A stored count or size; never negative.
pub(crate) fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
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
    let id = ItemId::new(id)
        .map_err(|e| StoreError::Unavailable(Cause::new(format!("corrupt row: {e}"))))?;
    Ok(item(owner, &id, data, stored_version))
}

/// The item a write finds: its version and the bytes of its data.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Current {
    pub version: Version,
    pub bytes: u64,
}

/// Judges a write of `new_bytes` (`None`: a delete) over `current`, for an owner at `usage`:
/// the precondition first (a failed one is a 412 whatever the quota), then the quota. The
/// database's triggers, not this, then update the owner's usage.
pub(crate) fn judge(
    precondition: &Precondition,
    quota: Quota,
    usage: Usage,
    current: Option<Current>,
    new_bytes: Option<u64>,
) -> Result<(), StoreError> {
    if !precondition.holds(current.map(|c| c.version)) {
        return Err(StoreError::PreconditionFailed);
    }
    let (old_items, old_bytes) = current.map_or((0, 0), |c| (1, c.bytes));
    let (new_items, new_bytes) = new_bytes.map_or((0, 0), |bytes| (1, bytes));
    let after = Usage {
        items: (usage.items + new_items).saturating_sub(old_items),
        bytes: (usage.bytes + new_bytes).saturating_sub(old_bytes),
    };
    quota.admits(usage, after)
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

/// Reads a planned page's rows (id, data, version) as they stream in. The query covers the
/// planned id range, up to `planned_last`; rows written into it since the plan are taken too,
/// but never more than `limit` nor past the byte budget (counted on the documents themselves),
/// so a page never holds more than `max_bytes` plus one item, and an item that existed when the
/// page was planned is never skipped. `more` says whether the plan saw rows past the range.
pub(crate) async fn collect_page(
    owner: &Subject,
    rows: impl Stream<Item = Result<(String, String, i64), StoreError>>,
    page: PagePlan<'_>,
) -> Result<Listed, StoreError> {
    let budget = u64::try_from(page.max_bytes).unwrap_or(u64::MAX);
    let mut rows = std::pin::pin!(rows);
    let (mut items, mut before, mut more) = (Vec::<Item>::new(), 0u64, page.more);
    while let Some(row) = rows.next().await {
        if !items.is_empty() && (before >= budget || items.len() >= page.limit) {
            more = true;
            break;
        }
        let (id, data, stored_version) = row?;
        before = before.saturating_add(data.len() as u64);
        items.push(listed(owner, id, data, stored_version)?);
    }
    let next = more.then(|| {
        items
            .last()
            .map_or_else(|| page.planned_last.to_string(), |item| item.id.to_string())
    });
    let next = next
        .map(|id| {
            ItemId::new(id)
                .map_err(|e| StoreError::Unavailable(Cause::new(format!("corrupt row: {e}"))))
        })
        .transpose()?;
    Ok(Listed { items, next })
}

/// What the planning query decided about a page.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PagePlan<'a> {
    /// The last id the page covers.
    pub planned_last: &'a str,
    /// Whether rows follow `planned_last`.
    pub more: bool,
    /// Most items on the page.
    pub limit: usize,
    /// The page's byte budget.
    pub max_bytes: usize,
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
    /// the byte budget, so nothing that existed at plan time is skipped; a page whose rows were
    /// all deleted meanwhile still says where to go on.
    #[tokio::test]
    async fn collecting_stops_at_the_count_or_the_budget_and_says_where_to_go_on() {
        let owner = Subject::new("o").unwrap();
        let row = |id: &str, len: usize| Ok((id.to_string(), "1".repeat(len), 1));
        let page = |rows: Vec<Result<(String, String, i64), StoreError>>, limit, more| {
            let plan = PagePlan {
                planned_last: "p",
                more,
                limit,
                max_bytes: 100,
            };
            collect_page(&owner, futures::stream::iter(rows), plan)
        };
        let summary = |listed: Listed| {
            let ids: Vec<String> = listed.items.iter().map(|i| i.id.to_string()).collect();
            (ids.join(","), listed.next.map(|id| id.to_string()))
        };
        let three = vec![row("a", 1), row("b", 1), row("c", 1)];
        let listed = page(three, 2, false).await.unwrap();
        assert_eq!(summary(listed), ("a,b".into(), Some("b".into())));
        let by_bytes = vec![row("a", 60), row("b", 50), row("c", 1)];
        let listed = page(by_bytes, 10, false).await.unwrap();
        assert_eq!(summary(listed), ("a,b".into(), Some("b".into())));
        let listed = page(vec![row("a", 1)], 10, false).await.unwrap();
        assert_eq!(summary(listed), ("a".into(), None));
        let listed = page(vec![], 10, true).await.unwrap();
        assert_eq!(summary(listed), (String::new(), Some("p".into())));
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
        assert!(judge(&Precondition::NONE, quota, usage, current, Some(60)).is_ok());
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
        assert!(judge(&Precondition::NONE, quota, over, current, None).is_ok());
    }
}
