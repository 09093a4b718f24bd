//! The in-process sliding-window limiter.

use async_trait::async_trait;
use portcullis_domain::clock::{Clock, SystemClock};
use portcullis_domain::quota::{grant_size, QuotaGrant, QuotaRefund, QuotaSource};
use portcullis_domain::ratelimit::{
    decide, slot_position, RateLimitDecision, RateLimitError, RateLimitKey, RateLimitPolicy,
    RateLimiter, SlotCounts,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

/// Most window counters kept at once by default. Every counter has the same size (a 128-bit key
/// digest, the period, the slot, two counts and when it was charged: 56 bytes, up to about 120
/// with the map's spare capacity), so this bounds the limiter at roughly 30 MiB whatever keys
/// callers send: room for 40,000 failed logins' counters, or 130,000 client addresses'.
pub const DEFAULT_MAX_ENTRIES: usize = 1 << 18;

/// A window counter's identity: a digest of the key (so a long key costs no more memory than a
/// short one) and the window's period in milliseconds.
type SlotId = ([u8; 16], u64);

fn slot_id(key: &RateLimitKey, period_ms: u64) -> SlotId {
    let digest = Sha256::digest(key.as_str().as_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    (id, period_ms)
}

#[derive(Clone, Copy)]
struct Slot {
    index: u64,
    counts: SlotCounts,
    /// When it was last charged: what eviction goes by.
    touched_ms: u64,
}

impl Slot {
    /// The counts with `units` charged in slot `charged_in` taken off again, where that slot is
    /// still the current or the previous one.
    fn refunded(self, charged_in: u64, units: u64) -> SlotCounts {
        let mut counts = self.counts;
        if self.index == charged_in {
            counts.current = counts.current.saturating_sub(units);
        } else if self.index == charged_in + 1 {
            counts.previous = counts.previous.saturating_sub(units);
        }
        counts
    }

    /// The counts as seen from `index`: a slot one step old becomes the previous one.
    fn at(self, index: u64) -> SlotCounts {
        match index.checked_sub(self.index) {
            Some(0) => self.counts,
            Some(1) => SlotCounts {
                previous: self.counts.current,
                current: 0,
            },
            _ => SlotCounts::default(),
        }
    }
}

#[derive(Default)]
struct State {
    slots: HashMap<SlotId, Slot>,
    prune_at: usize,
}

/// Limits within one process. One lock guards all keys, which keeps a multi-window decision
/// atomic; stale keys are pruned whenever the map has doubled since the last prune, and beyond
/// `max_entries` the least recently charged counters are evicted, so no stream of distinct keys
/// can grow it without bound.
#[derive(Clone)]
pub struct LocalRateLimiter {
    clock: Arc<dyn Clock>,
    state: Arc<Mutex<State>>,
    max_entries: usize,
}

impl std::fmt::Debug for LocalRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRateLimiter").finish_non_exhaustive()
    }
}

impl Default for LocalRateLimiter {
    fn default() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }
}

impl LocalRateLimiter {
    /// A limiter on the given clock (tests move a manual clock).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self::bounded(clock, DEFAULT_MAX_ENTRIES)
    }

    /// A limiter keeping at most `max_entries` window counters (at least 1024).
    pub fn bounded(clock: Arc<dyn Clock>, max_entries: usize) -> Self {
        Self {
            clock,
            state: Arc::default(),
            max_entries: max_entries.max(1024),
        }
    }

    fn now_ms(&self) -> u64 {
        self.clock
            .now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// One key's windows under one policy as seen at one moment: which counters, where each
/// window's slot is, and the counts from there. A check and a take both decide from it and
/// charge through it.
struct View {
    ids: Vec<SlotId>,
    positions: Vec<(u64, u64)>,
    counts: Vec<SlotCounts>,
    elapsed: Vec<u64>,
}

impl View {
    fn of(state: &State, key: &RateLimitKey, policy: &RateLimitPolicy, now_ms: u64) -> Self {
        let (mut ids, mut positions, mut counts) = (Vec::new(), Vec::new(), Vec::new());
        for w in policy.windows() {
            let period_ms = w.period.as_millis() as u64;
            let id = slot_id(key, period_ms);
            let (index, elapsed) = slot_position(now_ms, period_ms);
            counts.push(
                state
                    .slots
                    .get(&id)
                    .map(|s| s.at(index))
                    .unwrap_or_default(),
            );
            ids.push(id);
            positions.push((index, elapsed));
        }
        let elapsed = positions.iter().map(|(_, e)| *e).collect();
        Self {
            ids,
            positions,
            counts,
            elapsed,
        }
    }

    /// The slot index of each window.
    fn slots(&self) -> Vec<u64> {
        self.positions.iter().map(|(index, _)| *index).collect()
    }

    /// Adds `units` to every window's current slot.
    fn charge(self, state: &mut State, units: u64, now_ms: u64, max_entries: usize) {
        for ((id, (index, _)), counts) in
            self.ids.into_iter().zip(&self.positions).zip(&self.counts)
        {
            let counts = SlotCounts {
                previous: counts.previous,
                current: counts.current + units,
            };
            let slot = Slot {
                index: *index,
                counts,
                touched_ms: now_ms,
            };
            state.slots.insert(id, slot);
        }
        prune(state, now_ms, max_entries);
    }
}

#[async_trait]
impl RateLimiter for LocalRateLimiter {
    async fn check(
        &self,
        key: &RateLimitKey,
        policy: &RateLimitPolicy,
        cost: u64,
    ) -> Result<RateLimitDecision, RateLimitError> {
        let now_ms = self.now_ms();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let view = View::of(&state, key, policy, now_ms);
        let decision = decide(policy, &view.counts, &view.elapsed, cost);
        if decision.allowed && cost > 0 {
            view.charge(&mut state, cost, now_ms, self.max_entries);
        }
        Ok(decision)
    }

    async fn reset(
        &self,
        key: &RateLimitKey,
        policy: &RateLimitPolicy,
    ) -> Result<(), RateLimitError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for w in policy.windows() {
            state
                .slots
                .remove(&slot_id(key, w.period.as_millis() as u64));
        }
        Ok(())
    }
}

#[async_trait]
impl QuotaSource for LocalRateLimiter {
    async fn take(
        &self,
        key: &RateLimitKey,
        policy: &RateLimitPolicy,
        cost: u64,
        slice: u64,
        refund: Option<&QuotaRefund>,
    ) -> Result<QuotaGrant, RateLimitError> {
        let now_ms = self.now_ms();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(refund) = refund.filter(|r| r.units > 0) {
            for (w, &charged_in) in policy.windows().iter().zip(&refund.slots) {
                let id = slot_id(key, w.period.as_millis() as u64);
                if let Some(slot) = state.slots.get_mut(&id) {
                    slot.counts = slot.refunded(charged_in, refund.units);
                }
            }
        }
        let view = View::of(&state, key, policy, now_ms);
        let room = decide(policy, &view.counts, &view.elapsed, 0)
            .windows
            .iter()
            .map(|w| w.remaining)
            .min()
            .unwrap_or(0);
        let granted = grant_size(room, cost, slice);
        let decision = decide(policy, &view.counts, &view.elapsed, granted.max(cost));
        let (slots, valid_for) = (view.slots(), valid_for(policy, &view.elapsed));
        if granted > 0 {
            view.charge(&mut state, granted, now_ms, self.max_entries);
        }
        Ok(QuotaGrant {
            granted,
            decision,
            slots,
            valid_for,
        })
    }
}

/// Until the shortest window's current slot ends: what a grant may be spent in. The elapsed
/// time is whole milliseconds, floored, so up to one more may already have passed: the grant
/// ends a millisecond early rather than spill into the next slot.
pub(crate) fn valid_for(policy: &RateLimitPolicy, elapsed_ms: &[u64]) -> std::time::Duration {
    policy
        .windows()
        .iter()
        .zip(elapsed_ms)
        .map(|(w, &elapsed)| {
            w.period
                .saturating_sub(std::time::Duration::from_millis(elapsed + 1))
        })
        .min()
        .unwrap_or_default()
}

/// Drops keys whose slots are too old to matter, once the map has doubled since the last prune
/// or reached `max_entries`; if it is still over `max_entries`, evicts the counters charged
/// longest ago until a quarter of the room is free.
fn prune(state: &mut State, now_ms: u64, max_entries: usize) {
    if state.slots.len() < state.prune_at.max(1024).min(max_entries + 1) {
        return;
    }
    state
        .slots
        .retain(|(_, period_ms), slot| now_ms / period_ms <= slot.index + 1);
    if state.slots.len() > max_entries {
        let keep = max_entries - max_entries / 4;
        let mut starts: Vec<u64> = state.slots.values().map(|slot| slot.touched_ms).collect();
        let cut = starts.len() - keep;
        let (_, threshold, _) = starts.select_nth_unstable(cut);
        let threshold = *threshold;
        state.slots.retain(|_, slot| slot.touched_ms >= threshold);
        tracing::warn!(
            max_entries,
            kept = state.slots.len(),
            "in-process limiter full: evicted the least recently charged counters"
        );
    }
    state.prune_at = state.slots.len() * 2;
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_domain::clock::ManualClock;
    use std::time::{Duration, SystemTime};

    #[tokio::test]
    async fn passes_the_rate_limiter_contract() {
        portcullis_domain::testkit::rate_limiter::run(Arc::new(LocalRateLimiter::default())).await;
    }

    #[tokio::test]
    async fn the_window_slides_with_time() {
        let clock = Arc::new(ManualClock::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
        ));
        let limiter = LocalRateLimiter::with_clock(clock.clone());
        let key = RateLimitKey::new("sub", "alice");
        let policy = RateLimitPolicy::parse("10/10s").unwrap();
        for _ in 0..10 {
            assert!(limiter.check(&key, &policy, 1).await.unwrap().allowed);
        }
        assert!(!limiter.check(&key, &policy, 1).await.unwrap().allowed);
        // Into the next slot by 30%: the previous 10 weigh 7, so 3 more fit.
        clock.advance(Duration::from_secs(13));
        for _ in 0..3 {
            assert!(limiter.check(&key, &policy, 1).await.unwrap().allowed);
        }
        assert!(!limiter.check(&key, &policy, 1).await.unwrap().allowed);
        // Two full periods later everything is forgotten.
        clock.advance(Duration::from_secs(20));
        let d = limiter.check(&key, &policy, 1).await.unwrap();
        assert!(d.allowed);
        assert_eq!(d.windows[0].remaining, 9);
    }

    #[tokio::test]
    async fn a_steady_rate_at_the_limit_is_never_rejected() {
        let clock = Arc::new(ManualClock::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(5_000_000),
        ));
        let limiter = LocalRateLimiter::with_clock(clock.clone());
        let key = RateLimitKey::new("sub", "steady");
        let policy = RateLimitPolicy::parse("10/s").unwrap();
        // One request every 112 ms for a minute (8.9/s): a steady rate just under the limit.
        for i in 0..536 {
            let d = limiter.check(&key, &policy, 1).await.unwrap();
            assert!(
                d.allowed,
                "request {i} rejected at a steady rate within the limit"
            );
            clock.advance(Duration::from_millis(112));
        }
    }

    #[tokio::test]
    async fn stale_keys_are_pruned() {
        let clock = Arc::new(ManualClock::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_000),
        ));
        let limiter = LocalRateLimiter::with_clock(clock.clone());
        let policy = RateLimitPolicy::parse("1/s").unwrap();
        for i in 0..1024 {
            limiter
                .check(&RateLimitKey::new("ip", &i.to_string()), &policy, 1)
                .await
                .unwrap();
        }
        clock.advance(Duration::from_secs(5));
        // The last prune ran at 1024 keys, so the next is due at 2048: then the 1024 stale keys
        // go and the 1024 fresh ones stay.
        for i in 0..1024 {
            limiter
                .check(&RateLimitKey::new("ip", &format!("fresh{i}")), &policy, 1)
                .await
                .unwrap();
        }
        assert_eq!(limiter.state.lock().unwrap().slots.len(), 1024);
    }

    #[tokio::test]
    async fn distinct_keys_never_grow_it_past_its_bound() {
        let clock = Arc::new(ManualClock::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_000),
        ));
        let limiter = LocalRateLimiter::bounded(clock.clone(), 2048);
        let policy = RateLimitPolicy::parse("5/min,20/h,50/d").unwrap();
        for i in 0..10_000 {
            let key = RateLimitKey::new("login-user", &format!("{i}{}", "x".repeat(1000)));
            limiter.check(&key, &policy, 1).await.unwrap();
            clock.advance(Duration::from_millis(10));
        }
        let len = limiter.state.lock().unwrap().slots.len();
        assert!(len <= 2048, "{len} counters kept");
        // The newest key survived the evictions and still counts.
        let newest = RateLimitKey::new("login-user", &format!("9999{}", "x".repeat(1000)));
        let d = limiter.check(&newest, &policy, 1).await.unwrap();
        assert_eq!(d.windows[0].remaining, 3);
    }
}
