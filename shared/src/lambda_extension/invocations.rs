//! Lambda: which invocations have finished (their response sent, their jobs submitted), by
//! request id, so the after-response extension holds the sandbox for exactly the invocation its
//! INVOKE event names.
//!
//! Matching by id, not counting signals, keeps one missed INVOKE event (an emulator that
//! starts the function before the extension's first `/next`, which Lambda itself never does)
//! from shifting every later hold onto the wrong invocation.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;

/// Finished ids kept for an extension that has not asked yet; far more than one sandbox needs.
const KEPT: usize = 64;

/// How long an event may name an invocation this process has not started before the hold gives
/// up on it. In Lambda the runtime receives the invocation as the extension receives its event.
const UNKNOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Default)]
struct State {
    /// The invocation the runtime is working on.
    current: Option<String>,
    /// Finished and not yet waited for, oldest first.
    finished: VecDeque<String>,
}

#[derive(Default)]
pub(crate) struct Invocations {
    state: Mutex<State>,
    changed: Notify,
}

impl Invocations {
    pub(crate) fn started(&self, request_id: &str) {
        self.lock().current = Some(request_id.to_owned());
        self.changed.notify_waiters();
    }

    /// The invocation the runtime is working on, if any.
    pub(crate) fn current(&self) -> Option<String> {
        self.lock().current.clone()
    }

    /// `request_id` (or, without one, the current invocation) has finished.
    pub(crate) fn finished(&self, request_id: Option<String>) {
        let mut state = self.lock();
        let id = match request_id {
            Some(id) => {
                if state.current.as_deref() == Some(id.as_str()) {
                    state.current = None;
                }
                Some(id)
            }
            None => state.current.take(),
        };
        if let Some(id) = id {
            state.finished.push_back(id);
            if state.finished.len() > KEPT {
                state.finished.pop_front();
            }
        }
        drop(state);
        self.changed.notify_waiters();
    }

    /// Waits until `request_id` has finished, or, while this process has not started it, at
    /// most [`UNKNOWN_GRACE`].
    pub(crate) async fn wait_for(&self, request_id: &str) {
        let unknown_until = tokio::time::Instant::now() + UNKNOWN_GRACE;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let running = {
                let mut state = self.lock();
                if let Some(at) = state.finished.iter().position(|id| id == request_id) {
                    state.finished.remove(at);
                    return;
                }
                state.current.as_deref() == Some(request_id)
            };
            if running {
                changed.await;
            } else if tokio::time::timeout_at(unknown_until, changed)
                .await
                .is_err()
            {
                tracing::debug!(
                    request_id,
                    "an event for an invocation this process did not start; not held"
                );
                return;
            }
        }
    }

    /// How many finished invocations wait to be taken (tests).
    #[cfg(test)]
    pub(crate) fn finished_count(&self) -> usize {
        self.lock().finished.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
