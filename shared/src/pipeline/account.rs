//! The last step: one usage record per request, handed to the after-response queue.
//!
//! An [`Accounting`] starts with the request and is finished exactly once: by the pipeline for
//! whole answers and failures, by the stream wrapper when a stream ends, breaks or is dropped.
//! Dropped unfinished (the client went away while the model was still answering), it records
//! the request as `client_closed`, so no request goes unrecorded.

use std::time::Duration;

use std::sync::Arc;

use super::after_response::{AfterResponse, Job, SettleJob};
use super::context::RequestContext;
use crate::chat::{FinishReason, Usage};
use crate::error::GatewayError;
use crate::keys::{KeyStore, ReservationPlan, Settlement};
use crate::pricing::{self, Price};
use crate::router::Deployment;
use crate::usage::{Outcome, UsageRecord};

pub(crate) struct Accounting {
    after: AfterResponse,
    /// `None` once finished.
    record: Option<Box<UsageRecord>>,
    started: std::time::Instant,
    price: Option<Price>,
    /// The budget reservation to settle when the request finishes.
    reservation: Option<Box<(ReservationPlan, Arc<dyn KeyStore>)>>,
}

impl Accounting {
    pub(crate) fn start(
        after: &AfterResponse,
        ctx: &RequestContext,
        model: &str,
        streamed: bool,
    ) -> Self {
        let p = &ctx.principal;
        let record = UsageRecord {
            request_id: ctx.request_id.clone(),
            started_at_ms: ctx.started_at_ms,
            caller: ctx.caller.as_str(),
            key_id: p.key_id.clone(),
            key_alias: p.key_alias.clone(),
            team: p.team.clone(),
            user: p.user.clone(),
            session_id: ctx.session_id.clone(),
            model: model.to_owned(),
            streamed,
            ..UsageRecord::default()
        };
        Accounting {
            after: after.clone(),
            record: Some(Box::new(record)),
            started: ctx.started,
            price: None,
            reservation: None,
        }
    }

    /// A model call on `deployment` begins.
    pub(crate) fn attempt(&mut self, deployment: &Deployment) {
        let config = &deployment.config;
        self.price = deployment.price().copied();
        if let Some(record) = self.record.as_mut() {
            record.attempts += 1;
            record.deployment_id = Some(config.deployment_id.clone());
            record.provider_model = Some(config.model_id.clone());
        }
    }

    /// A failed call is tried again.
    pub(crate) fn retried(&mut self) {
        if let Some(record) = self.record.as_mut() {
            record.retries += 1;
        }
    }

    /// The request moves on to the fallback group `group`.
    pub(crate) fn fell_back(&mut self, group: &str) {
        if let Some(record) = self.record.as_mut() {
            record.fallbacks.push(group.to_owned());
        }
    }

    /// What `usage` costs on the deployment of the last attempt; `None` when its price is unknown.
    pub(crate) fn cost(&self, usage: &Usage) -> Option<f64> {
        self.price.map(|price| {
            pricing::cost(
                &price,
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.cached_tokens.unwrap_or(0),
                0,
            )
        })
    }

    /// The request holds a reservation in `store`: it is settled with the actual cost when the
    /// request finishes, however it finishes.
    pub(crate) fn reserved(&mut self, plan: ReservationPlan, store: Arc<dyn KeyStore>) {
        if plan.needs_settlement() {
            self.reservation = Some(Box::new((plan, store)));
        }
    }

    /// A guardrail ran with this action.
    pub(crate) fn guardrail(&mut self, name: &str, action: &str) {
        if let Some(record) = self.record.as_mut() {
            record.guardrails.push(format!("{name}:{action}"));
        }
    }

    pub(crate) fn user(&mut self, user: Option<&str>) {
        if let Some(record) = self.record.as_mut().filter(|r| r.user.is_none()) {
            record.user = user.map(str::to_owned);
        }
    }

    pub(crate) fn succeeded(
        self,
        usage: Option<Usage>,
        finish: Option<FinishReason>,
        first_token: Option<Duration>,
    ) {
        self.finish(Outcome::Success, None, usage, finish, first_token);
    }

    pub(crate) fn failed(
        self,
        error: &GatewayError,
        usage: Option<Usage>,
        first_token: Option<Duration>,
    ) {
        self.finish(
            Outcome::Failure,
            Some(error.kind()),
            usage,
            None,
            first_token,
        );
    }

    pub(crate) fn client_closed(self, usage: Option<Usage>, first_token: Option<Duration>) {
        self.finish(Outcome::ClientClosed, None, usage, None, first_token);
    }

    fn finish(
        mut self,
        outcome: Outcome,
        error_type: Option<&'static str>,
        usage: Option<Usage>,
        finish: Option<FinishReason>,
        first_token: Option<Duration>,
    ) {
        self.submit(outcome, error_type, usage, finish, first_token);
    }

    fn submit(
        &mut self,
        outcome: Outcome,
        error_type: Option<&'static str>,
        usage: Option<Usage>,
        finish: Option<FinishReason>,
        first_token: Option<Duration>,
    ) {
        let Some(mut record) = self.record.take() else {
            return;
        };
        record.outcome = outcome;
        record.error_type = error_type;
        record.latency_ms = millis(self.started.elapsed());
        record.time_to_first_token_ms = first_token.map(millis);
        record.finish_reason = finish.map(FinishReason::as_str);
        if let Some(usage) = usage {
            record.prompt_tokens = usage.prompt_tokens;
            record.completion_tokens = usage.completion_tokens;
            record.total_tokens = usage.total_tokens;
            record.cost_usd = self.cost(&usage);
        }
        if let Some(held) = self.reservation.take() {
            let (plan, store) = *held;
            let settlement = Settlement {
                plan,
                cost: record.cost_usd.unwrap_or(0.0),
                tokens: u64::from(record.total_tokens),
            };
            self.after
                .submit(Job::Settle(Box::new(SettleJob { store, settlement })));
        }
        self.after.submit(Job::Usage(record));
    }
}

impl Drop for Accounting {
    fn drop(&mut self) {
        self.submit(Outcome::ClientClosed, None, None, None, None);
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
