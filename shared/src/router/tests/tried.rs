//! `tried`: avoided while another deployment is usable, allowed again when none is.

use super::*;
use crate::error::GatewayError;

#[test]
fn tried_deployments_are_avoided_then_allowed_again() {
    let group = group(
        RoutingStrategy::SimpleShuffle,
        vec![config("a"), config("b")],
    );
    for _ in 0..50 {
        assert_eq!(pick_id(&group, &[0]), "b");
    }
    let mut seen = [false; 2];
    for _ in 0..100 {
        let pick = group.pick(&Estimate::default(), &[0, 1]).unwrap();
        assert!(!pick.cooling_down);
        seen[pick.index] = true;
    }
    assert_eq!(seen, [true, true], "both tried: either, as a retry");
    let single = super::group(RoutingStrategy::SimpleShuffle, vec![config("only")]);
    assert_eq!(pick_id(&single, &[0]), "only");
}

#[test]
fn a_tried_deployment_comes_before_one_cooling_down() {
    let group = group(RoutingStrategy::LeastBusy, vec![config("a"), config("b")]);
    let throttled = GatewayError::Provider(ProviderError::Throttled {
        message: "slow down".into(),
        retry_after: None,
    });
    group.deployments[0].start().failed(&throttled);
    let pick = group.pick(&Estimate::default(), &[1]).unwrap();
    assert_eq!((pick.index, pick.cooling_down), (1, false));
}
