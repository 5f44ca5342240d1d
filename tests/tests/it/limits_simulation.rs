//! The limits simulation at a small scale (`gateway_tests::limits_sim`, the gateway's own lease
//! code against a model of DynamoDB): many instances never overspend a shared budget, spend
//! (nearly) all of it, and a busy team's instances make at most 0.1 table calls per request
//! before the model call, within four write units per request, without throttling or
//! transaction conflicts. `limits-sim` prints the full-scale figures for BENCHMARKS.md.

use gateway_tests::limits_sim::{run, Scenario};

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
    assert!(outcome.min_budget_spent > 0.85, "{outcome:?}");
    assert_eq!(outcome.failed, 0, "{outcome:?}");
}

#[test]
fn per_request_transactions_conflict_on_a_busy_team_where_leases_do_not() {
    let outcome = run(&scenario(10, 1, 500, false));
    assert!(outcome.table.conflicts > 0, "{outcome:?}");
    assert_eq!(outcome.overspend, 0.0);
}
