//! Time as a port, so expiry and sliding windows can be tested without sleeping.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time; injected so tests can move time by hand.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// A monotonic reading, for intervals that a step of the wall clock must neither stretch
    /// nor cut short (a circuit breaker's cool-down).
    fn instant(&self) -> Instant;

    /// The current time as whole seconds since the Unix epoch (the unit of JWT claims).
    fn unix_seconds(&self) -> u64 {
        unix_seconds(self.now())
    }
}

/// Seconds since the Unix epoch, saturating at zero for times before it.
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// Milliseconds since the Unix epoch, saturating at zero for times before it (the unit of
/// cache entry freshness, shared by every replica).
pub fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to; for tests of expiry and windows. Its wall-clock and
/// monotonic readings move together.
#[derive(Debug)]
pub struct ManualClock {
    start: SystemTime,
    origin: Instant,
    advanced: std::sync::Mutex<Duration>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: SystemTime) -> Self {
        Self {
            start,
            origin: Instant::now(),
            advanced: std::sync::Mutex::new(Duration::ZERO),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        *self.advanced() += by;
    }

    fn advanced(&self) -> std::sync::MutexGuard<'_, Duration> {
        self.advanced.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.start + *self.advanced()
    }

    fn instant(&self) -> Instant {
        self.origin + *self.advanced()
    }
}
