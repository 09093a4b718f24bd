//! Rate limiting: policies, decisions, the limiter port and the sliding-window arithmetic
//! every adapter shares.
//!
//! The algorithm is the *sliding window counter*: each window of period `P` keeps the count of
//! the current fixed slot and of the previous one, and estimates the requests in the last `P` as
//! `previous × (P − elapsed) / P + current`. It needs two counters per window, whatever the limit
//! (a sliding log needs one entry per request), and it is exact when the previous slot's
//! requests were spread evenly; its error is bounded by the previous slot's count times the share
//! of that slot still inside the window. Adapters must charge nothing when any window rejects.

use crate::cause::Cause;
use crate::InvalidValue;
use async_trait::async_trait;
use std::fmt;
use std::time::Duration;

/// One limit: at most `limit` cost units in any `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Cost units allowed per period.
    pub limit: u64,
    /// The period, whole seconds, at least one.
    pub period: Duration,
}

/// A set of windows applied together, e.g. `100/s,3000/min`: a burst limit and a sustained one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimitPolicy {
    windows: Vec<Window>,
}

/// Most windows one policy may hold; each costs two counters per key.
pub const MAX_WINDOWS: usize = 8;
/// Longest window period accepted (one day).
pub const MAX_PERIOD: Duration = Duration::from_secs(86_400);

impl RateLimitPolicy {
    /// A policy of the given windows (1 to 8 windows, each limit ≥ 1 and period 1 s – 1 day).
    pub fn new(windows: Vec<Window>) -> Result<Self, InvalidValue> {
        if windows.is_empty() || windows.len() > MAX_WINDOWS {
            return Err(InvalidValue::new("rate limit", "needs 1 to 8 windows"));
        }
        for w in &windows {
            if w.limit == 0 || w.limit > 1_000_000_000 {
                return Err(InvalidValue::new(
                    "rate limit",
                    "each limit must be 1 to 10^9",
                ));
            }
            if w.period < Duration::from_secs(1)
                || w.period > MAX_PERIOD
                || w.period.subsec_nanos() != 0
            {
                return Err(InvalidValue::new(
                    "rate limit",
                    "each period must be whole seconds from 1s to 1d",
                ));
            }
        }
        Ok(Self { windows })
    }

    /// Parses the operator syntax: comma-separated `LIMIT/PERIOD`, where `PERIOD` is an optional
    /// count followed by `s`, `sec`, `m`, `min`, `h`, `hour` or `d`, `day`: `100/s,3000/min`,
    /// `20/10s`.
    pub fn parse(spec: &str) -> Result<Self, InvalidValue> {
        const SYNTAX: &str = "expected LIMIT/PERIOD[,LIMIT/PERIOD...], e.g. 100/s,3000/min";
        let bad = || InvalidValue::new("rate limit", SYNTAX);
        let windows = spec
            .split(',')
            .map(|part| {
                let (limit, period) = part.trim().split_once('/').ok_or_else(bad)?;
                let limit: u64 = limit.trim().parse().map_err(|_| bad())?;
                let period = period.trim();
                let digits = period.bytes().take_while(u8::is_ascii_digit).count();
                let (count, unit) = period.split_at(digits);
                let count: u64 = if count.is_empty() {
                    1
                } else {
                    count.parse().map_err(|_| bad())?
                };
                let unit_secs = match unit {
                    "s" | "sec" | "second" => 1,
                    "m" | "min" | "minute" => 60,
                    "h" | "hour" => 3600,
                    "d" | "day" => 86_400,
                    _ => return Err(bad()),
                };
                let secs = count.checked_mul(unit_secs).ok_or_else(bad)?;
                Ok(Window {
                    limit,
                    period: Duration::from_secs(secs),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(windows)
    }

    /// The windows, in the order they were configured.
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }
}

impl std::str::FromStr for RateLimitPolicy {
    type Err = InvalidValue;

    /// See [`RateLimitPolicy::parse`]; lets configuration parsers (clap) read policies directly.
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        Self::parse(spec)
    }
}

impl fmt::Display for RateLimitPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, w) in self.windows.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}/{}s", w.limit, w.period.as_secs())?;
        }
        Ok(())
    }
}

/// What is being limited: a subject, a client IP, a username at login. Built by the caller with
/// a prefix naming the kind, so a subject can never share a counter with an IP address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RateLimitKey(String);

impl RateLimitKey {
    /// A key of the given kind (`sub`, `ip`, `login-user`, ...) and value.
    pub fn new(kind: &str, value: &str) -> Self {
        Self(format!("{kind}:{value}"))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The state of one window after a decision, for the `RateLimit` response headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowState {
    /// The window's limit.
    pub limit: u64,
    /// Cost units still available in the window.
    pub remaining: u64,
    /// Time until the window's current slot ends.
    pub reset: Duration,
}

/// The outcome of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimitDecision {
    /// Whether the request may proceed (and was charged).
    pub allowed: bool,
    /// One state per policy window, in policy order.
    pub windows: Vec<WindowState>,
    /// For a rejected request: how long until the same request would be allowed.
    pub retry_after: Option<Duration>,
    /// For a rejected request: the window that rejects it longest (index into `windows`),
    /// whose wait `retry_after` is.
    pub limited_by: Option<usize>,
}

impl RateLimitDecision {
    /// Whole seconds to wait before retrying a rejected request: `retry_after` rounded up, at
    /// least 1. `Retry-After` and the `RateLimit` header's `t` both say this, so they agree, and
    /// rounding up keeps it true.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after
            .map(|wait| wait.as_secs_f64().ceil().max(1.0) as u64)
    }

    /// Whether one more unit fits in every window. For a zero-cost check this says whether a
    /// check of cost 1 would have been allowed, without charging it.
    pub fn has_room(&self) -> bool {
        self.windows.iter().all(|w| w.remaining >= 1)
    }

    /// The window closest to its limit: the one the `RateLimit` header reports.
    pub fn tightest(&self) -> Option<(usize, &WindowState)> {
        self.windows
            .iter()
            .enumerate()
            .min_by_key(|(_, w)| (w.remaining, std::cmp::Reverse(w.reset)))
    }
}

/// Why a limiter could not decide; the caller applies its configured degradation mode.
#[derive(Debug, thiserror::Error)]
#[error("rate limiter unavailable")]
pub struct RateLimitError(#[source] pub Cause);

/// Decides whether a request may proceed under a policy, charging `cost` to every window of the
/// key when (and only when) all of them allow it.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Checks and, if allowed, charges `cost` atomically across all of the policy's windows.
    /// A `cost` of 0 reads the windows and writes nothing: callers that charge only outcomes
    /// (failed logins) look before they act, and an unused key costs no state.
    async fn check(
        &self,
        key: &RateLimitKey,
        policy: &RateLimitPolicy,
        cost: u64,
    ) -> Result<RateLimitDecision, RateLimitError>;

    /// Forgets everything charged to `key` under `policy`: a login that succeeds clears the
    /// failures counted against it, as brute-force detectors do.
    async fn reset(
        &self,
        key: &RateLimitKey,
        policy: &RateLimitPolicy,
    ) -> Result<(), RateLimitError>;
}

/// The counters of one window for one key, as an adapter reads them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotCounts {
    /// Cost charged in the previous fixed slot.
    pub previous: u64,
    /// Cost charged in the current fixed slot.
    pub current: u64,
}

/// Where `now_ms` falls in a window of `period_ms`: the current slot's index and the
/// milliseconds elapsed in it.
pub fn slot_position(now_ms: u64, period_ms: u64) -> (u64, u64) {
    (now_ms / period_ms, now_ms % period_ms)
}

/// The sliding-window decision, shared by every adapter so they cannot drift apart.
/// `counts[i]` belongs to `policy.windows()[i]`; `elapsed_ms[i]` is the time into window i's
/// current slot. The caller charges `cost` to every current slot iff the result is allowed.
pub fn decide(
    policy: &RateLimitPolicy,
    counts: &[SlotCounts],
    elapsed_ms: &[u64],
    cost: u64,
) -> RateLimitDecision {
    let mut allowed = true;
    let mut retry_after = Duration::ZERO;
    let mut limited_by = None;
    let mut estimates = Vec::with_capacity(policy.windows.len());
    for (i, ((w, c), &elapsed)) in policy
        .windows
        .iter()
        .zip(counts)
        .zip(elapsed_ms)
        .enumerate()
    {
        let period = w.period.as_millis() as f64;
        // Same operations in the same order as the Redis script, so both round alike.
        let estimate = c.previous as f64 * (period - elapsed as f64) / period + c.current as f64;
        if estimate + cost as f64 > w.limit as f64 {
            let wait = wait_until_fits(w, *c, elapsed, cost);
            if allowed || wait > retry_after {
                (retry_after, limited_by) = (wait, Some(i));
            }
            allowed = false;
        }
        estimates.push(estimate);
    }
    let charged = if allowed { cost as f64 } else { 0.0 };
    let windows = policy
        .windows
        .iter()
        .zip(&estimates)
        .zip(elapsed_ms)
        .map(|((w, estimate), &elapsed)| WindowState {
            limit: w.limit,
            remaining: (w.limit as f64 - estimate - charged).max(0.0).floor() as u64,
            reset: w.period.saturating_sub(Duration::from_millis(elapsed)),
        })
        .collect();
    RateLimitDecision {
        allowed,
        windows,
        retry_after: (!allowed).then_some(retry_after),
        limited_by,
    }
}

/// How long until `cost` more fits in window `w`, assuming no other traffic meanwhile.
fn wait_until_fits(w: &Window, counts: SlotCounts, elapsed_ms: u64, cost: u64) -> Duration {
    let period = w.period.as_millis() as f64;
    let limit = w.limit as f64;
    let (prev, cur, cost_f) = (counts.previous as f64, counts.current as f64, cost as f64);
    if cost > w.limit {
        // Can never fit; tell the caller to come back after a whole period.
        return w.period;
    }
    let wait_ms = if cur + cost_f <= limit && prev > 0.0 {
        // The previous slot's weight decays within this slot until the request fits.
        let target_weight = (limit - cur - cost_f) / prev;
        (period * (1.0 - target_weight) - elapsed_ms as f64).max(0.0)
    } else {
        // Wait for the next slot, where the current count becomes the decaying previous one.
        let to_next = period - elapsed_ms as f64;
        let into_next = if cur > 0.0 {
            (period * (1.0 - (limit - cost_f) / cur)).max(0.0)
        } else {
            0.0
        };
        to_next + into_next
    };
    // Round up to whole milliseconds, but not for float noise (60 000 × 0.04 is 2400.000…2).
    Duration::from_millis((wait_ms - 1e-6).max(0.0).ceil() as u64)
}

#[cfg(test)]
#[path = "ratelimit_tests.rs"]
mod tests;
