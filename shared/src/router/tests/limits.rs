//! rpm and tpm: a deployment at its limit this minute is skipped; all at theirs, none.

use super::*;
use crate::error::GatewayError;
use crate::router::clock::advance;

#[test]
fn at_its_rpm_a_deployment_is_skipped_until_the_next_minute() {
    let mut limited = config("limited");
    limited.rpm = Some(2);
    let group = group(RoutingStrategy::LeastBusy, vec![limited, config("other")]);
    // least-busy with nothing in flight: both are picked at random.
    let counts = spread(&group, &Estimate::default(), 100);
    assert!(counts[0] > 10, "{counts:?}");
    drop(group.deployments[0].start());
    drop(group.deployments[0].start());
    assert_eq!(spread(&group, &Estimate::default(), 100), vec![0, 100]);
    advance(Duration::from_secs(60));
    assert!(spread(&group, &Estimate::default(), 100)[0] > 10);
}

#[test]
fn all_over_their_limits_is_no_deployment_until_the_minute_rolls() {
    let (mut a, mut b) = (config("a"), config("b"));
    a.rpm = Some(1);
    b.tpm = Some(100);
    let group = group(RoutingStrategy::SimpleShuffle, vec![a, b]);
    advance(Duration::from_secs(20));
    drop(group.deployments[0].start());
    succeed(&group, 1, Duration::ZERO, &usage(100, 50));
    let none = group.pick(&Estimate::default(), &[]).unwrap_err();
    assert!(none.retry_after <= Duration::from_secs(40), "{none:?}");
    assert!(none.retry_after >= Duration::from_secs(39), "{none:?}");
    advance(none.retry_after);
    assert!(group.pick(&Estimate::default(), &[]).is_ok());
}

#[test]
fn a_cooling_deployment_under_its_limits_beats_none() {
    let mut limited = config("limited");
    limited.rpm = Some(1);
    let group = group(
        RoutingStrategy::SimpleShuffle,
        vec![config("cooling"), limited],
    );
    let throttled = GatewayError::Provider(ProviderError::Throttled {
        message: "slow down".into(),
        retry_after: None,
    });
    group.deployments[0].start().failed(&throttled);
    drop(group.deployments[1].start());
    let pick = group.pick(&Estimate::default(), &[]).unwrap();
    assert_eq!((pick.index, pick.cooling_down), (0, true));
}

#[test]
fn an_empty_group_has_no_deployment() {
    let empty = group(RoutingStrategy::SimpleShuffle, Vec::new());
    let none = empty.pick(&Estimate::default(), &[]).unwrap_err();
    assert!(none.retry_after <= Duration::from_secs(60));
}
