//! LiteLLM's `max_parallel_requests` on keys and teams: at most that many requests of one key
//! (or one team's keys) in flight at once; one more is a 429 (`rate_limit_error`).
//!
//! Held twice over: in this instance's memory (no store call while a Lambda environment serves
//! its one request) and, when the keys are in DynamoDB, across every instance with TTL'd slots
//! ([`SharedSlots`]). A slot is an item `pk = PARALLEL#<scope>`, `sk = SLOT#<n>` for `n` below
//! the limit, taken with a conditional put (free, or its lease over) and given back with a
//! conditional delete (only by its owner). A request that crashes cannot hold its slot for
//! ever: the lease ends with the request's own deadline (plus [`LEASE_MARGIN`]), and the
//! table's TTL (`expires_at`) removes the item later. A stream holds its slots until it ends
//! (the HTTP edge drops the [`ParallelPermit`] with the body).
//!
//! Scopes: `key#<hash>` and `team#<id>`. Refused when any scope is full; slots taken before a
//! refusal are given back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;

use super::KeyStoreError;

/// How long past the request's deadline a slot stays taken if it is never given back.
pub const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// A slot's lease when the request has no deadline (a local server): Lambda's longest run.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15 * 60);

/// One limit to hold: a scope and its `max_parallel_requests`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParallelLimit {
    pub scope: String,
    pub max: u64,
    /// How the refusal names it (`key max_parallel_requests`).
    pub label: &'static str,
}

/// Slots shared by every instance (the DynamoDB table).
pub trait SharedSlots: Send + Sync {
    /// Takes a free slot of `scope` (fewer than `max` live ones) for `lease`; its owner id,
    /// or `None` when all `max` are taken.
    fn take<'a>(
        &'a self,
        scope: &'a str,
        max: u64,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Option<String>, KeyStoreError>>;

    /// Gives back the slot `owner` holds in `scope` (a no-op if its lease ended and another
    /// request took it).
    fn give_back<'a>(
        &'a self,
        scope: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<(), KeyStoreError>>;
}

/// Why a request may not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParallelRefusal {
    /// The scope labelled so is full.
    Full(&'static str),
    /// The shared slots could not be read or written.
    Store(KeyStoreError),
}

/// The instance's counts, and the shared slots if the keys are shared.
#[derive(Default)]
pub struct ParallelLimiter {
    local: Arc<Mutex<HashMap<String, u64>>>,
    shared: Option<Arc<dyn SharedSlots>>,
}

impl std::fmt::Debug for ParallelLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelLimiter")
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

impl ParallelLimiter {
    pub fn new(shared: Option<Arc<dyn SharedSlots>>) -> Self {
        ParallelLimiter {
            local: Arc::default(),
            shared,
        }
    }

    /// Requests of `scope` in flight in this instance.
    pub fn in_flight(&self, scope: &str) -> u64 {
        let local = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        local.get(scope).copied().unwrap_or(0)
    }

    /// Takes a slot of every limit, or none: the permit gives them back when dropped.
    pub async fn acquire(
        &self,
        limits: &[ParallelLimit],
        lease: Duration,
    ) -> Result<ParallelPermit, ParallelRefusal> {
        let mut permit = ParallelPermit {
            local: Arc::clone(&self.local),
            shared: self.shared.clone(),
            held: Vec::new(),
        };
        for limit in limits {
            {
                let mut local = self.local.lock().unwrap_or_else(PoisonError::into_inner);
                let count = local.entry(limit.scope.clone()).or_insert(0);
                if *count >= limit.max {
                    return Err(ParallelRefusal::Full(limit.label));
                }
                *count += 1;
            }
            permit.held.push((limit.scope.clone(), None));
            if let Some(shared) = &self.shared {
                match shared.take(&limit.scope, limit.max, lease).await {
                    Ok(Some(owner)) => {
                        if let Some(last) = permit.held.last_mut() {
                            last.1 = Some(owner);
                        }
                    }
                    Ok(None) => return Err(ParallelRefusal::Full(limit.label)),
                    Err(err) => return Err(ParallelRefusal::Store(err)),
                }
            }
        }
        Ok(permit)
    }
}

/// Slots held by one request; given back when dropped (or at once with [`Self::release`]).
#[must_use = "the slots are given back when the permit is dropped"]
pub struct ParallelPermit {
    local: Arc<Mutex<HashMap<String, u64>>>,
    shared: Option<Arc<dyn SharedSlots>>,
    /// Scope and, with shared slots, the owner id of the slot taken.
    held: Vec<(String, Option<String>)>,
}

impl ParallelPermit {
    /// A permit that holds nothing (no limit applies).
    pub fn none() -> Self {
        ParallelPermit {
            local: Arc::default(),
            shared: None,
            held: Vec::new(),
        }
    }

    /// Gives the slots back now, waiting for the shared ones.
    pub async fn release(mut self) {
        let held = std::mem::take(&mut self.held);
        self.give_back_local(&held);
        if let Some(shared) = self.shared.take() {
            give_back_shared(shared, held).await;
        }
    }

    fn give_back_local(&self, held: &[(String, Option<String>)]) {
        let mut local = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        for (scope, _) in held {
            if let Some(count) = local.get_mut(scope) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    local.remove(scope);
                }
            }
        }
    }
}

impl Drop for ParallelPermit {
    fn drop(&mut self) {
        let held = std::mem::take(&mut self.held);
        if held.is_empty() {
            return;
        }
        self.give_back_local(&held);
        // Dropped without `release` (a stream ended, a client went away): the shared slots go
        // back in the background; if the environment freezes first, their lease ends them.
        if let Some(shared) = self.shared.take() {
            if held.iter().any(|(_, owner)| owner.is_some()) {
                if let Ok(handle) = tokio::runtime::Handle::try_current() {
                    handle.spawn(give_back_shared(shared, held));
                }
            }
        }
    }
}

async fn give_back_shared(shared: Arc<dyn SharedSlots>, held: Vec<(String, Option<String>)>) {
    for (scope, owner) in held {
        if let Some(owner) = owner {
            if let Err(err) = shared.give_back(&scope, &owner).await {
                tracing::warn!(error = %err, "a parallel-request slot was not given back; its lease ends it");
            }
        }
    }
}

/// Unix seconds now.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(scope: &str, max: u64) -> ParallelLimit {
        ParallelLimit {
            scope: scope.into(),
            max,
            label: "key max_parallel_requests",
        }
    }

    #[tokio::test]
    async fn a_full_scope_refuses_and_a_dropped_permit_frees_it() {
        let limiter = ParallelLimiter::new(None);
        let lease = Duration::from_secs(60);
        let first = limiter.acquire(&[limit("k", 1)], lease).await.unwrap();
        assert_eq!(
            limiter.acquire(&[limit("k", 1)], lease).await.err(),
            Some(ParallelRefusal::Full("key max_parallel_requests"))
        );
        drop(first);
        assert_eq!(limiter.in_flight("k"), 0);
        let again = limiter.acquire(&[limit("k", 1)], lease).await.unwrap();
        again.release().await;
        assert_eq!(limiter.in_flight("k"), 0);
    }

    #[tokio::test]
    async fn a_refusal_gives_back_what_it_took() {
        let limiter = ParallelLimiter::new(None);
        let lease = Duration::from_secs(60);
        let team = limiter.acquire(&[limit("t", 1)], lease).await.unwrap();
        let refused = limiter
            .acquire(&[limit("k", 5), limit("t", 1)], lease)
            .await;
        assert!(refused.is_err());
        assert_eq!(limiter.in_flight("k"), 0, "the key's slot was given back");
        drop(team);
    }
}
