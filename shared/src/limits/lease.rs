//! Leases: a warm instance spends budgets and rate allowances from slices it took from the
//! shared counters, so a request under its limits makes no store call before its model call.
//!
//! A lease is a slice of one counter (a scope's `BUDGET#`, `RPM#<minute>` or `TPM#<minute>`)
//! taken with ONE conditional update (`counter + slice <= limit`, [`LeaseBackend::take`]): the
//! counter then counts the whole slice as used, so instances together never pass a limit. The
//! instance debits each request's reservation from its slice in memory and settles the actual
//! cost into it after the response; what the slice did not use goes back when it is renewed
//! (in the same update), when this instance is refused (its remainder may serve another), when
//! it expires ([`LeasePolicy::ttl_secs`]) at the next request or settlement, or never for a
//! minute window (the window ends).
//!
//! Sizing: a slice is the request's need times a batch: 1 at first, ×4 while slices run out
//! within the second, ×2 while they last under [`LeasePolicy::refill_secs`], halved when one
//! lasts over twice that or expires; capped at [`LeasePolicy::share`] of what remains of the
//! limit (as the last update returned it), floored to whole requests and never below the need:
//! near exhaustion a slice is exactly one request's reservation. A refused update returns the
//! counter (DynamoDB's `ReturnValuesOnConditionCheckFailure`) and the slice is sized again to
//! what remains. A total seen earlier only sizes a slice; only the table's refusal refuses,
//! and a refused counter is asked again after 1, 2, 4 ... 16 s.
//!
//! Refused with budget left: an instance refuses a request only after the table refused its
//! slice, when the limit's remainder not held by other instances' slices is smaller than the
//! request's need. Those slices are each at most `share` of the remainder and about
//! `refill_secs` of their holder's traffic; they are being spent, and their unused part comes
//! back within `ttl_secs` (or at their holder's next refusal). The README states the bound and
//! BENCHMARKS.md ("Limits at scale") measures it.
//!
//! Settled spend: each settlement adds its cost, after the response, to one of
//! [`SPEND_SHARDS`] spend items of the budget period (partition `<scope partition>#SPEND#<n>`,
//! sort key the period, picked by request id), so `/key/info` and `/team/info` stay exact and
//! no single partition takes a team's whole write rate; the `used` counter itself is written
//! once per slice, not per request.
//!
//! Lost leases: an instance that is reaped while holding a budget slice never returns it; the
//! slice stays counted as used until the period ends (never overspent; at most one slice per
//! instance and counter is lost).

use std::collections::HashMap;

use futures_util::future::BoxFuture;
use tokio::sync::Mutex;

use super::plan::{rpm_sort_key, tpm_sort_key, LimitKind, ReserveError, Scope};
use super::{LimitStore, ReservationPlan, Settlement};
use crate::keys::KeyStoreError;

/// How slices are sized and how long they are held.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeasePolicy {
    /// Seconds a slice is held before what it did not use goes back.
    pub ttl_secs: u64,
    /// The largest part of a limit's remainder one slice may take (e.g. 1/8).
    pub share: f64,
    /// Seconds of this instance's traffic a slice is sized to last.
    pub refill_secs: u64,
    /// Requests' worth in a first slice.
    pub first_batch: f64,
    /// Requests' worth a slice grows to at most.
    pub max_batch: f64,
}

impl Default for LeasePolicy {
    fn default() -> Self {
        LeasePolicy {
            ttl_secs: 30,
            share: 0.125,
            refill_secs: 5,
            first_batch: 1.0,
            max_batch: 1024.0,
        }
    }
}

/// One shared counter: an item and the attribute that counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Counter {
    pub pk: String,
    pub sk: String,
    pub kind: LimitKind,
    /// Unix seconds at which DynamoDB's TTL may remove the item (`None`: never).
    pub expires_at: Option<u64>,
}

impl Counter {
    /// `used` for budgets, `count` for rate windows.
    pub fn attribute(&self) -> &'static str {
        match self.kind {
            LimitKind::Budget => "used",
            LimitKind::Rpm | LimitKind::Tpm => "count",
        }
    }
}

/// What a conditional update of a counter did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Taken {
    /// Added; the counter now holds `total`.
    Granted { total: f64 },
    /// Refused: the counter holds `total`, too much for the slice.
    Short { total: f64 },
}

/// The shared counters leases are taken from: DynamoDB, or the simulation's model of it.
pub trait LeaseBackend: Send + Sync + std::fmt::Debug {
    /// Adds `delta` to the counter and `spend` to its settled spend in ONE update, on the
    /// condition `counter + delta <= limit` when `delta > 0` and `limit` is finite
    /// (unconditionally otherwise, e.g. [`UNCONDITIONAL`]).
    fn take<'a>(
        &'a self,
        counter: &'a Counter,
        delta: f64,
        limit: f64,
        spend: f64,
    ) -> BoxFuture<'a, Result<Taken, KeyStoreError>>;

    /// Adds a settled cost to spend item `shard` of the budget counter's period.
    fn add_spend<'a>(
        &'a self,
        counter: &'a Counter,
        shard: u32,
        cost: f64,
    ) -> BoxFuture<'a, Result<(), KeyStoreError>>;

    /// The settled spend of a budget period: its spend items, plus the counter's own `spend`
    /// (written by stores that settle without leases).
    fn spend<'a>(&'a self, pk: &'a str, sk: &'a str) -> BoxFuture<'a, Result<f64, KeyStoreError>>;
}

/// Spend items per budget period.
pub const SPEND_SHARDS: u32 = 8;

/// The partition key of spend item `shard` of the scope in partition `pk`.
pub fn spend_partition_key(pk: &str, shard: u32) -> String {
    format!("{pk}#SPEND#{shard}")
}

/// The spend item a request's cost goes to.
pub fn spend_shard(request_id: &str) -> u32 {
    request_id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % SPEND_SHARDS
}

/// A slice held by this instance.
#[derive(Debug, Clone)]
struct Lease {
    counter: Counter,
    /// What is left of the slice (negative: overdrawn by answers that cost more than reserved).
    left: f64,
    /// Unix seconds the slice goes back (`0`: nothing held).
    expires_at: u64,
    taken_at: u64,
}

/// Counts of what leases did, for tests and the simulation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LeaseStats {
    /// Store updates made before a model call (takes and renewals).
    pub takes: u64,
    /// Takes the counter refused (the slice was sized again, or the request refused).
    pub short: u64,
    /// Slices given back after a response.
    pub returns: u64,
    /// Settled costs written to spend items after a response.
    pub spend_writes: u64,
    /// Requests admitted from a slice with no store call.
    pub local: u64,
}

/// A counter's recent refusals: asked again at `until`.
#[derive(Debug, Clone, Copy)]
struct Refused {
    until: u64,
    streak: u32,
}

#[derive(Debug, Default)]
struct State {
    leases: HashMap<(String, String), Lease>,
    /// Requests' worth per slice, by (partition, counter kind).
    batches: HashMap<(String, u8), f64>,
    /// The last total each counter was seen at.
    totals: HashMap<(String, String), f64>,
    /// Counters the table refused recently, and until when to refuse without asking.
    refused: HashMap<(String, String), Refused>,
    /// The latest `now` seen, to expire slices at settlement.
    now: u64,
    stats: LeaseStats,
}

/// A [`LimitStore`] that admits requests from leases taken from `B`.
#[derive(Debug)]
pub struct LeasedLimits<B> {
    backend: B,
    policy: LeasePolicy,
    state: Mutex<State>,
}

/// One counter a plan needs, with its limit and amount.
struct Need {
    index: usize,
    counter: Counter,
    limit: f64,
    amount: f64,
}

/// A budget counter outlives its period by this long, for reports.
const BUDGET_RETENTION_SECS: u64 = 35 * 86_400;
/// A rate-limit window outlives its minute by this long.
const WINDOW_RETENTION_SECS: u64 = 120;

fn needs(plan: &ReservationPlan) -> Vec<Need> {
    let minute = plan.minute();
    let window_expiry = Some((minute + 1) * 60 + WINDOW_RETENTION_SECS);
    let mut needs = Vec::new();
    for (index, scope) in plan.scopes.iter().enumerate() {
        let pk = scope.scope.partition_key();
        if let Some(budget) = &scope.budget {
            needs.push(Need {
                index,
                counter: Counter {
                    pk: pk.clone(),
                    sk: budget.period.clone(),
                    kind: LimitKind::Budget,
                    expires_at: budget.period_end.map(|end| end + BUDGET_RETENTION_SECS),
                },
                limit: budget.max,
                amount: plan.cost,
            });
        }
        for (kind, limit, sk, amount) in [
            (LimitKind::Rpm, scope.rpm_limit, rpm_sort_key(minute), 1.0),
            (
                LimitKind::Tpm,
                scope.tpm_limit,
                tpm_sort_key(minute),
                plan.tokens as f64,
            ),
        ] {
            if let Some(limit) = limit {
                needs.push(Need {
                    index,
                    counter: Counter {
                        pk: pk.clone(),
                        sk,
                        kind,
                        expires_at: window_expiry,
                    },
                    // A request is admitted while the window is under its limit (LiteLLM's
                    // rule), so its own tokens may pass it: a window of `limit` admits
                    // requests of `amount` tokens while `count + amount <= limit + amount - 1`.
                    limit: match kind {
                        LimitKind::Tpm => limit as f64 + (amount - 1.0).max(0.0),
                        _ => limit as f64,
                    },
                    amount,
                });
            }
        }
    }
    needs
}

fn kind_tag(kind: LimitKind) -> u8 {
    match kind {
        LimitKind::Budget => 0,
        LimitKind::Rpm => 1,
        LimitKind::Tpm => 2,
    }
}

/// The limit of an update that must apply whatever the counter holds (a cost already spent, a
/// slice given back): [`LeaseBackend::take`] sends no condition for it.
pub const UNCONDITIONAL: f64 = f64::INFINITY;

/// Float slack for comparing sums of USD amounts.
const EPSILON: f64 = 1e-12;

impl<B: LeaseBackend> LeasedLimits<B> {
    pub fn new(backend: B, policy: LeasePolicy) -> Self {
        LeasedLimits {
            backend,
            policy,
            state: Mutex::new(State::default()),
        }
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    pub async fn stats(&self) -> LeaseStats {
        self.state.lock().await.stats
    }

    async fn reserve_leased(&self, plan: &ReservationPlan) -> Result<(), ReserveError> {
        if let Some(refusal) = plan.refused_outright() {
            return Err(ReserveError::Refused(refusal));
        }
        let mut state = self.state.lock().await;
        state.now = state.now.max(plan.now);
        let needs = needs(plan);
        let mut called = false;
        for need in &needs {
            let key = (need.counter.pk.clone(), need.counter.sk.clone());
            let live = state.leases.get(&key).is_some_and(|lease| {
                lease.expires_at > plan.now && lease.left + EPSILON >= need.amount
            });
            if live {
                continue;
            }
            called = true;
            if let Err(kind) = self.renew(&mut state, need, plan.now).await? {
                return Err(ReserveError::Refused(plan.refusal(need.index, kind)));
            }
        }
        if !called {
            state.stats.local += 1;
        }
        for need in &needs {
            let key = (need.counter.pk.clone(), need.counter.sk.clone());
            if let Some(lease) = state.leases.get_mut(&key) {
                lease.left -= need.amount;
            }
        }
        Ok(())
    }

    /// Renews the slice of `need`'s counter (giving back what the old one left and writing its
    /// settled spend, in the same update) to fit the need; `Err(kind)` when the limit has no
    /// room left for it outside other instances' slices.
    async fn renew(
        &self,
        state: &mut State,
        need: &Need,
        now: u64,
    ) -> Result<Result<(), LimitKind>, KeyStoreError> {
        let key = (need.counter.pk.clone(), need.counter.sk.clone());
        let batch_key = (need.counter.pk.clone(), kind_tag(need.counter.kind));
        let (left, expired) = match state.leases.get(&key) {
            Some(lease) if lease.expires_at > now => (lease.left, false),
            Some(lease) => (lease.left, lease.expires_at != 0),
            None => (0.0, false),
        };
        // Slices last about `refill_secs` of this instance's traffic: one that ran out sooner
        // grows, one that lasted longer (or expired) shrinks.
        let mut batch = *state
            .batches
            .get(&batch_key)
            .unwrap_or(&self.policy.first_batch);
        if let Some(lease) = state.leases.get(&key) {
            let lasted = now.saturating_sub(lease.taken_at);
            if expired || lasted > 2 * self.policy.refill_secs {
                batch = (batch / 2.0).max(1.0);
            } else if lease.expires_at != 0 && lasted < self.policy.refill_secs {
                // Within the same second: grow faster, so a new instance of a busy scope
                // reaches its size in a few slices.
                let growth = if lasted == 0 { 4.0 } else { 2.0 };
                batch = (batch * growth).min(self.policy.max_batch);
            }
        }
        state.batches.insert(batch_key, batch);
        let mut total = state.totals.get(&key).copied().unwrap_or(0.0);
        // A total the table just returned on a refusal may refuse a request; an older one
        // only sizes the slice (the update's condition decides).
        let mut fresh = state
            .refused
            .get(&key)
            .is_some_and(|refused| now < refused.until);
        for _ in 0..4 {
            // What this instance could hold: the counter's room plus its own slice.
            let mut available = need.limit - total + left.max(0.0);
            if available + EPSILON < need.amount {
                if fresh {
                    self.refuse(state, &key, &need.counter, left, now).await?;
                    return Ok(Err(need.counter.kind));
                }
                available = need.amount.max(left);
            }
            // Whole requests' worth, so no slice keeps a remainder nobody can use.
            let requests = ((need.amount * batch).min(available * self.policy.share)
                / need.amount.max(EPSILON))
            .floor()
            .max(1.0);
            let slice = (requests * need.amount).min(available);
            let delta = slice - left;
            let taken = self
                .backend
                .take(&need.counter, delta, need.limit, 0.0)
                .await?;
            state.stats.takes += 1;
            match taken {
                Taken::Granted { total: now_total } => {
                    state.totals.insert(key.clone(), now_total);
                    state.refused.remove(&key);
                    state.leases.insert(
                        key,
                        Lease {
                            counter: need.counter.clone(),
                            left: slice,
                            expires_at: now + self.policy.ttl_secs.max(1),
                            taken_at: now,
                        },
                    );
                    return Ok(Ok(()));
                }
                Taken::Short { total: now_total } => {
                    state.stats.short += 1;
                    state.totals.insert(key.clone(), now_total);
                    total = now_total;
                    fresh = true;
                }
            }
        }
        self.refuse(state, &key, &need.counter, left, now).await?;
        Ok(Err(need.counter.kind))
    }

    /// A refusal: what is left of the slice goes back (too little for this request, maybe
    /// enough for another instance's), and the counter is not asked again for 1, 2, 4 ... up
    /// to 16 seconds while it stays refused, so an exhausted limit costs each instance at most
    /// one update a second however many requests it refuses.
    async fn refuse(
        &self,
        state: &mut State,
        key: &(String, String),
        counter: &Counter,
        left: f64,
        now: u64,
    ) -> Result<(), KeyStoreError> {
        if left > EPSILON {
            self.backend
                .take(counter, -left, UNCONDITIONAL, 0.0)
                .await?;
            state.stats.returns += 1;
            state.leases.remove(key);
        }
        let refused = state.refused.entry(key.clone()).or_insert(Refused {
            until: now,
            streak: 0,
        });
        if now >= refused.until {
            refused.until = now + (1u64 << refused.streak.min(4));
            refused.streak += 1;
        }
        Ok(())
    }

    async fn settle_leased(&self, settlement: &Settlement) -> Result<(), KeyStoreError> {
        let plan = &settlement.plan;
        let mut state = self.state.lock().await;
        state.now = state.now.max(plan.now);
        for need in needs(plan) {
            let actual = match need.counter.kind {
                LimitKind::Budget => settlement.cost,
                LimitKind::Tpm => settlement.tokens as f64,
                LimitKind::Rpm => continue,
            };
            let key = (need.counter.pk.clone(), need.counter.sk.clone());
            match state.leases.get_mut(&key) {
                Some(lease) => lease.left += need.amount - actual,
                // Reserved by another process (a replayed settlement): correct the counter.
                None if need.counter.kind == LimitKind::Budget => {
                    self.backend
                        .take(&need.counter, actual - need.amount, UNCONDITIONAL, 0.0)
                        .await?;
                    state.stats.returns += 1;
                }
                None => {}
            }
            if need.counter.kind == LimitKind::Budget && actual != 0.0 {
                let shard = spend_shard(&plan.request_id);
                self.backend.add_spend(&need.counter, shard, actual).await?;
                state.stats.spend_writes += 1;
            }
        }
        let now = state.now;
        self.return_expired(&mut state, now).await
    }

    /// Gives back what expired slices left; drops past windows.
    async fn return_expired(&self, state: &mut State, now: u64) -> Result<(), KeyStoreError> {
        let minute_sks = [rpm_sort_key(now / 60), tpm_sort_key(now / 60)];
        let expired: Vec<(String, String)> = state
            .leases
            .iter()
            .filter(|(_, lease)| lease.expires_at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in expired {
            let Some(lease) = state.leases.remove(&key) else {
                continue;
            };
            let current =
                lease.counter.kind == LimitKind::Budget || minute_sks.contains(&lease.counter.sk);
            if !current || lease.left.abs() < EPSILON {
                continue;
            }
            self.backend
                .take(&lease.counter, -lease.left, UNCONDITIONAL, 0.0)
                .await?;
            state.stats.returns += 1;
        }
        Ok(())
    }

    /// Gives back every slice (an instance shutting down, and tests).
    pub async fn return_all(&self) -> Result<(), KeyStoreError> {
        let mut state = self.state.lock().await;
        for lease in state.leases.values_mut() {
            lease.expires_at = 0;
        }
        self.return_expired(&mut state, u64::MAX / 2).await
    }
}

impl<B: LeaseBackend> LimitStore for LeasedLimits<B> {
    fn reserve<'a>(&'a self, plan: &'a ReservationPlan) -> BoxFuture<'a, Result<(), ReserveError>> {
        Box::pin(self.reserve_leased(plan))
    }

    fn settle<'a>(
        &'a self,
        settlement: &'a Settlement,
    ) -> BoxFuture<'a, Result<(), KeyStoreError>> {
        Box::pin(self.settle_leased(settlement))
    }

    fn spend<'a>(
        &'a self,
        scope: &'a Scope,
        period: &'a str,
    ) -> BoxFuture<'a, Result<f64, KeyStoreError>> {
        Box::pin(async move { self.backend.spend(&scope.partition_key(), period).await })
    }
}
