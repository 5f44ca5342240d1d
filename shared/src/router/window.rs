//! A count within one minute window, lock-free: the window's index and the count packed in one
//! `AtomicU64` (index in the high 32 bits), so a new minute resets the count in the same
//! compare-and-swap that adds to it.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(super) struct MinuteCount(AtomicU64);

fn pack(minute: u32, count: u32) -> u64 {
    (u64::from(minute) << 32) | u64::from(count)
}

fn unpack(packed: u64) -> (u32, u32) {
    ((packed >> 32) as u32, packed as u32)
}

impl MinuteCount {
    /// The count in `minute` (0 once that window has passed).
    pub(super) fn get(&self, minute: u32) -> u32 {
        match unpack(self.0.load(Ordering::Relaxed)) {
            (stored, count) if stored == minute => count,
            _ => 0,
        }
    }

    /// Adds `n` in `minute` and answers the new count. A caller that read the clock just before
    /// another moved the window on adds to the newer window rather than turn it back.
    pub(super) fn add(&self, minute: u32, n: u32) -> u32 {
        let mut count = 0;
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |packed| {
                let (stored, old) = unpack(packed);
                let (window, base) = if stored >= minute {
                    (stored, old)
                } else {
                    (minute, 0)
                };
                count = base.saturating_add(n);
                Some(pack(window, count))
            });
        count
    }

    /// Starts `minute` over from zero.
    pub(super) fn reset(&self, minute: u32) {
        self.0.store(pack(minute, 0), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::MinuteCount;

    #[test]
    fn counts_within_a_minute_and_restarts_in_the_next() {
        let count = MinuteCount::default();
        assert_eq!(count.add(3, 2), 2);
        assert_eq!(count.add(3, 5), 7);
        assert_eq!((count.get(3), count.get(4)), (7, 0));
        assert_eq!(count.add(4, 1), 1);
        assert_eq!(count.add(3, 1), 2, "a late caller adds to the newer window");
        count.reset(4);
        assert_eq!(count.get(4), 0);
    }
}
