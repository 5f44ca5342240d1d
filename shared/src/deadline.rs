//! A request's deadline from a Lambda invocation's: calls are abandoned early enough to answer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Time kept back from the invocation's deadline to answer after abandoning a slow call.
pub const SAFETY_MARGIN: Duration = Duration::from_millis(1500);
/// 2001-09-09 in epoch millis: any real deadline is later.
pub const PLAUSIBLE_EPOCH_MS: u64 = 1_000_000_000_000;

/// The model call's deadline for an invocation due at `deadline_epoch_ms` (Lambda's
/// `context.deadline`): that instant minus [`SAFETY_MARGIN`], or minus a quarter of the remaining
/// time when that is shorter. `None` when the value cannot be a wall-clock instant (before
/// 2001): 0 when the runtime gave none, or a duration such as the `600000` that `cargo lambda
/// watch`'s emulator sends.
pub fn invocation_deadline(deadline_epoch_ms: u64, now: SystemTime) -> Option<Instant> {
    time_left(deadline_epoch_ms, now).map(|left| Instant::now() + left)
}

/// How long the model call may take, from `now`, for an invocation due at `deadline_epoch_ms`.
pub fn time_left(deadline_epoch_ms: u64, now: SystemTime) -> Option<Duration> {
    if deadline_epoch_ms < PLAUSIBLE_EPOCH_MS {
        return None;
    }
    let due = UNIX_EPOCH + Duration::from_millis(deadline_epoch_ms);
    let remaining = due.duration_since(now).unwrap_or(Duration::ZERO);
    let margin = SAFETY_MARGIN.min(remaining / 4);
    Some(remaining.saturating_sub(margin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_keeps_a_margin_back() {
        let now = SystemTime::now();
        let ms = |d: Duration| {
            now.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64 + d.as_millis() as u64
        };
        let left = |d: Duration| time_left(ms(d), now).unwrap();
        let secs = Duration::from_secs;
        // Whole milliseconds: `now` itself has sub-millisecond digits the deadline does not.
        assert!(secs(10) - SAFETY_MARGIN - left(secs(10)) < Duration::from_millis(1));
        assert!(Duration::from_millis(1500) - left(secs(2)) < Duration::from_millis(1));
        assert_eq!(
            time_left(ms(Duration::ZERO) - 5000, now),
            Some(Duration::ZERO)
        );
        assert_eq!(time_left(0, now), None, "no deadline given");
        assert_eq!(time_left(600_000, now), None, "cargo lambda's emulator");
        assert_eq!(invocation_deadline(0, now), None);
        assert!(invocation_deadline(ms(secs(10)), now).unwrap() > Instant::now());
    }
}
