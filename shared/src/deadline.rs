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
    if deadline_epoch_ms < PLAUSIBLE_EPOCH_MS {
        return None;
    }
    let due = UNIX_EPOCH + Duration::from_millis(deadline_epoch_ms);
    let remaining = due.duration_since(now).unwrap_or(Duration::ZERO);
    let margin = SAFETY_MARGIN.min(remaining / 4);
    Some(Instant::now() + remaining.saturating_sub(margin))
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
        assert_eq!(invocation_deadline(0, now), None);
        let start = Instant::now();
        let long = invocation_deadline(ms(Duration::from_secs(10)), now).unwrap();
        let left = long.duration_since(start);
        assert!(
            left <= Duration::from_millis(8500) && left > Duration::from_millis(8000),
            "{left:?}"
        );
        let short = invocation_deadline(ms(Duration::from_secs(2)), now).unwrap();
        let left = short.duration_since(start);
        assert!(
            left <= Duration::from_millis(1500) && left > Duration::from_millis(1000),
            "{left:?}"
        );
        let past = now.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64 - 5000;
        assert!(invocation_deadline(past, now).unwrap() <= Instant::now());
        assert_eq!(
            invocation_deadline(600_000, now),
            None,
            "cargo lambda's emulator"
        );
    }
}
