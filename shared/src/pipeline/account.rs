//! The last step: one usage record per request, handed to the after-response queue.
//!
//! An [`Accounting`] starts with the request and is finished exactly once: by the pipeline for
//! whole answers and failures, by the stream wrapper when a stream ends, breaks or is dropped.
//! Dropped unfinished (the client went away while the model was still answering), it records
//! the request as `client_closed`, so no request goes unrecorded.
//!
//! Guardrail checks are collected in a [`GuardrailLog`] shared with the stages that run them
//! (a stream's windows run after the pipeline has handed the stream out): one
//! [`GuardrailCheck`] per ApplyGuardrail call, so a stream records one per window. The usage
//! record gets each distinct `name:action` and entity type once.

//!
//! When tracing is on it also captures what the request's spans need (`observability`): each
//! model attempt with its timing, the request after input guardrails and the answer after
//! output guardrails; GUARDRAIL spans come from the guardrail checks. Only clones and
//! timestamps happen here; spans are built and exported after the response.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::context::RequestContext;
use crate::after_response::{AfterResponse, Job, SettleJob};
use crate::chat::ChatRequest;
use crate::chat::{FinishReason, Usage};
use crate::error::GatewayError;
use crate::guardrails::GuardrailCheck;
use crate::keys::{KeyStore, ReservationPlan, Settlement};
use crate::observability::{
    AttemptCapture, GuardrailCapture, OutputCapture, RequestTrace, TraceCapture,
};
use crate::pricing::{self, Price};
use crate::router::Deployment;
use crate::usage::{Outcome, UsageRecord};

pub(crate) struct Accounting {
    after: AfterResponse,
    /// `None` once finished.
    record: Option<Box<UsageRecord>>,
    started: std::time::Instant,
    price: Option<Price>,
    guardrails: GuardrailLog,
    /// `Some` when tracing is on.
    trace: Option<Box<TraceCapture>>,
    /// The budget reservation to settle when the request finishes.
    reservation: Option<Box<(ReservationPlan, Arc<dyn KeyStore>)>>,
    /// Answered from the response cache: no tokens used, cost 0.
    cache_hit: bool,
}

/// The guardrail checks of one request, appended by whichever stage runs them.
#[derive(Clone, Default)]
pub(crate) struct GuardrailLog(Arc<Mutex<Vec<GuardrailCheck>>>);

impl GuardrailLog {
    pub(crate) fn push(&self, check: GuardrailCheck) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(check);
    }

    /// How many checks ran.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    fn snapshot(&self) -> Vec<GuardrailCheck> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
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
        let trace = after
            .traces_enabled()
            .then(|| Box::new(TraceCapture::new(ctx.started, ctx.traceparent)));
        Accounting {
            after: after.clone(),
            record: Some(Box::new(record)),
            started: ctx.started,
            price: None,
            guardrails: GuardrailLog::default(),
            trace,
            reservation: None,
            cache_hit: false,
        }
    }

    /// Whether the request's content and timings are captured for a trace.
    pub(crate) fn capturing(&self) -> bool {
        self.trace.is_some()
    }

    /// The request as the model will see it (after input guardrails).
    pub(crate) fn capture_request(&mut self, request: &ChatRequest) {
        if let Some(trace) = self.trace.as_mut() {
            trace.metadata.clone_from(&request.metadata);
            trace.request = Some(request.clone());
        }
    }

    /// The answer as the client receives it (after output guardrails).
    pub(crate) fn capture_output(&mut self, output: OutputCapture) {
        if let Some(trace) = self.trace.as_mut() {
            trace.output = Some(output);
        }
    }

    /// The current model call failed with `err`.
    pub(crate) fn attempt_failed(&mut self, err: &GatewayError) {
        if let Some(attempt) = self.trace.as_mut().and_then(|t| t.attempts.last_mut()) {
            attempt.ended = Some(Instant::now());
            attempt.error = Some((err.kind(), err.to_string()));
        }
    }

    /// The current model call answered whole.
    pub(crate) fn attempt_answered(&mut self) {
        if let Some(attempt) = self.trace.as_mut().and_then(|t| t.attempts.last_mut()) {
            attempt.ended = Some(Instant::now());
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
        if let Some(trace) = self.trace.as_mut() {
            trace.attempts.push(AttemptCapture {
                group: config.model_name.clone(),
                deployment_id: config.deployment_id.clone(),
                model_id: config.model_id.clone(),
                started: Instant::now(),
                ended: None,
                error: None,
            });
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

    /// Where the guardrail stages record their checks.
    pub(crate) fn guardrail_log(&self) -> GuardrailLog {
        self.guardrails.clone()
    }

    /// The guardrail checks so far, in the order they finished (for GUARDRAIL spans).
    pub(crate) fn guardrail_checks(&self) -> Vec<GuardrailCheck> {
        self.guardrails.snapshot()
    }

    /// The request holds a reservation in `store`: it is settled with the actual cost when the
    /// request finishes, however it finishes.
    pub(crate) fn reserved(&mut self, plan: ReservationPlan, store: Arc<dyn KeyStore>) {
        if plan.needs_settlement() {
            self.reservation = Some(Box::new((plan, store)));
        }
    }

    /// The request is answered from the response cache.
    pub(crate) fn cache_hit(&mut self) {
        self.cache_hit = true;
        if let Some(record) = self.record.as_mut() {
            record.cache_hit = Some(true);
        }
    }

    /// The request was looked up in the response cache and goes on to the model.
    pub(crate) fn cache_miss(&mut self) {
        if let Some(record) = self.record.as_mut() {
            record.cache_hit = Some(false);
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
        let Some(record) = self.record.take() else {
            return;
        };
        let mut record = Box::new((*record).bounded());
        record.outcome = outcome;
        record.error_type = error_type;
        record.latency_ms = millis(self.started.elapsed());
        record.time_to_first_token_ms = first_token.map(millis);
        record.finish_reason = finish.map(FinishReason::as_str);
        let checks = self.guardrail_checks();
        for check in &checks {
            let result = format!("{}:{}", check.name, check.action);
            if !record.guardrails.contains(&result) {
                record.guardrails.push(result);
            }
            for entity in &check.entities {
                if !record.guardrail_entities.contains(entity) {
                    record.guardrail_entities.push(entity.clone());
                }
            }
        }
        // A hit used no model: its usage is the cached answer's, not this request's.
        let usage = usage.filter(|_| !self.cache_hit);
        if self.cache_hit {
            record.cost_usd = Some(0.0);
        }
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
        let trace = self.trace.take().map(|mut capture| {
            capture.guardrails = checks
                .iter()
                .map(|c| GuardrailCapture {
                    name: c.name.clone(),
                    mode: c.mode,
                    action: c.action,
                    entities: c.entities.clone(),
                    started: c.started,
                    elapsed: c.elapsed,
                })
                .collect();
            let cost_split = self.price.filter(|_| record.cost_usd.is_some()).map(|p| {
                let (prompt, completion) =
                    usage.map_or((0, 0), |u| (u.prompt_tokens, u.completion_tokens));
                let cached = usage.and_then(|u| u.cached_tokens).unwrap_or(0);
                (
                    pricing::cost(&p, prompt, 0, cached, 0),
                    pricing::cost(&p, 0, completion, 0, 0),
                )
            });
            Box::new(RequestTrace {
                record: (*record).clone(),
                capture: *capture,
                ended: Instant::now(),
                cost_split,
            })
        });
        self.after.submit(Job::Usage(record));
        if let Some(trace) = trace {
            self.after.submit(Job::Trace(trace));
        }
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
