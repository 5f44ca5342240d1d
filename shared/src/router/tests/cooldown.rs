//! Cooldowns: which failures cool a deployment down, for how long, and what is picked when
//! every deployment is cooling down.

use super::*;
use crate::error::{GatewayError, TimeoutKind};
use crate::router::clock::advance;

fn provider(error: ProviderError) -> GatewayError {
    GatewayError::Provider(error)
}

fn throttled() -> GatewayError {
    provider(ProviderError::Throttled {
        message: "slow down".into(),
        retry_after: None,
    })
}

fn unavailable() -> GatewayError {
    provider(ProviderError::Unavailable("not ready".into()))
}

fn settings(allowed_fails: u32) -> RouterSettings {
    RouterSettings {
        allowed_fails: Some(allowed_fails),
        ..RouterSettings::default()
    }
}

fn fail(group: &ModelGroup, index: usize, error: &GatewayError) {
    group.deployments[index].start().failed(error);
}

fn cooling(group: &ModelGroup, index: usize) -> bool {
    group.deployments[index].state.cooling(group.clock.now())
}

#[test]
fn throttled_cools_down_at_once_and_comes_back_after_cooldown_time() {
    let group = group(
        RoutingStrategy::SimpleShuffle,
        vec![config("a"), config("b")],
    );
    fail(&group, 0, &throttled());
    assert_eq!(spread(&group, &Estimate::default(), 100), vec![0, 100]);
    advance(Duration::from_millis(4_900));
    assert!(cooling(&group, 0));
    advance(Duration::from_millis(100));
    assert!(!cooling(&group, 0), "default cooldown_time: 5 s");
    assert!(spread(&group, &Estimate::default(), 100)[0] > 20);
}

#[test]
fn misconfigured_and_call_timeouts_cool_down_at_once() {
    let with = RouterSettings {
        cooldown_time: Some(Duration::from_secs(30)),
        ..RouterSettings::default()
    };
    for error in [
        provider(ProviderError::Misconfigured("access denied".into())),
        TimeoutKind::Call.into(),
    ] {
        let group = group_with(RoutingStrategy::SimpleShuffle, &with, vec![config("a")]);
        fail(&group, 0, &error);
        advance(Duration::from_secs(29));
        assert!(cooling(&group, 0), "{error}");
        advance(Duration::from_secs(1));
        assert!(!cooling(&group, 0), "{error}");
    }
}

#[test]
fn cools_down_when_failures_this_minute_exceed_allowed_fails() {
    let group = group_with(
        RoutingStrategy::SimpleShuffle,
        &settings(2),
        vec![config("a")],
    );
    fail(&group, 0, &unavailable());
    fail(&group, 0, &provider(ProviderError::Upstream("500".into())));
    assert!(!cooling(&group, 0));
    fail(
        &group,
        0,
        &provider(ProviderError::Connect("refused".into())),
    );
    assert!(cooling(&group, 0), "the 3rd failure");
    advance(Duration::from_secs(5));
    assert!(!cooling(&group, 0));
    fail(&group, 0, &unavailable());
    assert!(!cooling(&group, 0), "the count started over");
}

#[test]
fn failures_in_different_minutes_do_not_add_up() {
    let group = group(RoutingStrategy::SimpleShuffle, vec![config("a")]);
    for _ in 0..3 {
        fail(
            &group,
            0,
            &provider(ProviderError::StreamBroken("reset".into())),
        );
    }
    advance(Duration::from_secs(60));
    fail(&group, 0, &TimeoutKind::FirstEvent.into());
    assert!(!cooling(&group, 0), "default allowed_fails: 3 a minute");
    fail(&group, 0, &TimeoutKind::Idle.into());
    fail(&group, 0, &unavailable());
    assert!(!cooling(&group, 0));
    fail(&group, 0, &unavailable());
    assert!(cooling(&group, 0));
}

#[test]
fn failures_that_are_the_requests_fault_never_count() {
    let group = group_with(
        RoutingStrategy::SimpleShuffle,
        &settings(0),
        vec![config("a")],
    );
    let errors = [
        provider(ProviderError::Rejected("bad".into())),
        provider(ProviderError::ContextWindowExceeded("long".into())),
        provider(ProviderError::ContentFiltered("no".into())),
        // The caller's own deadline (its `timeout`, or a shorter first-event limit).
        TimeoutKind::Deadline.into(),
        GatewayError::Internal("bug".into()),
        GatewayError::RateLimited {
            limit: "key rpm".into(),
            retry_after: Duration::from_secs(1),
        },
    ];
    for error in &errors {
        fail(&group, 0, error);
        assert!(!cooling(&group, 0), "{error}");
    }
    fail(&group, 0, &unavailable());
    assert!(
        cooling(&group, 0),
        "allowed_fails 0: the first counted failure"
    );
}

#[test]
fn all_cooling_picks_the_oldest_failure() {
    let group = group(
        RoutingStrategy::SimpleShuffle,
        vec![config("a"), config("b"), config("c")],
    );
    fail(&group, 1, &throttled());
    advance(Duration::from_secs(1));
    fail(&group, 0, &throttled());
    fail(&group, 2, &throttled());
    let pick = group.pick(&Estimate::default(), &[]).unwrap();
    assert_eq!((pick.index, pick.cooling_down), (1, true));
    let pick = group.pick(&Estimate::default(), &[1]).unwrap();
    assert!(pick.cooling_down && pick.index != 1, "untried first");
}
