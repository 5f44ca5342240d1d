//! The routing strategies: which of the usable deployments a pick takes (see the module docs
//! of `router` for the rules). Ties are broken at random.

use super::group::ModelGroup;
use super::pick::Estimate;
use super::rng;
use crate::config::RoutingStrategy;

/// The share of latency-based picks sent to another deployment than the fastest, so one that
/// recovered (or got slower) is measured again.
const EXPLORE: f64 = 0.1;

/// One of `candidates` (indices into the group's deployments), by the group's strategy.
pub(super) fn choose(
    group: &ModelGroup,
    candidates: &[usize],
    estimate: &Estimate,
    now: u64,
) -> Option<usize> {
    let deployments = &group.deployments;
    match group.strategy {
        RoutingStrategy::SimpleShuffle => weighted(candidates, &group.weights),
        RoutingStrategy::CostBasedRouting => lowest(candidates, |i| {
            deployments
                .get(i)
                .and_then(|d| d.price())
                .map_or(f64::INFINITY, |price| {
                    f64::from(estimate.input_tokens) * price.input_per_token
                        + f64::from(estimate.output_tokens) * price.output_per_token
                })
        }),
        RoutingStrategy::LatencyBasedRouting => fastest(candidates, |i| {
            deployments.get(i).and_then(|d| d.state.latency.get())
        }),
        RoutingStrategy::LeastBusy => lowest(candidates, |i| {
            deployments.get(i).map_or(u32::MAX, |d| d.state.in_flight())
        }),
        RoutingStrategy::UsageBasedRouting | RoutingStrategy::UsageBasedRoutingV2 => {
            lowest(candidates, |i| {
                deployments.get(i).map_or(u32::MAX, |d| d.state.tokens(now))
            })
        }
    }
}

/// The candidate with the lowest key; ties at random (reservoir sampling, no allocation).
fn lowest<K: PartialOrd>(candidates: &[usize], key: impl Fn(usize) -> K) -> Option<usize> {
    let mut best: Option<(usize, K)> = None;
    let mut ties = 0;
    for &i in candidates {
        let k = key(i);
        match &best {
            Some((_, b)) if k > *b => {}
            Some((_, b)) if k == *b => {
                ties += 1;
                if rng::below(ties) == 0 {
                    best = Some((i, k));
                }
            }
            _ => {
                best = Some((i, k));
                ties = 1;
            }
        }
    }
    best.map(|(i, _)| i)
}

/// Weighted random by `weights` (indexed like the deployments); uniform if no weight is
/// positive.
fn weighted(candidates: &[usize], weights: &[f64]) -> Option<usize> {
    let weight = |i: usize| weights.get(i).copied().unwrap_or(1.0);
    let total: f64 = candidates.iter().map(|&i| weight(i)).sum();
    if !(total.is_finite() && total > 0.0) {
        return candidates.get(rng::below(candidates.len())).copied();
    }
    let mut left = rng::unit() * total;
    for &i in candidates {
        left -= weight(i);
        if left < 0.0 {
            return Some(i);
        }
    }
    candidates.iter().rev().find(|&&i| weight(i) > 0.0).copied()
}

/// Latency-based: a never-measured candidate first; else the lowest average, except for
/// [`EXPLORE`] of the picks, which go to one of the others at random.
fn fastest(candidates: &[usize], latency: impl Fn(usize) -> Option<f64>) -> Option<usize> {
    let unmeasured = candidates.iter().filter(|&&i| latency(i).is_none()).count();
    if unmeasured > 0 {
        let nth = rng::below(unmeasured);
        return candidates
            .iter()
            .filter(|&&i| latency(i).is_none())
            .nth(nth)
            .copied();
    }
    let best = lowest(candidates, |i| latency(i).unwrap_or(f64::INFINITY))?;
    if candidates.len() > 1 && rng::unit() < EXPLORE {
        let nth = rng::below(candidates.len() - 1);
        return candidates.iter().filter(|&&i| i != best).nth(nth).copied();
    }
    Some(best)
}
