//! latency-based-routing: the fastest, measured as a moving average.

use super::*;

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn never_measured_deployments_go_first() {
    let group = group(
        RoutingStrategy::LatencyBasedRouting,
        vec![config("a"), config("b"), config("c")],
    );
    succeed(&group, 0, SECOND, &usage(10, 10));
    succeed(&group, 1, SECOND, &usage(10, 10));
    assert_eq!(spread(&group, &Estimate::default(), 50), vec![0, 0, 50]);
}

#[test]
fn prefers_the_faster_yet_sends_about_a_tenth_elsewhere() {
    let group = group(
        RoutingStrategy::LatencyBasedRouting,
        vec![config("slow"), config("fast")],
    );
    for _ in 0..3 {
        succeed(&group, 0, 3 * SECOND, &usage(10, 10));
        succeed(&group, 1, SECOND, &usage(10, 10));
    }
    let counts = spread(&group, &Estimate::default(), 1_000);
    // Expected 100 and 900.
    assert!((50..=160).contains(&counts[0]), "{counts:?}");
}

#[test]
fn long_answers_count_per_completion_token() {
    let group = group(
        RoutingStrategy::LatencyBasedRouting,
        vec![config("short-quick"), config("long-slow")],
    );
    // 2 s for 10 tokens counts as 2 s / 50 = 40 ms a token; 10 s for 1,000 as 10 ms a token.
    succeed(&group, 0, 2 * SECOND, &usage(10, 10));
    succeed(&group, 1, 10 * SECOND, &usage(10, 1_000));
    let counts = spread(&group, &Estimate::default(), 1_000);
    assert!(counts[1] > 800, "{counts:?}");
}

#[test]
fn the_average_follows_a_deployment_that_got_slower() {
    let group = group(
        RoutingStrategy::LatencyBasedRouting,
        vec![config("a"), config("b")],
    );
    succeed(&group, 0, SECOND, &usage(10, 10));
    succeed(&group, 1, 2 * SECOND, &usage(10, 10));
    for _ in 0..5 {
        succeed(&group, 0, 5 * SECOND, &usage(10, 10));
    }
    let counts = spread(&group, &Estimate::default(), 1_000);
    assert!(counts[1] > 800, "{counts:?}");
}
