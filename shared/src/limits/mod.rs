//! Budgets and rate limits: what a request reserves before its model call and settles after it
//! ([`plan`] has the plans, the counters' layout and the rules), and the [`LimitStore`] that
//! keeps the counters: [`MemoryLimitStore`] for the local server and the tests,
//! [`DynamoLimitStore`] in the one DynamoDB table. Who a request runs for, and which limits
//! apply to it, is [`crate::keys`]'s; each key store hands out the limit store beside it
//! (`KeyStore::limits`).
//!
//! Time: a store reads no clock of its own. Every plan carries `now`, read by the pipeline from
//! the injected [`crate::clock::WallClock`], and the store judges windows, periods and
//! reservation expiry by it, so tests move that clock instead of sleeping.

pub(crate) mod dynamodb;
mod dynamodb_lease;
pub mod lease;
mod memory;
pub mod plan;

use futures_util::future::BoxFuture;

pub use dynamodb::DynamoLimitStore;
pub use lease::{LeaseBackend, LeasePolicy, LeasedLimits};
pub use memory::MemoryLimitStore;
pub use plan::{
    budget_sort_key, reservation_sort_key, rpm_sort_key, tpm_sort_key, BudgetPeriod, BudgetPlan,
    LimitKind, Limits, Refusal, ReservationPlan, ReserveError, Scope, ScopePlan, Settlement,
};

use crate::keys::KeyStoreError;

/// The budget and rate-limit counters of keys and teams. Async because the real one is
/// DynamoDB.
pub trait LimitStore: Send + Sync + std::fmt::Debug {
    /// Takes the plan's budget reservations and rate-limit counts at once, or none of them.
    fn reserve<'a>(&'a self, plan: &'a ReservationPlan) -> BoxFuture<'a, Result<(), ReserveError>>;

    /// Replaces a reservation by what the request actually cost and used.
    fn settle<'a>(&'a self, settlement: &'a Settlement)
        -> BoxFuture<'a, Result<(), KeyStoreError>>;

    /// The spend (settled, USD) of a scope's budget period `period` ([`budget_sort_key`]).
    fn spend<'a>(
        &'a self,
        scope: &'a Scope,
        period: &'a str,
    ) -> BoxFuture<'a, Result<f64, KeyStoreError>>;
}
