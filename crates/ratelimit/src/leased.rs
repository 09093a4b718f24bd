//! The rate-limit port decided from leased slices of a shared limit, so a replica asks Redis
//! once per slice instead of once per request.

use async_trait::async_trait;
use portcullis_domain::clock::{Clock, SystemClock};
use portcullis_domain::quota::{QuotaRefund, QuotaSource};
use portcullis_domain::ratelimit::{
    RateLimitDecision, RateLimitError, RateLimitKey, RateLimitPolicy, RateLimiter,
};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Default `DATA_API_RATE_LIMIT_LEASE`: a slice is a twentieth of the smallest window's limit,
/// so twenty replicas can hold one each before anyone has to wait on another's leftovers.
pub const DEFAULT_LEASE_FRACTION: f64 = 0.05;

/// Subjects with a lease record kept per policy; a record evicted with units left only
/// under-admits (they were charged).
const MAX_KEYS: u64 = 100_000;
/// A record nobody used for this long goes; its units have long expired.
const IDLE: Duration = Duration::from_secs(600);

/// Limits from slices taken from a [`QuotaSource`] (the Redis limiter): each slice is charged
/// to every window of the policy when it is taken and then spent in memory until it runs out
/// or the shortest window's slot ends.
///
/// The bound: admitted requests never exceed what the exact limiter would admit, however many
/// replicas lease and whatever the slice (units are charged before they are spent, and within a
/// slot the sliding estimate only falls). The price is under-admission by the units replicas
/// hold and do not spend: at most one slice per replica per subject and policy, handed back
/// with the replica's next take. Slices are at most `fraction` × the smallest window's limit
/// and at most half of what is left, so near the limit they shrink to single units: exact
/// decisions. A refusal is remembered until its `Retry-After`, so a limited caller costs the
/// source nothing more until then; a refusal charges nothing.
pub struct LeasingLimiter {
    source: Arc<dyn QuotaSource>,
    fraction: f64,
    clock: Arc<dyn Clock>,
    /// One table per policy (a service has a handful), so a lookup borrows the key.
    tables: RwLock<Vec<(RateLimitPolicy, Table)>>,
}

impl std::fmt::Debug for LeasingLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeasingLimiter")
            .field("fraction", &self.fraction)
            .finish_non_exhaustive()
    }
}

/// The lease records of one policy, by subject.
type Table = moka::sync::Cache<RateLimitKey, Arc<KeyLease>>;

/// One subject's slice under one policy.
#[derive(Default)]
struct KeyLease {
    held: Mutex<Held>,
    /// Held around a take, so callers whose slice ran out at once cause one call.
    refill: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Held {
    units: u64,
    /// Until when the units may be spent.
    until: Option<Instant>,
    /// The slot each window was charged in, for the refund.
    slots: Vec<u64>,
    /// The decision of the grant, and when it was made: what headers report from.
    granted: Option<(RateLimitDecision, Instant)>,
    /// A refusal of this cost or more stands until then.
    refused: Option<(Instant, u64, RateLimitDecision)>,
}

impl Held {
    /// Spends `cost` from the slice, or repeats a standing refusal; `None` = ask the source.
    fn spend(&mut self, cost: u64, now: Instant) -> Option<RateLimitDecision> {
        if self.until.is_some_and(|until| now < until) && self.units >= cost {
            self.units -= cost;
            return self.report(now);
        }
        match &self.refused {
            Some((until, refused_cost, decision)) if now < *until && cost >= *refused_cost => {
                Some(RateLimitDecision {
                    retry_after: Some(*until - now),
                    ..decision.clone()
                })
            }
            _ => None,
        }
    }

    /// The grant's decision as of `now`: the units still held count as remaining.
    fn report(&self, now: Instant) -> Option<RateLimitDecision> {
        let (decision, at) = self.granted.as_ref()?;
        let mut decision = decision.clone();
        for window in &mut decision.windows {
            window.remaining += self.units;
            window.reset = window.reset.saturating_sub(now - *at);
        }
        Some(decision)
    }

    /// Gives up what is held, as a refund for the next take.
    fn leftovers(&mut self) -> Option<QuotaRefund> {
        let units = std::mem::take(&mut self.units);
        self.until = None;
        (units > 0).then(|| QuotaRefund {
            units,
            slots: std::mem::take(&mut self.slots),
        })
    }
}

impl LeasingLimiter {
    /// Leases slices of `fraction` (0 < fraction ≤ 0.5) of the smallest window's limit from
    /// `source`.
    pub fn new(source: Arc<dyn QuotaSource>, fraction: f64) -> Self {
        Self::with_clock(source, fraction, Arc::new(SystemClock))
    }

    /// The same on a given clock (tests move a manual clock, shared with the source).
    pub fn with_clock(source: Arc<dyn QuotaSource>, fraction: f64, clock: Arc<dyn Clock>) -> Self {
        Self {
            source,
            fraction,
            clock,
            tables: RwLock::default(),
        }
    }

    fn slice(&self, policy: &RateLimitPolicy) -> u64 {
        let smallest = policy.windows().iter().map(|w| w.limit).min().unwrap_or(1);
        ((smallest as f64 * self.fraction).floor() as u64).max(1)
    }

    fn table(&self, policy: &RateLimitPolicy) -> Table {
        let found = self
            .tables
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(p, _)| p == policy)
            .map(|(_, table)| table.clone());
        if let Some(table) = found {
            return table;
        }
        let mut tables = self.tables.write().unwrap_or_else(|e| e.into_inner());
        if let Some((_, table)) = tables.iter().find(|(p, _)| p == policy) {
            return table.clone();
        }
        let table = moka::sync::Cache::builder()
            .max_capacity(MAX_KEYS)
            .time_to_idle(IDLE)
            .build();
        tables.push((policy.clone(), table.clone()));
        table
    }

    fn record(&self, key: &RateLimitKey, policy: &RateLimitPolicy) -> Arc<KeyLease> {
        let table = self.table(policy);
        match table.get(key) {
            Some(record) => record,
            None => table.get_with(key.clone(), Arc::default),
        }
    }

    fn units_held(&self, key: &RateLimitKey, policy: &RateLimitPolicy) -> u64 {
        let now = self.clock.instant();
        self.table(policy).get(key).map_or(0, |record| {
            let held = record.held.lock().unwrap_or_else(|e| e.into_inner());
            if held.until.is_some_and(|until| now < until) {
                held.units
            } else {
                0
            }
        })
    }
}

#[async_trait]
impl RateLimiter for LeasingLimiter {
    async fn check(
        &self,
        key: &RateLimitKey,
        policy: &RateLimitPolicy,
        cost: u64,
    ) -> Result<RateLimitDecision, RateLimitError> {
        if cost == 0 {
            let mut look = self.source.check(key, policy, 0).await?;
            let held = self.units_held(key, policy);
            for window in &mut look.windows {
                window.remaining += held;
            }
            return Ok(look);
        }
        let record = self.record(key, policy);
        let spend = |record: &KeyLease| {
            let now = self.clock.instant();
            let mut held = record.held.lock().unwrap_or_else(|e| e.into_inner());
            held.spend(cost, now)
        };
        if let Some(decision) = spend(&record) {
            return Ok(decision);
        }
        let _refill = record.refill.lock().await;
        if let Some(decision) = spend(&record) {
            return Ok(decision);
        }
        let refund = record
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .leftovers();
        // Read before asking: the slot ends no earlier than this plus what the source says is
        // left of it, whatever the round trip took.
        let asked = self.clock.instant();
        let grant = self
            .source
            .take(key, policy, cost, self.slice(policy), refund.as_ref())
            .await?;
        let now = self.clock.instant();
        let mut held = record.held.lock().unwrap_or_else(|e| e.into_inner());
        if grant.granted == 0 {
            let wait = grant.decision.retry_after.unwrap_or(Duration::from_secs(1));
            held.refused = Some((now + wait, cost, grant.decision.clone()));
            return Ok(grant.decision);
        }
        let decision = grant.decision.clone();
        *held = Held {
            units: grant.granted - cost,
            until: Some(asked + grant.valid_for),
            slots: grant.slots,
            granted: Some((grant.decision, now)),
            refused: None,
        };
        Ok(held.report(now).unwrap_or(decision))
    }

    async fn reset(
        &self,
        key: &RateLimitKey,
        policy: &RateLimitPolicy,
    ) -> Result<(), RateLimitError> {
        self.table(policy).invalidate(key);
        self.source.reset(key, policy).await
    }
}

#[cfg(test)]
#[path = "leased_tests.rs"]
mod tests;
