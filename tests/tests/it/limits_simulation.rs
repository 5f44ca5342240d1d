//! The limits simulation at a small scale (`gateway_tests::limits_sim`, the gateway's own lease
//! code against a model of DynamoDB): many instances never overspend a shared budget, spend
//! (nearly) all of it, and a busy team's instances make at most 0.1 table calls per request
//! before the model call, within four write units per request, without throttling or
//! transaction conflicts. `limits-sim` prints the full-scale figures for BENCHMARKS.md.
// Test helpers: failing loudly is the point.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures_util::FutureExt;
use gateway::limits::{
    LeasePolicy, LeasedLimits, LimitStore, Limits, ReservationPlan, Scope, Settlement,
};
use gateway_tests::limits_sim::{run, ModelTable, Scenario};

fn scenario(instances: usize, teams: usize, team_rps: u64, leases: bool) -> Scenario {
    Scenario {
        name: "test",
        instances,
        teams,
        team_rps,
        seconds: 20,
        budget_seconds: 12.0,
        rpm_limit: Some(team_rps * 80),
        leases,
    }
}

#[test]
fn instances_sharing_a_busy_teams_budget_never_overspend_and_rarely_call_the_table() {
    // 500 and 50 requests a second per instance: each sees the team often enough for slices
    // of several requests (an instance that sees a scope once a slice's lifetime calls the
    // table for each request, as without leases, but with one UpdateItem).
    for instances in [1, 10] {
        let outcome = run(&scenario(instances, 1, 500, true));
        assert_eq!(outcome.overspend, 0.0, "{instances}: {outcome:?}");
        assert!(outcome.min_budget_spent > 0.99, "{instances}: {outcome:?}");
        assert!(
            outcome.calls_per_request_under_budget() <= 0.1,
            "{instances}: {outcome:?}"
        );
        assert!(
            outcome.write_units_per_request() <= 4.0,
            "{instances}: {outcome:?}"
        );
        assert_eq!(
            (
                outcome.table.throttles,
                outcome.table.conflicts,
                outcome.failed
            ),
            (0, 0, 0),
            "{instances}: {outcome:?}"
        );
        assert!(outcome.refused_budget > 0, "the budget ran out in the run");
    }
}

#[test]
fn many_small_teams_never_overspend() {
    let outcome = run(&scenario(20, 100, 5, true));
    assert_eq!(outcome.overspend, 0.0, "{outcome:?}");
    // Small teams seen rarely by each instance: remainders of slices come back at expiry.
    assert!(outcome.min_budget_spent > 0.8, "{outcome:?}");
    assert_eq!(outcome.failed, 0, "{outcome:?}");
}

#[test]
fn per_request_transactions_conflict_on_a_busy_team_where_leases_do_not() {
    let outcome = run(&scenario(10, 1, 500, false));
    assert!(outcome.table.conflicts > 0, "{outcome:?}");
    assert_eq!(outcome.overspend, 0.0);
}

fn plan(id: &str, now: u64, team: &str, limits: &Limits) -> ReservationPlan {
    ReservationPlan::new(
        id,
        now,
        1.0,
        10,
        Duration::from_secs(900),
        &[(Scope::Team(team.into()), limits)],
    )
    .unwrap()
}

/// Reserves and settles at the reserved cost; whether it was admitted.
fn ask(store: &LeasedLimits<ModelTable>, id: &str, now: u64, team: &str, limits: &Limits) -> bool {
    let plan = plan(id, now, team, limits);
    let admitted = store.reserve(&plan).now_or_never().unwrap().is_ok();
    if admitted {
        let settlement = Settlement {
            plan,
            cost: 1.0,
            tokens: 10,
        };
        store.settle(&settlement).now_or_never().unwrap().unwrap();
    }
    admitted
}

#[test]
fn an_unused_slice_goes_back_when_its_lease_expires_moved_by_the_clock_not_slept() {
    let table = ModelTable::default();
    // Slices not capped at a share of the remainder, so they grow in so small a budget.
    let policy = LeasePolicy {
        share: 1.0,
        ..LeasePolicy::default()
    };
    let a = LeasedLimits::new(table.clone(), policy);
    let b = LeasedLimits::new(table.clone(), policy);
    let budget = Limits::new(Some(6.0), None, 0, None, None);
    let now = 1_800_000_000;
    // A's slices grow while they run out at once: 1, then 4 requests' worth.
    for id in ["r1", "r2", "r3", "r4"] {
        assert!(ask(&a, id, now, "t", &budget));
    }
    let used = || table.counter("LIMIT#team#t", "BUDGET#all", "used");
    assert_eq!(used(), 5.0, "A holds 1 unused of 5 taken");
    // B fits one request in what is left, then the budget is all spent or held by A.
    assert!(ask(&b, "r5", now, "t", &budget));
    assert!(!ask(&b, "r6", now, "t", &budget));
    assert_eq!(used(), 6.0);
    // Past A's lease (another team's request moves A's time), A's unused part goes back.
    let other = Limits::new(Some(100.0), None, 0, None, None);
    let later = now + policy.ttl_secs + 1;
    assert!(ask(&a, "x1", later, "other", &other));
    assert_eq!(used(), 5.0);
    // B's refusal is remembered for a second; then B spends the budget to its end.
    assert!(ask(&b, "r7", later + 1, "t", &budget));
    assert!(!ask(&b, "r8", later + 1, "t", &budget));
    assert_eq!(used(), 6.0);
}
