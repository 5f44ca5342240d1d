//! Wall-clock time for what instances share through the store: rate-limit minute windows,
//! budget periods, key expiry and reservation expiry. Read through a [`WallClock`] the wiring
//! hands to the parts that need it, so tests move time forward instead of sleeping through a
//! window or a period, as the router's own clock (`router::clock`) lets its tests do. In
//! production it is the system clock: the skew is never set.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The system clock, plus a skew only tests set; clones share the skew.
#[derive(Debug, Clone, Default)]
pub struct WallClock {
    skew_ms: Arc<AtomicU64>,
}

impl WallClock {
    /// The system clock.
    pub fn system() -> Self {
        WallClock::default()
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_ms(&self) -> u64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        now.saturating_add(self.skew_ms.load(Ordering::Relaxed))
    }

    /// Seconds since the Unix epoch.
    pub fn unix_secs(&self) -> u64 {
        self.unix_ms() / 1000
    }

    /// Moves this clock, and every clone of it, forward by `by` (tests).
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.skew_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_every_clone() {
        let clock = WallClock::system();
        let shared = clock.clone();
        let before = shared.unix_secs();
        clock.advance(Duration::from_secs(3600));
        let after = shared.unix_secs();
        assert!(
            (3600..3602).contains(&(after - before)),
            "{before} -> {after}"
        );
        assert!(WallClock::system().unix_secs() < after);
    }
}
