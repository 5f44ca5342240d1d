//! Budgets and rate limits as data: what one request must reserve before its model call
//! ([`ReservationPlan`]), what it settles afterwards ([`Settlement`]), and why a reservation can
//! be refused ([`Refusal`]).
//!
//! Every counter lives under the scope it limits (`LIMIT#key#<hash>` or `LIMIT#team#<id>`):
//! `BUDGET#<period start>` (or `BUDGET#all` without `budget_duration`) holds `used` (settled
//! spend plus open reservations, what the budget is checked against) and `spend` (settled
//! only); `RPM#<unix minute>` counts requests, `TPM#<unix minute>` tokens; `RES#<request id>`
//! is one open reservation (its amount and budget period). Windows and reservations carry
//! `expires_at`, so DynamoDB's TTL removes them.
//!
//! A reservation is the request's maximum cost: its estimated input and its `max_tokens` (or
//! the pipeline's default) at the highest price of the deployments it may be routed to. A
//! budget admits it only if `used + cost <= max_budget`, so parallel requests cannot together
//! overspend. Settling replaces the reservation by the actual cost. A request that crashed
//! never settles: its `RES#` item says until when its amount counts; once past, the next
//! request refused for that budget releases it (deletes the item and subtracts the amount in
//! one transaction) and tries again. So a crash holds budget for at most the reservation TTL,
//! and costs nothing while budgets are not exhausted.

use std::borrow::Cow;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::GatewayError;
use crate::keys::{parse_duration, KeyStoreError};

/// A budget that resets every `secs`, counted from `anchor` (the key's or team's creation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetPeriod {
    pub secs: u64,
    pub anchor: u64,
}

impl BudgetPeriod {
    /// The start of the period holding `now` (Unix seconds).
    pub fn start(&self, now: u64) -> u64 {
        let since = now.saturating_sub(self.anchor);
        self.anchor + since / self.secs.max(1) * self.secs.max(1)
    }

    pub fn end(&self, now: u64) -> u64 {
        self.start(now) + self.secs
    }
}

/// A key's or team's budget and rate limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// USD per period (or in total without a period).
    pub max_budget: Option<f64>,
    pub budget_period: Option<BudgetPeriod>,
    pub rpm_limit: Option<u64>,
    pub tpm_limit: Option<u64>,
}

impl Limits {
    /// `budget_duration` that does not parse means no reset (the admin API refuses it first).
    pub fn new(
        max_budget: Option<f64>,
        budget_duration: Option<&str>,
        anchor: u64,
        rpm_limit: Option<u64>,
        tpm_limit: Option<u64>,
    ) -> Limits {
        Limits {
            max_budget,
            budget_period: budget_duration
                .and_then(parse_duration)
                .map(|d| BudgetPeriod {
                    secs: d.as_secs(),
                    anchor,
                }),
            rpm_limit,
            tpm_limit,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.max_budget.is_none() && self.rpm_limit.is_none() && self.tpm_limit.is_none()
    }

    /// The sort key of the budget counter for `now`.
    pub fn budget_sort_key(&self, now: u64) -> String {
        budget_sort_key(self.budget_period.map(|p| p.start(now)))
    }
}

/// What a counter belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// A virtual key, by its full hash.
    Key(String),
    Team(String),
    /// A user (`user_id`), across all of its keys.
    User(String),
}

impl Scope {
    /// The partition every counter of this scope lives in.
    pub fn partition_key(&self) -> String {
        match self {
            Scope::Key(hash) => format!("LIMIT#key#{hash}"),
            Scope::Team(id) => format!("LIMIT#team#{id}"),
            Scope::User(id) => format!("LIMIT#user#{id}"),
        }
    }

    /// How errors and logs name it: `key <hash prefix>` or `team <id>`.
    pub fn label(&self) -> String {
        match self {
            Scope::Key(hash) => format!("key {}", hash.get(..12).unwrap_or(hash)),
            Scope::Team(id) => format!("team {id}"),
            Scope::User(id) => format!("user {id}"),
        }
    }
}

/// `BUDGET#<period start>`, or `BUDGET#all` for a budget that never resets.
pub fn budget_sort_key(period_start: Option<u64>) -> String {
    match period_start {
        Some(start) => format!("BUDGET#{start}"),
        None => "BUDGET#all".to_owned(),
    }
}

pub fn rpm_sort_key(minute: u64) -> String {
    format!("RPM#{minute}")
}

pub fn tpm_sort_key(minute: u64) -> String {
    format!("TPM#{minute}")
}

pub fn reservation_sort_key(request_id: &str) -> String {
    format!("RES#{request_id}")
}

/// A budget to reserve against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetPlan {
    pub max: f64,
    /// The counter's sort key (`BUDGET#...`).
    pub period: String,
    /// Unix seconds the period ends (`None`: never).
    pub period_end: Option<u64>,
}

/// One scope's part of a reservation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopePlan {
    pub scope: Scope,
    pub budget: Option<BudgetPlan>,
    pub rpm_limit: Option<u64>,
    pub tpm_limit: Option<u64>,
}

/// Everything one request reserves before its model call, in one conditional write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReservationPlan {
    pub request_id: String,
    /// Unix seconds when the plan was made.
    pub now: u64,
    /// The request's maximum cost, USD.
    pub cost: f64,
    /// The request's estimated tokens (counted against TPM now, corrected when settled).
    pub tokens: u64,
    /// Unix seconds after which an unsettled reservation may be released.
    pub reservation_expires_at: u64,
    pub scopes: Vec<ScopePlan>,
}

impl ReservationPlan {
    /// The plan for a request under `scopes` (key first, then team); `None` when nothing limits
    /// it.
    pub fn new(
        request_id: &str,
        now: u64,
        cost: f64,
        tokens: u64,
        reservation_ttl: Duration,
        scopes: &[(Scope, &Limits)],
    ) -> Option<ReservationPlan> {
        let scopes: Vec<ScopePlan> = scopes
            .iter()
            .filter(|(_, limits)| !limits.is_empty())
            .map(|(scope, limits)| ScopePlan {
                scope: scope.clone(),
                budget: limits.max_budget.map(|max| BudgetPlan {
                    max,
                    period: limits.budget_sort_key(now),
                    period_end: limits.budget_period.map(|p| p.end(now)),
                }),
                rpm_limit: limits.rpm_limit,
                tpm_limit: limits.tpm_limit,
            })
            .collect();
        (!scopes.is_empty()).then(|| ReservationPlan {
            request_id: request_id.to_owned(),
            now,
            cost: cost.max(0.0),
            tokens,
            reservation_expires_at: now + reservation_ttl.as_secs().max(1),
            scopes,
        })
    }

    /// A refusal no counter needs to be read for: a zero (or negative) budget, a request whose
    /// reservation alone exceeds its budget, or a zero RPM or TPM limit. Both stores ask this
    /// first, so their conditions only ever compare against a limit a request could fit in: a
    /// counter that does not exist yet reads as 0, which is then always within the limit.
    pub fn refused_outright(&self) -> Option<Refusal> {
        self.scopes.iter().enumerate().find_map(|(index, scope)| {
            if let Some(budget) = &scope.budget {
                if budget.max <= 0.0 || self.cost > budget.max {
                    return Some(self.refusal(index, LimitKind::Budget));
                }
            }
            if scope.rpm_limit == Some(0) {
                return Some(self.refusal(index, LimitKind::Rpm));
            }
            if scope.tpm_limit == Some(0) {
                return Some(self.refusal(index, LimitKind::Tpm));
            }
            None
        })
    }

    /// The Unix minute the rate-limit windows are counted in.
    pub fn minute(&self) -> u64 {
        self.now / 60
    }

    /// Whether anything is left to settle after the response (a budget or a token count).
    pub fn needs_settlement(&self) -> bool {
        self.scopes
            .iter()
            .any(|s| s.budget.is_some() || s.tpm_limit.is_some())
    }

    /// The error for a refusal of `kind` in scope number `index`.
    pub fn refusal(&self, index: usize, kind: LimitKind) -> Refusal {
        let label = self
            .scopes
            .get(index)
            .map_or_else(|| "limit".to_owned(), |s| s.scope.label());
        let next_minute = Duration::from_secs(((self.minute() + 1) * 60).saturating_sub(self.now));
        match kind {
            LimitKind::Budget => Refusal::Budget {
                scope: label,
                retry_after: self
                    .scopes
                    .get(index)
                    .and_then(|s| s.budget.as_ref())
                    .and_then(|b| b.period_end)
                    .map(|end| Duration::from_secs(end.saturating_sub(self.now).max(1))),
            },
            LimitKind::Rpm => Refusal::RateLimited {
                limit: format!("{label} rpm"),
                retry_after: next_minute,
            },
            LimitKind::Tpm => Refusal::RateLimited {
                limit: format!("{label} tpm"),
                retry_after: next_minute,
            },
        }
    }
}

/// Which counter refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Budget,
    Rpm,
    Tpm,
}

/// A reservation the limits did not admit.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    Budget {
        scope: String,
        retry_after: Option<Duration>,
    },
    RateLimited {
        limit: String,
        retry_after: Duration,
    },
}

impl From<Refusal> for GatewayError {
    fn from(refusal: Refusal) -> GatewayError {
        match refusal {
            Refusal::Budget { scope, retry_after } => GatewayError::BudgetExceeded {
                scope: Cow::Owned(scope),
                retry_after,
            },
            Refusal::RateLimited { limit, retry_after } => GatewayError::RateLimited {
                limit: Cow::Owned(limit),
                retry_after,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReserveError {
    #[error("refused: {0:?}")]
    Refused(Refusal),
    #[error(transparent)]
    Store(#[from] KeyStoreError),
}

/// What a request actually cost, to replace its reservation. Serialized, it is the
/// replayable fallback line of a settlement that could not be written (`usage::fallback`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settlement {
    pub plan: ReservationPlan,
    /// USD (0 when the request failed before a model answered, or the price is unknown).
    pub cost: f64,
    pub tokens: u64,
}

impl Settlement {
    /// What settling changes in the scope's `used` budget counter.
    pub fn budget_delta(&self) -> f64 {
        self.cost - self.plan.cost
    }

    /// What settling changes in the minute's token counter.
    pub fn token_delta(&self) -> i64 {
        i64::try_from(self.tokens).unwrap_or(i64::MAX)
            - i64::try_from(self.plan.tokens).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_count_from_the_anchor() {
        let p = BudgetPeriod {
            secs: 100,
            anchor: 1_000,
        };
        assert_eq!(p.start(1_000), 1_000);
        assert_eq!(p.start(1_099), 1_000);
        assert_eq!(p.start(1_250), 1_200);
        assert_eq!(p.end(1_250), 1_300);
        assert_eq!(p.start(10), 1_000);
    }

    #[test]
    fn zero_limits_and_reservations_over_the_budget_are_refused_outright() {
        let plan = |cost: f64, limits: &Limits| {
            ReservationPlan::new(
                "r",
                0,
                cost,
                5,
                Duration::from_secs(60),
                &[(Scope::Team("t".into()), limits)],
            )
            .unwrap()
        };
        let budget = |max: f64| Limits::new(Some(max), None, 0, None, None);
        assert!(matches!(
            plan(0.0, &budget(0.0)).refused_outright(),
            Some(Refusal::Budget { .. })
        ));
        assert!(plan(0.2, &budget(0.1)).refused_outright().is_some());
        assert_eq!(plan(0.1, &budget(0.1)).refused_outright(), None);
        let rpm = Limits::new(None, None, 0, Some(0), None);
        let tpm = Limits::new(None, None, 0, None, Some(0));
        for (limits, name) in [(rpm, "team t rpm"), (tpm, "team t tpm")] {
            match plan(0.0, &limits).refused_outright() {
                Some(Refusal::RateLimited { limit, .. }) => assert_eq!(limit, name),
                other => panic!("{other:?}"),
            }
        }
        let open = Limits::new(Some(1.0), None, 0, Some(1), Some(1));
        assert_eq!(plan(0.5, &open).refused_outright(), None);
    }

    #[test]
    fn plans_skip_scopes_without_limits_and_name_refusals() {
        let key = Limits::new(Some(1.0), Some("1h"), 0, Some(5), None);
        let team = Limits::default();
        assert!(ReservationPlan::new(
            "r",
            10,
            0.1,
            5,
            Duration::from_secs(60),
            &[(Scope::Team("t".into()), &team)]
        )
        .is_none());
        let plan = ReservationPlan::new(
            "r",
            3_610,
            0.1,
            5,
            Duration::from_secs(60),
            &[
                (Scope::Key("ab".repeat(32)), &key),
                (Scope::Team("t".into()), &team),
            ],
        )
        .unwrap();
        assert_eq!(plan.scopes.len(), 1);
        let budget = plan.scopes[0].budget.as_ref().unwrap();
        assert_eq!(budget.period, "BUDGET#3600");
        assert_eq!(budget.period_end, Some(7_200));
        assert_eq!(plan.reservation_expires_at, 3_670);
        assert_eq!(
            plan.refusal(0, LimitKind::Budget),
            Refusal::Budget {
                scope: "key abababababab".into(),
                retry_after: Some(Duration::from_secs(3_590))
            }
        );
        assert_eq!(
            plan.refusal(0, LimitKind::Rpm),
            Refusal::RateLimited {
                limit: "key abababababab rpm".into(),
                retry_after: Duration::from_secs(50)
            }
        );
        assert!(plan.needs_settlement());
    }
}
