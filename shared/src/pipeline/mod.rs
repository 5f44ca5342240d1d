//! The request path every caller takes, whole answers and streams alike. The steps, in order:
//!
//! 1. **authenticate**: the presented key becomes a principal ([`Gateway::authenticate`],
//!    `keys::Authenticator`; async, as keys live in DynamoDB).
//! 2. **resolve**: the model group, and whether the principal may use it.
//! 3. **pre-call checks**: the request's guardrails (`GuardrailSet::select`); budgets and rate
//!    limits of the key and its team, reserved in one store call (`limits`; settled after the
//!    response); then `pre_call` guardrails on its text (`guard::input`).
//! 4. **route and call**: a deployment by the group's strategy, retries and fallbacks
//!    (`route`, `backoff`; a fallback group's own `pre_call` guardrails check the text before
//!    its model sees it, its `during_call` ones beside its call); whole answers bounded by the deadline, streams by `stream_timeout`
//!    for the first event, then by `stream_idle_timeout` between events and the deadline
//!    (`stream::Timed`).
//!    `during_call` guardrails run beside the call (`guard::during`); a block discards the answer.
//! 5. **post-call**: `post_call` guardrails on each whole answer (a block falls back along
//!    `content_policy_fallbacks` where configured: `guard::output`), or on the stream in
//!    bounded windows (`guard_stream::output_stream`).
//! 6. **account**: one usage record per request (`account::Accounting`), on the after-response
//!    queue (`crate::after_response`); a stream is accounted when it ends, breaks or is dropped.
//!
//! `count` answers Anthropic's `count_tokens` from steps 1 and 2 and the provider alone.
//!
//! The edges only translate: `http/` frames answers as JSON or SSE and maps errors to OpenAI's
//! shape; `lex/` turns them into Lex replies.

mod account;
mod backoff;
mod cached;
mod context;
mod count;
mod embed;
mod gateway;
mod guard;
mod guard_stream;
mod limits;
mod models;
#[cfg(test)]
mod proptests;
mod route;
mod stream;

use std::future::Future;
use std::time::Duration;

pub use context::{new_request_id, RequestContext};
pub use embed::Embedded;
pub use gateway::Gateway;
pub(crate) use gateway::GatewayParts;
pub use guard_stream::{
    STREAM_WINDOW_HARD_MAX_BYTES, STREAM_WINDOW_MAX_BYTES, STREAM_WINDOW_MIN_BYTES,
    STREAM_WINDOW_OVERLAP_BYTES,
};
pub use route::{default_max_tokens, estimate, DEFAULT_MAX_TOKENS};
pub use stream::{AnswerStream, Routing};

use account::Accounting;
use route::Route;
use stream::Timed;

use crate::chat::{ChatRequest, ChatResponse, FinishReason};
use crate::config::FallbackKind;
use crate::error::{GatewayError, ProviderError, TimeoutKind};
use crate::guardrails::Selected;
use crate::keys::Principal;
use crate::observability::OutputCapture;
use crate::providers::EventStream;
use crate::router::{Deployment, ModelGroup};

/// The model name recorded for a request whose `model` is no configured group.
pub const UNKNOWN_MODEL: &str = "unknown";

/// What the pipeline answers: the whole answer, or a stream of it.
pub enum Answer {
    Whole(Completion),
    Stream(AnswerStream),
}

/// A whole answer and where it came from.
#[derive(Debug, Clone)]
pub struct Completion {
    pub response: ChatResponse,
    pub deployment_id: String,
    /// The answering model call's duration.
    pub latency: Duration,
    /// US dollars; `None` when the deployment's price is unknown.
    pub cost: Option<f64>,
    pub retries: u32,
    /// Model groups fallen back to, in order.
    pub fallbacks: Vec<String>,
    /// How the response cache took part (`None`: it did not).
    pub cache: Option<crate::cache::CacheStatus>,
}

impl Gateway {
    /// Step 1.
    pub async fn authenticate(&self, key: Option<&str>) -> Result<Principal, GatewayError> {
        self.auth.authenticate(key).await
    }

    /// Step 1 for an in-process caller without a key (the Lex function): its team's limits and
    /// guardrails looked up (cached like keys).
    pub async fn service_principal(
        &self,
        name: &str,
        team: Option<String>,
    ) -> Result<Principal, GatewayError> {
        let mut principal = Principal::service(name, team);
        self.auth.load_team(&mut principal).await?;
        Ok(principal)
    }

    /// Steps 2 to 6 for an authenticated request: `request.stream` picks the answer's shape.
    pub async fn chat(
        &self,
        ctx: &RequestContext,
        mut request: ChatRequest,
    ) -> Result<Answer, GatewayError> {
        if !self.router.is_configured(&request.model) {
            self.refresh_models(false).await;
        }
        let model = self.accounted_model(&request.model);
        let mut account = Accounting::start(&self.after, ctx, model, request.stream);
        account.user(request.user.as_deref());
        // What is reserved is what the model is allowed: never the model's own default.
        if request.params.max_tokens.is_none() {
            request.params.max_tokens = Some(default_max_tokens(&request));
        }
        account.expect(&estimate(&request));
        let group = match self.resolve(ctx, &request) {
            Ok(group) => group,
            Err(err) => return Err(failed(account, err)),
        };
        let selected =
            self.guardrails
                .select(&group.name, &ctx.principal.guardrails, &request.guardrails);
        let guards = match selected {
            Ok(guards) => guards,
            Err(err) => return Err(failed(account, err)),
        };
        match self.reserve(ctx, group, &request).await {
            Ok(Some(plan)) => account.reserved(plan, std::sync::Arc::clone(self.auth.store())),
            Ok(None) => {}
            Err(err) => return Err(failed(account, err)),
        }
        let log = account.guardrail_log();
        if let Err(err) = guard::input(&guards.pre_call, &mut request, &log).await {
            return Err(failed(account, err));
        }
        account.capture_request(&request);
        let (account, storing) = match self.look_up(ctx, &mut request, &guards, account).await? {
            cached::Lookup::Hit(answer) => return Ok(answer),
            cached::Lookup::Miss(account, storing) => (account, storing),
        };
        if request.stream {
            self.stream(ctx, group, &request, &guards, account, storing)
                .await
                .map(Answer::Stream)
        } else {
            let mut completion = self.whole(ctx, group, &request, &guards, account).await?;
            if let Some(storing) = storing {
                completion.cache = Some(storing.status());
                storing.whole(&completion.response);
            }
            Ok(Answer::Whole(completion))
        }
    }

    /// A request refused before the pipeline could run it (its body did not validate): it is
    /// accounted all the same.
    pub fn reject(&self, ctx: &RequestContext, model: &str, err: &GatewayError) {
        let model = self.accounted_model(model);
        Accounting::start(&self.after, ctx, model, false).failed(err, None, None);
    }

    /// The model name a usage record, its metrics and its aggregates carry: a configured group's
    /// name, or [`UNKNOWN_MODEL`] for a name the config does not know, so a caller's strings
    /// never become metric dimensions or aggregate items. A body without a model stays `""`.
    fn accounted_model<'a>(&'a self, model: &'a str) -> &'a str {
        if model.is_empty() {
            return "";
        }
        self.router
            .group(model)
            .map_or(UNKNOWN_MODEL, |group| group.name.as_str())
    }

    /// Step 2: the group, which the caller may use, as it may every group the request names
    /// in its own `fallbacks` (configured fallbacks it may not use are skipped in step 4).
    fn resolve(
        &self,
        ctx: &RequestContext,
        request: &ChatRequest,
    ) -> Result<&ModelGroup, GatewayError> {
        let model = request.model.as_str();
        let group = self
            .router
            .group(model)
            .ok_or_else(|| GatewayError::model_not_found(model))?;
        if embed::is_embedding_group(group) && ctx.principal.may_use(model) {
            return Err(GatewayError::invalid_request(
                format!(
                    "`{model}` is an embedding model: use /v1/embeddings, or a chat model here"
                ),
                "model",
            ));
        }
        let forbidden = (!ctx.principal.may_use(model))
            .then_some(model)
            .or_else(|| route::forbidden_requested_fallback(request, &ctx.principal));
        if let Some(model) = forbidden {
            return Err(GatewayError::ModelNotAllowed {
                model: model.to_owned(),
            });
        }
        Ok(group)
    }

    /// The `post_call` guardrails for an answer from `group`: the answering deployment's group
    /// decides (it may be a fallback); the key's, the request's and default ones stay.
    fn post_call(
        &self,
        group: &str,
        ctx: &RequestContext,
        request: &ChatRequest,
        selected: &Selected,
    ) -> std::sync::Arc<[std::sync::Arc<crate::guardrails::Attached>]> {
        if group == request.model {
            return selected.post_call.clone();
        }
        self.guardrails
            .select(group, &ctx.principal.guardrails, &request.guardrails)
            .map_or_else(|_| selected.post_call.clone(), |s| s.post_call)
    }

    /// The `pre_call` and `during_call` guardrails a fallback `group` adds to those already
    /// run on `request` (its deployments' own): they check the text its model is sent.
    fn fallback_guards(
        &self,
        group: &str,
        ctx: &RequestContext,
        request: &ChatRequest,
        selected: &Selected,
    ) -> Selected {
        if group == request.model {
            return Selected::default();
        }
        let Ok(theirs) =
            self.guardrails
                .select(group, &ctx.principal.guardrails, &request.guardrails)
        else {
            return Selected::default();
        };
        let new = |theirs: Vec<std::sync::Arc<crate::guardrails::Attached>>,
                   ran: &[std::sync::Arc<crate::guardrails::Attached>]| {
            theirs
                .into_iter()
                .filter(|g| !ran.iter().any(|r| std::sync::Arc::ptr_eq(g, r)))
                .collect()
        };
        Selected {
            pre_call: new(theirs.pre_call, &selected.pre_call),
            during_call: new(theirs.during_call, &selected.during_call),
            post_call: std::sync::Arc::from(Vec::new()),
        }
    }

    /// Step 4's routing context for `request`: its deadline is the invocation's, or sooner
    /// by the request's own `timeout`.
    fn route<'a>(&'a self, ctx: &'a RequestContext, request: &ChatRequest) -> Route<'a> {
        let own = request
            .routing
            .timeout
            .map(|t| tokio::time::Instant::now() + t);
        let deadline = match (ctx.deadline, own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Route {
            router: &self.router,
            settings: &self.settings,
            principal: &ctx.principal,
            deadline,
        }
    }

    /// Steps 4 to 6 for a whole answer.
    async fn whole(
        &self,
        ctx: &RequestContext,
        group: &ModelGroup,
        request: &ChatRequest,
        guards: &Selected,
        mut account: Accounting,
    ) -> Result<Completion, GatewayError> {
        let route = self.route(ctx, request);
        let deadline = route.deadline;
        let settings = &self.settings;
        let log = account.guardrail_log();
        let charges = account.charges();
        let routed = route.call(group, request, &mut account, |d| {
            let extra = self.fallback_guards(&d.config.model_name, ctx, request, guards);
            let charges = charges.clone();
            let filtered_falls_back = !request.routing.disable_fallbacks
                && !settings
                    .fallbacks_for(FallbackKind::ContentPolicy, &d.config.model_name)
                    .is_empty();
            let post_call = self.post_call(&d.config.model_name, ctx, request, guards);
            let log = log.clone();
            within(deadline, TimeoutKind::Deadline, async move {
                let checked = guard::fallback_input(&extra.pre_call, request, &log).await?;
                let asked = checked.as_ref().unwrap_or(request);
                let (called, during) = tokio::join!(
                    d.provider.chat(asked),
                    guard::during(&extra.during_call, asked, &log)
                );
                if let (Err(_), Ok(discarded)) = (&during, &called) {
                    charges.discarded(d.price(), &discarded.usage);
                }
                during?;
                let mut response = called.map_err(GatewayError::from)?;
                let filtered = ProviderError::ContentFiltered(
                    "the model's content filter or a guardrail stopped the answer".into(),
                );
                // A filtered answer moves on to `content_policy_fallbacks` where there are some.
                if filtered_falls_back && response.finish_reason == FinishReason::ContentFilter {
                    charges.discarded(d.price(), &response.usage);
                    return Err(filtered.into());
                }
                // A guardrail's failure is no fault of the deployment: it comes out beside the
                // answer, not as the call's error.
                let guarded = guard::output(&post_call, &mut response, &log).await;
                let blocked = matches!(guarded, Err(GatewayError::GuardrailBlocked { .. }))
                    || response.finish_reason == FinishReason::ContentFilter;
                if filtered_falls_back && blocked {
                    charges.discarded(d.price(), &response.usage);
                    return Err(filtered.into());
                }
                Ok((response, guarded))
            })
        });
        let during = guard::during(&guards.during_call, request, &log);
        let (routed, during) = tokio::join!(routed, during);
        if let Err(err) = during {
            // The answer is discarded, but the model made it: charged its real usage.
            let usage = routed.ok().map(|routed| {
                account.attempt_answered();
                let usage = routed.value.0.usage;
                routed
                    .in_flight
                    .succeeded(routed.call_started.elapsed(), &usage);
                usage
            });
            account.failed(&err, usage, None);
            return Err(err);
        }
        let routed = match routed {
            Ok(routed) => routed,
            Err(err) => return Err(failed(account, err)),
        };
        let latency = routed.call_started.elapsed();
        account.attempt_answered();
        let (response, guarded) = routed.value;
        routed.in_flight.succeeded(latency, &response.usage);
        if let Err(err) = guarded {
            account.failed(&err, Some(response.usage), None);
            return Err(err);
        }
        let cost = account.cost(&response.usage);
        if account.capturing() {
            account.capture_output(OutputCapture {
                content: response.content.clone(),
                tool_calls: response.tool_calls.clone(),
            });
        }
        account.succeeded(Some(response.usage), Some(response.finish_reason), None);
        Ok(Completion {
            response,
            deployment_id: routed.deployment.config.deployment_id.clone(),
            latency,
            cost,
            retries: routed.retries,
            fallbacks: routed.fallbacks,
            cache: None,
        })
    }

    /// Steps 4 to 6 for a stream: errors before its first event come back as an error, so the
    /// edge can still answer with a status (and routing may retry or fall back invisibly);
    /// later ones end the stream.
    async fn stream(
        &self,
        ctx: &RequestContext,
        group: &ModelGroup,
        request: &ChatRequest,
        guards: &Selected,
        mut account: Accounting,
        storing: Option<cached::Storing>,
    ) -> Result<AnswerStream, GatewayError> {
        let route = self.route(ctx, request);
        let deadline = route.deadline;
        let log = account.guardrail_log();
        let charges = account.charges();
        let routed = route.call(group, request, &mut account, |d| {
            let extra = self.fallback_guards(&d.config.model_name, ctx, request, guards);
            let log = log.clone();
            let charges = charges.clone();
            async move {
                let checked = guard::fallback_input(&extra.pre_call, request, &log).await?;
                let asked = checked.as_ref().unwrap_or(request);
                let (started, during) = tokio::join!(
                    start_stream(deadline, d, asked),
                    guard::during(&extra.during_call, asked, &log)
                );
                if during.is_err() && started.is_ok() {
                    // The stream is dropped unread: charged its reservation.
                    let expected = estimate(asked);
                    charges.estimated(d.price(), expected.input_tokens, expected.output_tokens);
                }
                during?;
                started
            }
        });
        let during = guard::during(&guards.during_call, request, &log);
        let (routed, during) = tokio::join!(routed, during);
        if let Err(err) = during {
            return Err(failed(account, err));
        }
        let routed = match routed {
            Ok(started) => started,
            Err(err) => return Err(failed(account, err)),
        };
        account.stream_began();
        let deployment = routed.deployment;
        let timed = Timed::new(
            routed.value,
            deployment.stream_idle_timeout,
            deadline,
            account.charges(),
        );
        let post_call = self.post_call(&deployment.config.model_name, ctx, request, guards);
        let events = guard_stream::output_stream(Box::pin(timed), post_call, log);
        let cache = storing.as_ref().map(|s| Box::new(s.status()));
        let events = match storing {
            Some(storing) => storing.record(events),
            None => events,
        };
        Ok(AnswerStream::new(
            events,
            account,
            routed.in_flight,
            ctx.started,
            Routing {
                deployment_id: deployment.config.deployment_id.clone(),
                retries: routed.retries,
                fallbacks: routed.fallbacks,
                cache,
            },
        ))
    }
}

fn failed(account: Accounting, err: GatewayError) -> GatewayError {
    account.failed(&err, None, None);
    err
}

/// Starts a stream within `stream_timeout` (for its first event) and the deadline.
async fn start_stream(
    deadline: Option<tokio::time::Instant>,
    deployment: &Deployment,
    request: &ChatRequest,
) -> Result<EventStream, GatewayError> {
    let call = deployment.provider.chat_stream(request);
    let call = async move { call.await.map_err(GatewayError::from) };
    // A caller's first-event limit shorter than the deployment's is the caller's deadline: its
    // timeout does not count against the deployment's health.
    let (limit, kind) = match (request.routing.stream_timeout, deployment.stream_timeout) {
        (Some(asked), own) if own.is_none_or(|own| asked < own) => {
            (Some(asked), TimeoutKind::Deadline)
        }
        (asked, own) => (asked.or(own), TimeoutKind::FirstEvent),
    };
    let first_event = limit.map(|limit| tokio::time::Instant::now() + limit);
    match (first_event, deadline) {
        (Some(first), Some(deadline)) if deadline <= first => {
            within(Some(deadline), TimeoutKind::Deadline, call).await
        }
        (Some(first), _) => within(Some(first), kind, call).await,
        (None, deadline) => within(deadline, TimeoutKind::Deadline, call).await,
    }
}

/// `call`, abandoned with a `kind` timeout at `due`.
async fn within<T>(
    due: Option<tokio::time::Instant>,
    kind: TimeoutKind,
    call: impl Future<Output = Result<T, GatewayError>>,
) -> Result<T, GatewayError> {
    match due {
        None => call.await,
        Some(due) => tokio::time::timeout_at(due, call)
            .await
            .unwrap_or_else(|_| Err(kind.into())),
    }
}
