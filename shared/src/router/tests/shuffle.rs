//! simple-shuffle: weighted random.

use super::*;
use crate::router::group::weights;

#[test]
fn spreads_by_weight() {
    let mut configs = vec![config("a"), config("b"), config("c")];
    configs[0].weight = Some(1.0);
    configs[1].weight = Some(3.0);
    // `c` has no weight: 1.
    let group = group(RoutingStrategy::SimpleShuffle, configs);
    let counts = spread(&group, &Estimate::default(), 1_000);
    // Expected 200, 600, 200.
    assert!((140..=260).contains(&counts[0]), "{counts:?}");
    assert!((520..=680).contains(&counts[1]), "{counts:?}");
    assert!((140..=260).contains(&counts[2]), "{counts:?}");
}

#[test]
fn without_weights_spreads_evenly() {
    let group = group(
        RoutingStrategy::SimpleShuffle,
        vec![config("a"), config("b")],
    );
    let counts = spread(&group, &Estimate::default(), 1_000);
    assert!((420..=580).contains(&counts[0]), "{counts:?}");
}

#[test]
fn weights_by_rpm_then_tpm_when_no_weight_is_set() {
    let (mut a, mut b, c) = (config("a"), config("b"), config("c"));
    a.rpm = Some(10);
    b.rpm = Some(30);
    assert_eq!(weights(&[&a, &b, &c]), vec![10.0, 30.0, 20.0]);
    a.tpm = Some(1);
    let (mut x, mut y) = (config("x"), config("y"));
    x.tpm = Some(100);
    y.tpm = Some(300);
    assert_eq!(weights(&[&x, &y]), vec![100.0, 300.0]);
    b.weight = Some(2.0);
    assert_eq!(weights(&[&a, &b, &c]), vec![1.0, 2.0, 1.0], "weight wins");
    assert_eq!(weights(&[&c, &x]), vec![100.0, 100.0]);
}
