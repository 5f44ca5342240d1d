//! Step 3½, the response cache (`crate::cache`): after the `pre_call` guardrails, a request is
//! looked up; a hit is answered from the cache (whole, or replayed as a stream) at no cost; a
//! miss goes on to the model, and its answer is stored once the client has it in full. An
//! identical request already in flight on this instance is waited for rather than repeated.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{stream, FutureExt, Stream, StreamExt};

use super::account::Accounting;
use super::stream::{AnswerStream, GatewayEvents, Routing};
use super::{failed, guard, Answer, Completion, RequestContext};
use crate::after_response::AfterResponse;
use crate::cache::{
    CachePlan, CacheStatus, CachedAnswer, CachedEmbeddings, FlightGuard, Recorder, ResponseCache,
    Turn,
};
use crate::chat::{ChatRequest, ChatResponse, StreamEvent};
use crate::embeddings::EmbeddingResponse;
use crate::error::GatewayError;
use crate::guardrails::Selected;
use crate::observability::OutputCapture;

/// The deployment a hit names in its headers: no model answered.
pub const CACHE_DEPLOYMENT: &str = "cache";

pub(super) enum Lookup {
    Hit(Answer),
    Miss(Accounting, Option<Storing>),
}

/// What a lookup found: a stored answer (and the plan it was found under), or a miss that may
/// store the answer it goes on to get.
pub(super) enum Found<T> {
    Hit(T, CachePlan),
    Miss(Storing),
}

/// A miss that stores its answer: the plan, the single-flight guard it holds until then, and
/// the after-response queue whose flush (the Lambda extension's hold) waits for the store.
pub(crate) struct Storing {
    cache: Arc<ResponseCache>,
    plan: CachePlan,
    flight: Option<FlightGuard>,
    after: AfterResponse,
}

impl Storing {
    /// Looks `plan` up in `cache`. On a miss that will store, an identical request already in
    /// flight on this instance is waited for (until `deadline`) and its answer served; else
    /// this request leads, holding the flight until its answer is stored.
    pub(super) async fn find<T: serde::de::DeserializeOwned>(
        cache: &Arc<ResponseCache>,
        after: &AfterResponse,
        plan: CachePlan,
        deadline: Option<tokio::time::Instant>,
    ) -> Found<T> {
        let mut flight = None;
        if plan.read {
            if let Some(answer) = cache.get(&plan).await {
                return Found::Hit(answer, plan);
            }
            if plan.write {
                match cache.turn(&plan) {
                    Turn::Lead(guard) => flight = Some(guard),
                    Turn::Follow(rx) => {
                        let waited = ResponseCache::landed(rx);
                        let waited = match deadline {
                            Some(due) => tokio::time::timeout_at(due, waited).await.is_ok(),
                            None => {
                                waited.await;
                                true
                            }
                        };
                        if waited {
                            if let Some(answer) = cache.get(&plan).await {
                                return Found::Hit(answer, plan);
                            }
                        }
                    }
                }
            }
        }
        Found::Miss(Storing {
            cache: Arc::clone(cache),
            plan,
            flight,
            after: after.clone(),
        })
    }

    pub(super) fn status(&self) -> CacheStatus {
        CacheStatus {
            key: self.plan.key.clone(),
            hit: false,
        }
    }

    /// Stores a whole answer (after its `post_call` guardrails), in the background: the client
    /// does not wait for the store; identical requests waiting on this one do.
    pub(super) fn whole(self, response: &ChatResponse) {
        let Some(answer) = CachedAnswer::from_response(response) else {
            return;
        };
        self.store(&answer);
    }

    /// Stores embeddings the client is about to receive, as [`Self::whole`] does an answer.
    pub(super) fn embeddings(self, response: &EmbeddingResponse) {
        self.store(&CachedEmbeddings::from_response(response));
    }

    /// The entry is made now (its age counts from the answer); a memory store takes it at
    /// once, DynamoDB in a background task that holds the single-flight guard until written,
    /// and holds the after-response queue's flush too: in Lambda the sandbox is not frozen
    /// with the write half done.
    fn store(self, answer: &impl serde::Serialize) {
        let Some(entry) = self.cache.entry(&self.plan, answer) else {
            return;
        };
        if self.cache.is_local() {
            let _ = self.cache.put(&self.plan, entry).now_or_never();
            return;
        }
        let held = self.after.hold();
        tokio::spawn(async move {
            self.cache.put(&self.plan, entry).await;
            drop(self.flight);
            drop(held);
        });
    }

    /// `events`, recorded as they pass; the answer is stored when they end without an error.
    pub(super) fn record(self, events: GatewayEvents) -> GatewayEvents {
        Box::pin(Recording {
            events,
            recorder: Some(Recorder::default()),
            storing: Some(self),
        })
    }
}

struct Recording {
    events: GatewayEvents,
    recorder: Option<Recorder>,
    storing: Option<Storing>,
}

impl Stream for Recording {
    type Item = Result<StreamEvent, GatewayError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let polled = self.events.poll_next_unpin(cx);
        match &polled {
            std::task::Poll::Ready(Some(Ok(event))) => {
                if let Some(recorder) = self.recorder.as_mut() {
                    recorder.observe(event);
                }
            }
            std::task::Poll::Ready(Some(Err(_))) => {
                // A broken stream is not kept; waiting requests go to the model themselves.
                self.recorder = None;
                self.storing = None;
            }
            std::task::Poll::Ready(None) => {
                let answer = self.recorder.take().and_then(Recorder::answer);
                if let (Some(answer), Some(storing)) = (answer, self.storing.take()) {
                    storing.store(&answer);
                }
                self.storing = None;
            }
            std::task::Poll::Pending => {}
        }
        polled
    }
}

impl super::Gateway {
    /// Looks `request` up. `Err` only when a `during_call` guardrail blocks a hit's input.
    pub(super) async fn look_up(
        &self,
        ctx: &RequestContext,
        request: &mut ChatRequest,
        guards: &Selected,
        mut account: Accounting,
    ) -> Result<Lookup, GatewayError> {
        let Some(cache) = self.cache.as_ref() else {
            return Ok(Lookup::Miss(account, None));
        };
        let Some(plan) = cache.plan_chat(
            ctx.caller,
            &ctx.principal,
            ctx.cache.as_ref(),
            guards.names(),
            request,
        ) else {
            return Ok(Lookup::Miss(account, None));
        };
        match Storing::find::<CachedAnswer>(cache, &self.after, plan, ctx.deadline).await {
            Found::Hit(answer, plan) => {
                self.hit(ctx, request, guards, account, &plan, answer).await
            }
            Found::Miss(storing) => {
                account.cache_miss();
                Ok(Lookup::Miss(account, Some(storing)))
            }
        }
    }

    /// Answers from the cache: no model call, cost 0, recorded as a hit.
    async fn hit(
        &self,
        ctx: &RequestContext,
        request: &ChatRequest,
        guards: &Selected,
        mut account: Accounting,
        plan: &CachePlan,
        answer: CachedAnswer,
    ) -> Result<Lookup, GatewayError> {
        // `during_call` guardrails check the input beside a model call; a hit has none, so
        // they check it here.
        let log = account.guardrail_log();
        if let Err(err) = guard::during(&guards.during_call, request, &log).await {
            return Err(failed(account, err));
        }
        account.cache_hit();
        let status = CacheStatus {
            key: plan.key.clone(),
            hit: true,
        };
        if request.stream {
            let events: Vec<Result<StreamEvent, GatewayError>> =
                answer.events().into_iter().map(Ok).collect();
            let routing = Routing {
                deployment_id: CACHE_DEPLOYMENT.to_owned(),
                cache: Some(Box::new(status)),
                ..Routing::default()
            };
            let events: GatewayEvents = Box::pin(stream::iter(events));
            return Ok(Lookup::Hit(Answer::Stream(AnswerStream::cached(
                events,
                account,
                ctx.started,
                routing,
            ))));
        }
        let response = answer.response();
        if account.capturing() {
            account.capture_output(OutputCapture {
                content: response.content.clone(),
                tool_calls: response.tool_calls.clone(),
            });
        }
        account.succeeded(Some(response.usage), Some(response.finish_reason), None);
        Ok(Lookup::Hit(Answer::Whole(Completion {
            response,
            deployment_id: CACHE_DEPLOYMENT.to_owned(),
            latency: Duration::ZERO,
            cost: Some(0.0),
            retries: 0,
            fallbacks: Vec::new(),
            cache: Some(status),
        })))
    }
}
