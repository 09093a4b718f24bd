//! A circuit breaker: after repeated failures a dependency is not called at all for a while, so
//! a dead Redis costs callers nothing instead of one timeout each; then one probe at a time
//! finds out whether it is back.

use crate::clock::{Clock, SystemClock};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the breaker currently lets through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls fail fast until the cool-down ends.
    Open,
    /// One probe is allowed through to test recovery.
    HalfOpen,
}

impl BreakerState {
    /// The gauge value exported for operators: 0 closed, 1 open, 2 half-open.
    pub fn as_gauge(&self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::Open => 1,
            Self::HalfOpen => 2,
        }
    }
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probe_started: Instant },
}

/// Counts consecutive failures; opens at `threshold`, stays open for `cool_down`.
#[derive(Debug)]
pub struct CircuitBreaker {
    state: Mutex<State>,
    threshold: u32,
    cool_down: Duration,
    clock: Arc<dyn Clock>,
}

impl CircuitBreaker {
    /// Opens after `threshold` consecutive failures, for `cool_down`.
    pub fn new(threshold: u32, cool_down: Duration) -> Self {
        Self {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold: threshold.max(1),
            cool_down,
            clock: Arc::new(SystemClock),
        }
    }

    /// Reads time from `clock` instead of the system's, so a test can end a cool-down by
    /// advancing a manual clock instead of sleeping through it.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a call may be made now. When the cool-down is over, exactly one caller is let
    /// through as a probe; a probe that never reports back is replaced after another cool-down.
    pub fn allow(&self) -> bool {
        let mut state = self.lock();
        let now = self.clock.instant();
        match *state {
            State::Closed { .. } => true,
            State::Open { until } if now >= until => {
                *state = State::HalfOpen { probe_started: now };
                true
            }
            State::Open { .. } => false,
            State::HalfOpen { probe_started } if now >= probe_started + self.cool_down => {
                *state = State::HalfOpen { probe_started: now };
                true
            }
            State::HalfOpen { .. } => false,
        }
    }

    /// The call succeeded: the dependency is healthy.
    pub fn record_success(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    /// The call failed: count it, and open when the threshold is reached or a probe failed.
    pub fn record_failure(&self) {
        let mut state = self.lock();
        let open = State::Open {
            until: self.clock.instant() + self.cool_down,
        };
        *state = match *state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => open,
        };
    }

    /// The current state, for metrics and readiness detail.
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if self.clock.instant() >= until => BreakerState::HalfOpen,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::time::SystemTime;

    #[test]
    fn opens_after_the_threshold_and_probes_after_the_cool_down() {
        let clock = Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH));
        let cool_down = Duration::from_millis(30);
        let breaker = CircuitBreaker::new(3, cool_down).with_clock(clock.clone());
        for _ in 0..2 {
            assert!(breaker.allow());
            breaker.record_failure();
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.record_failure();
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(!breaker.allow(), "open: fail fast");
        clock.advance(cool_down - Duration::from_millis(1));
        assert!(!breaker.allow(), "still cooling down");
        clock.advance(Duration::from_millis(1));
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert!(breaker.allow(), "one probe after the cool-down");
        assert!(!breaker.allow(), "only one probe at a time");
        breaker.record_failure();
        assert!(!breaker.allow(), "a failed probe opens again");
        clock.advance(cool_down);
        assert!(breaker.allow());
        breaker.record_success();
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(breaker.allow() && breaker.allow());
    }

    #[test]
    fn a_probe_that_never_reports_back_is_replaced_after_another_cool_down() {
        let clock = Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH));
        let cool_down = Duration::from_secs(5);
        let breaker = CircuitBreaker::new(1, cool_down).with_clock(clock.clone());
        breaker.record_failure();
        clock.advance(cool_down);
        assert!(breaker.allow(), "the first probe");
        clock.advance(cool_down - Duration::from_millis(1));
        assert!(!breaker.allow(), "the probe is still out");
        clock.advance(Duration::from_millis(1));
        assert!(breaker.allow(), "a lost probe is replaced");
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let breaker = CircuitBreaker::new(2, Duration::from_secs(60));
        breaker.record_failure();
        breaker.record_success();
        breaker.record_failure();
        assert_eq!(breaker.state(), BreakerState::Closed);
    }
}
