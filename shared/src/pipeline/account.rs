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
//! **Never undercharged.** A request is charged for every model output it caused, whether or
//! not the client got it ([`Charges`]): an answer a guardrail discarded (`during_call`, or a
//! `post_call` block that moved on to a fallback) is charged its real usage; a model call that
//! ended without a usage event is charged an estimate, and its record says
//! `usage_estimated: true`:
//! - a stream that stopped after some output (the client's `timeout`, the idle timeout, an
//!   upstream error mid-stream, a client that went away, even at `finish_reason`): input
//!   estimated as the reservation does (`route::estimate`: characters / 4 + 1), output
//!   estimated from what was streamed ([`streamed_tokens`]: its bytes / 4 rounded up, never
//!   fewer than the deltas received, each at least one token);
//! - a call abandoned before any output reached the gateway (a timeout, a `during_call` block
//!   beside a stream, a client gone while a whole answer was being made): its reservation,
//!   the input estimate plus `max_tokens` (which the model is always sent), since the model
//!   may finish the answer and bill it though nobody reads it.
//!
//! The settlement uses the same charged cost. A provider error (throttled, refused, invalid)
//! charges nothing: the model did not run.
//!
//! When tracing is on it also captures what the request's spans need (`observability`): each
//! model attempt with its timing, the request after input guardrails and the answer after
//! output guardrails; GUARDRAIL spans come from the guardrail checks. Only clones and
//! timestamps happen here; spans are built and exported after the response.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::context::RequestContext;
use crate::after_response::{AfterResponse, Job, SettleJob};
use crate::chat::ChatRequest;
use crate::chat::{FinishReason, StreamEvent, Usage};
use crate::error::{GatewayError, ProviderError};
use crate::guardrails::GuardrailCheck;
use crate::keys::{KeyStore, ReservationPlan, Settlement};
use crate::observability::{
    AttemptCapture, GuardrailCapture, OutputCapture, RequestTrace, TraceCapture,
};
use crate::pricing::{self, Price};
use crate::router::{Deployment, Estimate};
use crate::usage::{Outcome, UsageRecord};

/// Output tokens estimated from a stream cut before its usage event: `bytes` / 4 rounded up,
/// and never fewer than `deltas` (each delta carries at least one token).
pub(crate) fn streamed_tokens(bytes: u64, deltas: u64) -> u32 {
    u32::try_from(bytes.div_ceil(4).max(deltas)).unwrap_or(u32::MAX)
}

/// What a request is charged beyond its final answer's usage event: shared with the routing
/// closures (a fallback's discarded answer) and the stream wrapper, which counts the model's
/// streamed output as it arrives.
#[derive(Clone, Default)]
pub(crate) struct Charges(Arc<ChargesInner>);

#[derive(Default)]
struct ChargesInner {
    charged: Mutex<Charged>,
    /// Bytes of text, tool names and arguments a stream's model sent, and the deltas that
    /// carried them.
    received_bytes: AtomicU64,
    received_deltas: AtomicU64,
}

#[derive(Clone, Copy, Default)]
struct Charged {
    usage: Usage,
    /// USD of the parts with a known price.
    cost: f64,
    /// Some part had a known price.
    priced: bool,
    /// Some part is an estimate.
    estimated: bool,
}

impl Charges {
    /// A stream event arrived from the model.
    pub(crate) fn received(&self, event: &StreamEvent) {
        let bytes = match event {
            // Reasoning is output the model is paid for, whole or redacted.
            StreamEvent::TextDelta(text)
            | StreamEvent::ReasoningDelta(text)
            | StreamEvent::RedactedReasoning(text) => text.len(),
            StreamEvent::ToolCallStart { name, .. } => name.len(),
            StreamEvent::ToolCallDelta { arguments, .. } => arguments.len(),
            StreamEvent::Start
            | StreamEvent::ReasoningSignature(_)
            | StreamEvent::Usage(_)
            | StreamEvent::Finish(_) => 0,
        };
        if bytes > 0 {
            let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
            self.0.received_bytes.fetch_add(bytes, Ordering::Relaxed);
            self.0.received_deltas.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An answer a guardrail discarded: its real usage at its deployment's price.
    pub(crate) fn discarded(&self, price: Option<&Price>, usage: &Usage) {
        self.add(price, usage, false);
    }

    /// Model work without a usage event, estimated as `input` and `output` tokens.
    pub(crate) fn estimated(&self, price: Option<&Price>, input: u32, output: u32) {
        let usage = Usage {
            prompt_tokens: input,
            completion_tokens: output,
            total_tokens: input.saturating_add(output),
            ..Usage::default()
        };
        self.add(price, &usage, true);
    }

    fn add(&self, price: Option<&Price>, usage: &Usage, estimated: bool) {
        let mut charged = self.charged();
        let sum = &mut charged.usage;
        sum.prompt_tokens = sum.prompt_tokens.saturating_add(usage.prompt_tokens);
        sum.completion_tokens = sum
            .completion_tokens
            .saturating_add(usage.completion_tokens);
        sum.total_tokens = sum.total_tokens.saturating_add(usage.total_tokens);
        if let Some(price) = price {
            charged.cost += pricing::cost(
                price,
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.cached_tokens.unwrap_or(0),
                0,
            );
            charged.priced = true;
        }
        charged.estimated |= estimated;
    }

    fn charged(&self) -> std::sync::MutexGuard<'_, Charged> {
        self.0
            .charged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self) -> Option<Charged> {
        let charged = std::mem::take(&mut *self.charged());
        (charged.usage.total_tokens > 0 || charged.estimated).then_some(charged)
    }
}

pub(crate) struct Accounting {
    after: AfterResponse,
    /// `None` once finished.
    record: Option<Box<UsageRecord>>,
    started: std::time::Instant,
    /// Boxed: the stream a request becomes holds its accounting, and stays small.
    price: Option<Box<Price>>,
    guardrails: GuardrailLog,
    /// `Some` when tracing is on.
    trace: Option<Box<TraceCapture>>,
    /// The budget reservation to settle when the request finishes.
    reservation: Option<Box<(ReservationPlan, Arc<dyn KeyStore>)>>,
    /// The request's estimated input and its `max_tokens`, for estimated charges.
    expected: Estimate,
    /// Charges beyond the final answer's usage event.
    charges: Charges,
    /// A model call has begun and has neither answered nor failed.
    call_open: bool,
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
            expected: Estimate::default(),
            charges: Charges::default(),
            call_open: false,
            cache_hit: false,
        }
    }

    /// The request's estimated tokens (`route::estimate`), once it is known.
    pub(crate) fn expect(&mut self, estimate: &Estimate) {
        self.expected = *estimate;
    }

    /// Where discarded answers and estimated work are charged.
    pub(crate) fn charges(&self) -> Charges {
        self.charges.clone()
    }

    /// The model call now open is abandoned with nothing received: charged its reservation.
    pub(crate) fn abandoned_call(&mut self) {
        if std::mem::take(&mut self.call_open) {
            self.charges.estimated(
                self.price.as_deref(),
                self.expected.input_tokens,
                self.expected.output_tokens,
            );
        }
    }

    /// A stream ended without a usage event: charged what the model sent so far.
    pub(crate) fn streamed_without_usage(&mut self) {
        let bytes = self.charges.0.received_bytes.load(Ordering::Relaxed);
        let deltas = self.charges.0.received_deltas.load(Ordering::Relaxed);
        self.charges.estimated(
            self.price.as_deref(),
            self.expected.input_tokens,
            streamed_tokens(bytes, deltas),
        );
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

    /// The texts an embeddings request embeds (after input guardrails), as one user turn.
    pub(crate) fn capture_embedding_inputs(&mut self, texts: &ChatRequest) {
        self.capture_request(texts);
        if let Some(trace) = self.trace.as_mut() {
            trace.embedding = true;
        }
    }

    /// The answer as the client receives it (after output guardrails).
    pub(crate) fn capture_output(&mut self, output: OutputCapture) {
        if let Some(trace) = self.trace.as_mut() {
            trace.output = Some(output);
        }
    }

    /// The current model call failed with `err`; a timeout abandoned it (charged its
    /// reservation), a provider's error did not run it (charged nothing).
    pub(crate) fn attempt_failed(&mut self, err: &GatewayError) {
        if matches!(err, GatewayError::Provider(ProviderError::Timeout(_))) {
            self.abandoned_call();
        }
        self.call_open = false;
        if let Some(attempt) = self.trace.as_mut().and_then(|t| t.attempts.last_mut()) {
            attempt.ended = Some(Instant::now());
            attempt.error = Some((err.kind(), err.to_string()));
        }
    }

    /// The current model call's stream began: from here the stream accounts its output.
    pub(crate) fn stream_began(&mut self) {
        self.call_open = false;
    }

    /// The current model call answered whole.
    pub(crate) fn attempt_answered(&mut self) {
        self.call_open = false;
        if let Some(attempt) = self.trace.as_mut().and_then(|t| t.attempts.last_mut()) {
            attempt.ended = Some(Instant::now());
        }
    }

    /// A model call on `deployment` begins.
    pub(crate) fn attempt(&mut self, deployment: &Deployment) {
        let config = &deployment.config;
        self.price = deployment.price().copied().map(Box::new);
        self.call_open = true;
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
        self.price
            .as_deref()
            .map(|price| pricing::usage_cost(price, usage))
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
        // Gone while a model call was still open (a whole answer being made).
        self.abandoned_call();
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
            record.cache_read_tokens = usage.cached_tokens;
            record.cache_write_tokens = usage.cache_write_tokens;
            record.reasoning_tokens = usage.reasoning_tokens;
        }
        if let Some(extra) = self.charges.take() {
            record.prompt_tokens = record
                .prompt_tokens
                .saturating_add(extra.usage.prompt_tokens);
            record.completion_tokens = record
                .completion_tokens
                .saturating_add(extra.usage.completion_tokens);
            record.total_tokens = record.total_tokens.saturating_add(extra.usage.total_tokens);
            if extra.priced {
                record.cost_usd = Some(record.cost_usd.unwrap_or(0.0) + extra.cost);
            }
            record.usage_estimated = extra.estimated;
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
            let cost_split = self
                .price
                .as_deref()
                .filter(|_| record.cost_usd.is_some())
                .map(|p| {
                    let usage = usage.unwrap_or_default();
                    let prompt_only = crate::chat::Usage {
                        completion_tokens: 0,
                        ..usage
                    };
                    (
                        pricing::usage_cost(p, &prompt_only),
                        pricing::cost(p, 0, usage.completion_tokens, 0, 0),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_output_is_bytes_over_four_rounded_up_and_at_least_one_per_delta() {
        assert_eq!(streamed_tokens(0, 0), 0);
        assert_eq!(streamed_tokens(1, 1), 1);
        assert_eq!(streamed_tokens(12, 2), 3);
        assert_eq!(streamed_tokens(13, 2), 4);
        // Many one-byte deltas (CJK, emoji pieces): one token each at least.
        assert_eq!(streamed_tokens(10, 10), 10);
        assert_eq!(streamed_tokens(u64::MAX, 1), u32::MAX);
    }

    #[test]
    fn charges_add_up_priced_or_not_and_remember_estimates() {
        let price = Price {
            input_per_token: 0.5,
            output_per_token: 1.0,
            cache_read_per_token: None,
            cache_write_per_token: None,
        };
        let charges = Charges::default();
        assert!(charges.clone().take().is_none(), "nothing charged");
        let usage = Usage {
            prompt_tokens: 2,
            completion_tokens: 3,
            total_tokens: 5,
            ..Usage::default()
        };
        charges.discarded(Some(&price), &usage);
        let real = charges.take().unwrap();
        assert_eq!(
            (real.usage.total_tokens, real.cost, real.estimated),
            (5, 4.0, false)
        );
        charges.estimated(None, 4, 6);
        charges.estimated(Some(&price), 2, 0);
        let estimated = charges.take().unwrap();
        assert_eq!(estimated.usage.prompt_tokens, 6);
        assert_eq!(estimated.usage.completion_tokens, 6);
        assert!(estimated.priced && estimated.estimated);
        assert_eq!(estimated.cost, 1.0);
    }
}
