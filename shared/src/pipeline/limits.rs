//! Step 3's budgets and rate limits: before the model call, the request reserves its maximum
//! cost and counts itself against its key's and its team's limits, in one store call
//! ([`crate::limits::LimitStore::reserve`]); after the response, its accounting settles the actual
//! cost on the after-response queue (`Job::Settle`), never on the response's path.
//!
//! The maximum cost is the request's estimated input (`route::estimate`) plus its `max_tokens`
//! at the highest price among the deployments of its group and of every group it may fall back
//! to. A request without `max_tokens` is given [`DEFAULT_MAX_TOKENS`](super::DEFAULT_MAX_TOKENS)
//! before this step, and the model is sent that limit, so no answer outruns its reservation's
//! output. A deployment without a known price counts as free.

use std::borrow::Cow;

use super::context::RequestContext;
use super::route::estimate;
use super::Gateway;
use crate::chat::ChatRequest;
use crate::config::FallbackKind;
use crate::error::GatewayError;
use crate::limits::{Limits, ReservationPlan, ReserveError, Scope};
use crate::pricing::{self, Price};
use crate::router::ModelGroup;

impl Gateway {
    /// Reserves `request`'s budget and counts its rate limits; `None` when nothing limits it.
    pub(crate) async fn reserve(
        &self,
        ctx: &RequestContext,
        group: &ModelGroup,
        request: &ChatRequest,
    ) -> Result<Option<ReservationPlan>, GatewayError> {
        let principal = &ctx.principal;
        let team_limits: Option<Cow<'_, Limits>> = match (&principal.team, &principal.team_limits) {
            (Some(_), Some(limits)) => Some(Cow::Borrowed(limits)),
            (Some(team), None) => Some(Cow::Owned(self.auth.team_limits(team).await?)),
            (None, _) => None,
        };
        let mut scopes: Vec<(Scope, &Limits)> = Vec::with_capacity(3);
        if let Some(hash) = &principal.key_hash {
            scopes.push((Scope::Key(hash.as_str().to_owned()), &principal.limits));
        }
        if let (Some(team), Some(limits)) = (&principal.team, &team_limits) {
            scopes.push((Scope::Team(team.clone()), limits.as_ref()));
        }
        if let (Some(user), Some(limits)) = (&principal.user, &principal.user_limits) {
            scopes.push((Scope::User(user.clone()), limits));
        }
        if scopes.iter().all(|(_, limits)| limits.is_empty()) {
            return Ok(None);
        }
        let estimate = estimate(request);
        let cost = self.max_price(group, request).map_or(0.0, |price| {
            pricing::cost(&price, estimate.input_tokens, estimate.output_tokens, 0, 0)
        });
        let now = self.auth.clock().unix_secs();
        let tokens = u64::from(estimate.input_tokens) + u64::from(estimate.output_tokens);
        let Some(plan) = ReservationPlan::new(
            &ctx.request_id,
            now,
            cost,
            tokens,
            self.key_settings.reservation_ttl,
            &scopes,
        ) else {
            return Ok(None);
        };
        match self.auth.store().limits().reserve(&plan).await {
            Ok(()) => Ok(Some(plan)),
            Err(ReserveError::Refused(refusal)) => Err(refusal.into()),
            Err(ReserveError::Store(err)) => {
                tracing::error!(error = %err, "budget and rate-limit reservation failed");
                Err(GatewayError::DependencyUnavailable("limits store".into()))
            }
        }
    }

    /// The highest price among the deployments `request` may reach from `group`.
    fn max_price(&self, group: &ModelGroup, request: &ChatRequest) -> Option<Price> {
        let mut names = vec![group.name.clone()];
        names.extend(request.routing.fallbacks.iter().flatten().cloned());
        for kind in FallbackKind::ALL {
            names.extend(
                self.settings
                    .fallbacks_for(kind, &group.name)
                    .iter()
                    .cloned(),
            );
        }
        let estimate = estimate(request);
        names
            .iter()
            .filter_map(|name| self.router.group(name))
            .flat_map(|g| g.deployments.iter())
            .filter_map(|d| d.price().copied())
            .max_by(|a, b| {
                let cost = |p: &Price| {
                    pricing::cost(p, estimate.input_tokens, estimate.output_tokens, 0, 0)
                };
                cost(a).total_cmp(&cost(b))
            })
    }
}
