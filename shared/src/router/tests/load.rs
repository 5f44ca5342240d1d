//! least-busy (calls in flight) and usage-based routing (tokens this minute).

use super::*;
use crate::router::clock::advance;

#[test]
fn least_busy_picks_the_fewest_in_flight() {
    let group = group(
        RoutingStrategy::LeastBusy,
        vec![config("a"), config("b"), config("c")],
    );
    let held = [
        group.deployments[0].start(),
        group.deployments[0].start(),
        group.deployments[1].start(),
    ];
    assert_eq!(spread(&group, &Estimate::default(), 30), vec![0, 0, 30]);
    let on_c = group.deployments[2].start();
    let counts = spread(&group, &Estimate::default(), 200);
    assert_eq!(counts[0], 0, "{counts:?}");
    assert!(
        counts[1] > 50 && counts[2] > 50,
        "ties at random: {counts:?}"
    );
    drop(held);
    on_c.failed(&crate::error::GatewayError::Internal("x".into()));
    let counts = spread(&group, &Estimate::default(), 300);
    assert!(counts.iter().all(|&n| n > 50), "all idle again: {counts:?}");
}

#[test]
fn usage_based_picks_the_fewest_tokens_this_minute() {
    for strategy in [
        RoutingStrategy::UsageBasedRouting,
        RoutingStrategy::UsageBasedRoutingV2,
    ] {
        let group = group(strategy, vec![config("a"), config("b"), config("c")]);
        succeed(&group, 0, Duration::ZERO, &usage(900, 100));
        succeed(&group, 1, Duration::ZERO, &usage(90, 10));
        assert_eq!(spread(&group, &Estimate::default(), 20), vec![0, 0, 20]);
        succeed(&group, 2, Duration::ZERO, &usage(4_000, 1_000));
        assert_eq!(spread(&group, &Estimate::default(), 20), vec![0, 20, 0]);
        advance(Duration::from_secs(60));
        let counts = spread(&group, &Estimate::default(), 300);
        assert!(counts.iter().all(|&n| n > 50), "a new minute: {counts:?}");
    }
}
