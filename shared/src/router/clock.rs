//! The router's time: milliseconds since a per-router origin, and minute windows keyed by
//! whole minutes since that origin.
//!
//! Built on `tokio::time::Instant`, so a paused tokio clock (`tokio::time::pause`) moves it.
//! Unit tests of this crate move it with [`advance`] instead (a skew of this thread's clock),
//! as the crate does not enable tokio's `test-util`.

use std::time::Duration;

use tokio::time::Instant;

/// Milliseconds in a minute window.
const MINUTE_MS: u64 = 60_000;

/// A router's origin of time; copied into every deployment of the router.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    origin: Instant,
}

impl Clock {
    pub(crate) fn start() -> Self {
        Clock { origin: instant() }
    }

    /// Milliseconds since the origin.
    pub(super) fn now(&self) -> u64 {
        let elapsed = instant().saturating_duration_since(self.origin);
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
    }
}

/// The minute window `ms` falls in.
pub(super) fn minute(ms: u64) -> u32 {
    u32::try_from(ms / MINUTE_MS).unwrap_or(u32::MAX)
}

/// The time from `ms` until the next minute window starts (never zero, at most a minute).
pub(super) fn until_next_minute(ms: u64) -> Duration {
    Duration::from_millis(MINUTE_MS - ms % MINUTE_MS)
}

/// A duration in whole milliseconds, saturated.
pub(super) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(not(test))]
fn instant() -> Instant {
    Instant::now()
}

#[cfg(test)]
fn instant() -> Instant {
    Instant::now() + SKEW.with(std::cell::Cell::get)
}

#[cfg(test)]
thread_local! {
    static SKEW: std::cell::Cell<Duration> = const { std::cell::Cell::new(Duration::ZERO) };
}

/// Moves this thread's router clock forward (tests).
#[cfg(test)]
pub(super) fn advance(by: Duration) {
    SKEW.with(|skew| skew.set(skew.get() + by));
}
