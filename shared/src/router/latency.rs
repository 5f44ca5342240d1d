//! Latency-based routing's measure of a deployment: an exponentially weighted moving average
//! (EWMA) of seconds per completion token, kept as `f64` bits in an `AtomicU64`.
//!
//! The rule: an answer of at least [`MIN_TOKENS`] completion tokens counts as its latency per
//! completion token; a shorter one counts as its whole latency (divided by the same constant
//! [`MIN_TOKENS`], so both kinds of answer are on one scale: among short answers the order is
//! that of their whole latencies, and the measure does not jump at the threshold). Per-token
//! latency makes long and short answers comparable; the floor keeps a one-token answer, whose
//! time is all time-to-first-token, from looking very slow per token.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Answers shorter than this count as their whole latency.
pub(super) const MIN_TOKENS: u32 = 50;

/// The weight of the newest sample: about the mean of the last 2/ALPHA - 1 = 9 answers.
const ALPHA: f64 = 0.2;

/// The sample one answer gives.
pub(super) fn sample(latency: Duration, completion_tokens: u32) -> f64 {
    latency.as_secs_f64() / f64::from(completion_tokens.max(MIN_TOKENS))
}

#[derive(Debug)]
pub(super) struct Ewma(AtomicU64);

impl Default for Ewma {
    /// Never measured.
    fn default() -> Self {
        Ewma(AtomicU64::new(f64::NAN.to_bits()))
    }
}

impl Ewma {
    /// The average, `None` while never measured.
    pub(super) fn get(&self) -> Option<f64> {
        let value = f64::from_bits(self.0.load(Ordering::Relaxed));
        (!value.is_nan()).then_some(value)
    }

    pub(super) fn record(&self, sample: f64) {
        if !sample.is_finite() {
            return;
        }
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                let old = f64::from_bits(bits);
                let new = if old.is_nan() {
                    sample
                } else {
                    ALPHA * sample + (1.0 - ALPHA) * old
                };
                Some(new.to_bits())
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_answers_count_whole_long_ones_per_token() {
        let second = Duration::from_secs(1);
        assert_eq!(sample(second, 1), sample(second, MIN_TOKENS));
        assert!(sample(second, 200) < sample(second, 100));
        let ewma = Ewma::default();
        assert_eq!(ewma.get(), None);
        ewma.record(1.0);
        ewma.record(2.0);
        let average = ewma.get().unwrap();
        assert!((average - 1.2).abs() < 1e-12, "{average}");
    }
}
