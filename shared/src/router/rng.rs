//! A small, fast random number generator for picking deployments: xorshift64* per thread,
//! seeded from the system clock and a process-wide counter (no crate; routing needs spread,
//! not cryptographic quality).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static SEEDS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

/// SplitMix64 of the clock and a counter, so threads started together differ; never zero.
fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let count = SEEDS.fetch_add(1, Ordering::Relaxed);
    let mut z = nanos ^ count.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) | 1
}

fn next_u64() -> u64 {
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// A uniform number in `[0, 1)`.
pub(super) fn unit() -> f64 {
    (next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform index below `n` (0 when `n` is 0).
pub(super) fn below(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    // Lemire's multiply-shift: bias below 2^-64 per pick for the group sizes seen here.
    ((u128::from(next_u64()) * n as u128) >> 64) as usize
}
