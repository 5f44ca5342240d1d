//! What the router knows of one deployment, all in atomics so picking never takes a lock:
//! calls in flight, this minute's requests, tokens and failures, the cooldown and the last
//! failure (milliseconds since the router's origin), and the latency average.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::clock::minute;
use super::health::{Policy, Verdict};
use super::latency::Ewma;
use super::window::MinuteCount;

#[derive(Debug, Default)]
pub(super) struct State {
    in_flight: AtomicU32,
    requests: MinuteCount,
    tokens: MinuteCount,
    failures: MinuteCount,
    /// Cooling down while now is before this.
    cooldown_until: AtomicU64,
    last_failure: AtomicU64,
    pub(super) latency: Ewma,
}

impl State {
    pub(super) fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub(super) fn requests(&self, now: u64) -> u32 {
        self.requests.get(minute(now))
    }

    pub(super) fn tokens(&self, now: u64) -> u32 {
        self.tokens.get(minute(now))
    }

    pub(super) fn cooling(&self, now: u64) -> bool {
        now < self.cooldown_until.load(Ordering::Relaxed)
    }

    pub(super) fn last_failure(&self) -> u64 {
        self.last_failure.load(Ordering::Relaxed)
    }

    /// A call starts: in flight, and one more request this minute.
    pub(super) fn start(&self, now: u64) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.requests.add(minute(now), 1);
    }

    /// A call ends, however it ended.
    pub(super) fn finish(&self) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    pub(super) fn used(&self, now: u64, tokens: u32) {
        self.tokens.add(minute(now), tokens);
    }

    /// A failure with its verdict, under `policy`.
    pub(super) fn failed(&self, now: u64, verdict: Verdict, policy: Policy) {
        let cool_down = match verdict {
            Verdict::Ignore => return,
            Verdict::CoolDown => true,
            Verdict::Count => self.failures.add(minute(now), 1) > policy.allowed_fails,
        };
        self.last_failure.fetch_max(now, Ordering::Relaxed);
        if cool_down {
            self.cooldown_until
                .fetch_max(now.saturating_add(policy.cooldown_ms), Ordering::Relaxed);
            self.failures.reset(minute(now));
        }
    }
}
