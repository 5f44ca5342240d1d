//! Budgets and rate-limit counters kept in memory: the local server's and the tests' limit
//! store. Reservations follow the same rules as the DynamoDB store's (see [`super::plan`]),
//! under one lock.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use futures_util::future::BoxFuture;

use super::plan::{
    reservation_sort_key, rpm_sort_key, tpm_sort_key, LimitKind, ReserveError, Scope,
};
use super::{LimitStore, ReservationPlan, Settlement};
use crate::keys::KeyStoreError;

/// One budget period's counter.
#[derive(Debug, Clone, Copy, Default)]
struct Budget {
    used: f64,
    spend: f64,
}

/// An open reservation: its amount, budget counter and expiry.
#[derive(Debug, Clone)]
struct Held {
    amount: f64,
    period: String,
    expires_at: u64,
}

#[derive(Debug, Default)]
struct Counters {
    budgets: HashMap<(String, String), Budget>,
    /// Requests and tokens per (partition, `RPM#`/`TPM#` minute).
    windows: HashMap<(String, String), f64>,
    /// Open reservations by (partition, `RES#` request id).
    held: HashMap<(String, String), Held>,
}

/// Counters in memory, under one lock.
#[derive(Debug, Default)]
pub struct MemoryLimitStore {
    counters: Mutex<Counters>,
}

impl MemoryLimitStore {
    pub fn new() -> Self {
        Self::default()
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl LimitStore for MemoryLimitStore {
    fn reserve<'a>(&'a self, plan: &'a ReservationPlan) -> BoxFuture<'a, Result<(), ReserveError>> {
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        ready(counters.reserve(plan))
    }

    fn settle<'a>(
        &'a self,
        settlement: &'a Settlement,
    ) -> BoxFuture<'a, Result<(), KeyStoreError>> {
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        counters.settle(settlement);
        ready(Ok(()))
    }

    fn spend<'a>(
        &'a self,
        scope: &'a Scope,
        period: &'a str,
    ) -> BoxFuture<'a, Result<f64, KeyStoreError>> {
        let counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let spend = counters
            .budgets
            .get(&(scope.partition_key(), period.to_owned()))
            .map_or(0.0, |b| b.spend);
        ready(Ok(spend))
    }
}

impl Counters {
    fn reserve(&mut self, plan: &ReservationPlan) -> Result<(), ReserveError> {
        if let Some(refusal) = plan.refused_outright() {
            return Err(ReserveError::Refused(refusal));
        }
        self.release_expired(plan.now);
        let minute = plan.minute();
        self.windows.retain(|(_, sk), _| {
            sk.rsplit_once('#')
                .and_then(|(_, m)| m.parse::<u64>().ok())
                .is_some_and(|m| m + 1 >= minute)
        });
        for (index, scope) in plan.scopes.iter().enumerate() {
            let pk = scope.scope.partition_key();
            if let Some(budget) = &scope.budget {
                let used = self
                    .budgets
                    .get(&(pk.clone(), budget.period.clone()))
                    .map_or(0.0, |b| b.used);
                if used + plan.cost > budget.max {
                    return Err(ReserveError::Refused(
                        plan.refusal(index, LimitKind::Budget),
                    ));
                }
            }
            let window = |sk: String| self.windows.get(&(pk.clone(), sk)).copied().unwrap_or(0.0);
            if scope
                .rpm_limit
                .is_some_and(|rpm| window(rpm_sort_key(minute)) >= rpm as f64)
            {
                return Err(ReserveError::Refused(plan.refusal(index, LimitKind::Rpm)));
            }
            if scope
                .tpm_limit
                .is_some_and(|tpm| window(tpm_sort_key(minute)) >= tpm as f64)
            {
                return Err(ReserveError::Refused(plan.refusal(index, LimitKind::Tpm)));
            }
        }
        for scope in &plan.scopes {
            let pk = scope.scope.partition_key();
            if let Some(budget) = &scope.budget {
                self.budgets
                    .entry((pk.clone(), budget.period.clone()))
                    .or_default()
                    .used += plan.cost;
                self.held.insert(
                    (pk.clone(), reservation_sort_key(&plan.request_id)),
                    Held {
                        amount: plan.cost,
                        period: budget.period.clone(),
                        expires_at: plan.reservation_expires_at,
                    },
                );
            }
            if scope.rpm_limit.is_some() {
                *self
                    .windows
                    .entry((pk.clone(), rpm_sort_key(minute)))
                    .or_default() += 1.0;
            }
            if scope.tpm_limit.is_some() {
                *self.windows.entry((pk, tpm_sort_key(minute))).or_default() += plan.tokens as f64;
            }
        }
        Ok(())
    }

    fn settle(&mut self, settlement: &Settlement) {
        let plan = &settlement.plan;
        for scope in &plan.scopes {
            let pk = scope.scope.partition_key();
            if let Some(budget) = &scope.budget {
                let held = self
                    .held
                    .remove(&(pk.clone(), reservation_sort_key(&plan.request_id)));
                let counter = self
                    .budgets
                    .entry((pk.clone(), budget.period.clone()))
                    .or_default();
                // A released reservation no longer counts: add the whole cost.
                counter.used += match held {
                    Some(_) => settlement.budget_delta(),
                    None => settlement.cost,
                };
                counter.spend += settlement.cost;
            }
            if scope.tpm_limit.is_some() {
                if let Some(tokens) = self.windows.get_mut(&(pk, tpm_sort_key(plan.minute()))) {
                    *tokens += settlement.token_delta() as f64;
                }
            }
        }
    }

    /// Gives back the amounts of reservations past their expiry (requests that never settled).
    fn release_expired(&mut self, now: u64) {
        let expired: Vec<(String, String)> = self
            .held
            .iter()
            .filter(|(_, held)| held.expires_at < now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            if let Some(held) = self.held.remove(&key) {
                if let Some(budget) = self.budgets.get_mut(&(key.0.clone(), held.period)) {
                    budget.used -= held.amount;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::limits::{Limits, Refusal};

    fn plan(id: &str, now: u64, cost: f64, limits: &Limits) -> ReservationPlan {
        ReservationPlan::new(
            id,
            now,
            cost,
            5,
            Duration::from_secs(10),
            &[(Scope::Team("t".into()), limits)],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn budgets_reserve_settle_and_release_like_the_dynamodb_store() {
        let store = MemoryLimitStore::new();
        let limits = Limits::new(Some(1.0), None, 0, None, None);
        let first = plan("a", 100, 0.6, &limits);
        store.reserve(&first).await.unwrap();
        // The reservation counts until settled: a second one does not fit.
        let refused = store.reserve(&plan("b", 100, 0.6, &limits)).await;
        assert!(matches!(
            refused,
            Err(ReserveError::Refused(Refusal::Budget { .. }))
        ));
        let settlement = Settlement {
            plan: first,
            cost: 0.1,
            tokens: 5,
        };
        store.settle(&settlement).await.unwrap();
        let scope = Scope::Team("t".into());
        assert!((store.spend(&scope, "BUDGET#all").await.unwrap() - 0.1).abs() < 1e-12);
        store.reserve(&plan("b", 100, 0.6, &limits)).await.unwrap();
        // "b" never settles; after its expiry its amount is given back.
        assert!(store.reserve(&plan("c", 105, 0.6, &limits)).await.is_err());
        store.reserve(&plan("c", 111, 0.6, &limits)).await.unwrap();
    }

    #[tokio::test]
    async fn rpm_counts_per_minute() {
        let store = MemoryLimitStore::new();
        let limits = Limits::new(None, None, 0, Some(1), None);
        store.reserve(&plan("a", 120, 0.0, &limits)).await.unwrap();
        let refused = store.reserve(&plan("b", 150, 0.0, &limits)).await;
        assert!(matches!(
            refused,
            Err(ReserveError::Refused(Refusal::RateLimited { .. }))
        ));
        store.reserve(&plan("c", 180, 0.0, &limits)).await.unwrap();
    }
}
