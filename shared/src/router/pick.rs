//! Picking the deployment for a request's next attempt: which deployments are usable, and what
//! happens when none is.

use std::time::Duration;

use super::clock::until_next_minute;
use super::deployment::Deployment;
use super::group::ModelGroup;
use super::strategy::choose;

/// What the router knows of a request before the call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Estimate {
    pub input_tokens: u32,
    pub output_tokens: u32,
}

/// The deployment picked for an attempt.
#[derive(Debug, Clone, Copy)]
pub struct Pick<'a> {
    /// The deployment's index in the group (what `tried` holds).
    pub index: usize,
    pub deployment: &'a Deployment,
    /// Picked although cooling down: every deployment that is not over its limits is.
    pub cooling_down: bool,
}

/// Every deployment is over its rpm/tpm this minute (or the group is empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("every deployment is over its rpm/tpm limit; retry after {retry_after:?}")]
pub struct NoDeployment {
    /// The time until the minute window rolls over.
    pub retry_after: Duration,
}

impl ModelGroup {
    /// The deployment for the next attempt of a request. `tried` holds the indices of the
    /// deployments this request already tried; they are avoided while any other usable one
    /// exists.
    ///
    /// Usable: not tried, not cooling down, not over its `rpm` or `tpm` this minute; the
    /// strategy chooses among them. Else the tried ones that are usable otherwise (a retry on
    /// the same deployment). Else, if every deployment under its limits is cooling down, the
    /// one whose last failure is oldest (untried first), with `cooling_down`. Else none.
    pub fn pick(&self, estimate: &Estimate, tried: &[usize]) -> Result<Pick<'_>, NoDeployment> {
        let now = self.clock.now();
        let mut open = Vec::with_capacity(self.deployments.len());
        let mut fresh = Vec::with_capacity(self.deployments.len());
        let mut cooling: Option<((bool, u64), usize)> = None;
        for (index, deployment) in self.deployments.iter().enumerate() {
            if over_limit(deployment, now) {
                continue;
            }
            let was_tried = tried.contains(&index);
            if deployment.state.cooling(now) {
                let key = (was_tried, deployment.state.last_failure());
                if cooling.is_none_or(|(best, _)| key < best) {
                    cooling = Some((key, index));
                }
            } else {
                open.push(index);
                if !was_tried {
                    fresh.push(index);
                }
            }
        }
        let candidates = if fresh.is_empty() { &open } else { &fresh };
        let (index, cooling_down) = match choose(self, candidates, estimate, now) {
            Some(index) => (Some(index), false),
            None => (cooling.map(|(_, index)| index), true),
        };
        index
            .and_then(|index| {
                self.deployments.get(index).map(|deployment| Pick {
                    index,
                    deployment,
                    cooling_down,
                })
            })
            .ok_or(NoDeployment {
                retry_after: until_next_minute(now),
            })
    }
}

/// At or over its requests or tokens per minute.
fn over_limit(deployment: &Deployment, now: u64) -> bool {
    let (config, state) = (&deployment.config, &deployment.state);
    config
        .rpm
        .is_some_and(|rpm| u64::from(state.requests(now)) >= rpm)
        || config
            .tpm
            .is_some_and(|tpm| u64::from(state.tokens(now)) >= tpm)
}
