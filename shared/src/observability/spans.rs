//! A finished request as OpenInference spans: a CHAIN root, a GUARDRAIL span per guardrail
//! run and an LLM span per model attempt (so retries and fallbacks show).

use std::borrow::Cow;
use std::time::{Instant, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use super::capture::{AttemptCapture, RequestTrace};
use super::messages;
use crate::usage::Outcome;

/// What the span builder leaves out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hide {
    pub inputs: bool,
    pub outputs: bool,
}

/// The parts every span of one trace shares.
struct Tree {
    trace_id: TraceId,
    root: SpanId,
    scope: InstrumentationScope,
}

impl Tree {
    fn span(
        &self,
        id: SpanId,
        parent: SpanId,
        name: impl Into<Cow<'static, str>>,
        times: (SystemTime, SystemTime),
        attributes: Vec<KeyValue>,
        status: Status,
    ) -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                self.trace_id,
                id,
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: parent,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: name.into(),
            start_time: times.0,
            end_time: times.1,
            attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status,
            instrumentation_scope: self.scope.clone(),
        }
    }
}

fn new_span_id() -> SpanId {
    let (high, low) = uuid::Uuid::new_v4().as_u64_pair();
    SpanId::from_bytes((high ^ low).max(1).to_be_bytes())
}

/// The root span's id for a request: derived from its id, so work after the response (the online
/// evaluator's span annotation) can name the span without holding the exported spans.
pub fn root_span_id(request_id: &str) -> SpanId {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(request_id.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    SpanId::from_bytes(u64::from_be_bytes(bytes).max(1).to_be_bytes())
}

fn new_trace_id() -> TraceId {
    TraceId::from_bytes(uuid::Uuid::new_v4().as_u128().max(1).to_be_bytes())
}

/// The spans of `trace`, root first.
pub fn build(trace: &RequestTrace, hide: Hide) -> Vec<SpanData> {
    let capture = &trace.capture;
    let tree = Tree {
        trace_id: capture.parent.map_or_else(new_trace_id, |p| {
            TraceId::from_bytes(p.trace_id.to_be_bytes())
        }),
        root: root_span_id(&trace.record.request_id),
        scope: InstrumentationScope::builder("llm-gateway")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    };
    let mut spans = Vec::with_capacity(1 + capture.guardrails.len() + capture.attempts.len());
    spans.push(root(trace, &tree, hide));
    for check in &capture.guardrails {
        spans.push(guardrail_span(
            &tree,
            trace,
            &check.name,
            check.mode,
            check.action,
            &check.entities,
            check.started,
            check.elapsed,
        ));
    }
    let last = capture.attempts.len().saturating_sub(1);
    for (i, attempt) in capture.attempts.iter().enumerate() {
        spans.push(llm_span(&tree, trace, attempt, i == last, hide));
    }
    spans
}

/// Attributes every span carries: session, user, metadata, tags.
fn common(trace: &RequestTrace, out: &mut Vec<KeyValue>) {
    if let Some(session) = trace.session_id() {
        out.push(KeyValue::new("session.id", session.to_owned()));
    }
    if let Some(user) = &trace.record.user {
        out.push(KeyValue::new("user.id", user.clone()));
    }
    out.push(KeyValue::new("metadata", metadata(trace)));
    let tags = trace.tags();
    if !tags.is_empty() {
        let tags: Vec<StringValue> = tags.into_iter().map(StringValue::from).collect();
        out.push(KeyValue::new("tag.tags", Value::Array(Array::String(tags))));
    }
}

/// The `metadata` fields only the gateway writes (a caller's are dropped, even when the
/// gateway has no value for one, e.g. a key with no alias).
pub const GATEWAY_METADATA_FIELDS: &[&str] = &[
    "request_id",
    "caller",
    "key_id",
    "key_alias",
    "team",
    "user_id",
    "model",
];

/// The request's `metadata` with the gateway's own fields (never the key itself); where the
/// caller wrote a field the gateway sets (`team`, `key_id`, `user_id`, ...), the gateway's
/// value wins, so a caller cannot pose as another team or key in a trace.
fn metadata(trace: &RequestTrace) -> String {
    let r = &trace.record;
    let mut map = match &trace.capture.metadata {
        Some(serde_json::Value::Object(map)) => map.clone(),
        _ => serde_json::Map::new(),
    };
    for owned in GATEWAY_METADATA_FIELDS {
        map.remove(*owned);
    }
    let mut put = |k: &str, v: serde_json::Value| {
        map.insert(k.to_owned(), v);
    };
    put("request_id", r.request_id.clone().into());
    put("caller", r.caller.into());
    put("key_id", r.key_id.clone().into());
    if let Some(alias) = &r.key_alias {
        put("key_alias", alias.clone().into());
    }
    if let Some(team) = &r.team {
        put("team", team.clone().into());
    }
    if let Some(user) = &r.user {
        put("user_id", user.clone().into());
    }
    put("model", r.model.clone().into());
    serde_json::Value::Object(map).to_string()
}

fn root(trace: &RequestTrace, tree: &Tree, hide: Hide) -> SpanData {
    let r = &trace.record;
    let c = &trace.capture;
    let mut a = vec![
        KeyValue::new("openinference.span.kind", "CHAIN"),
        KeyValue::new(
            "gateway.route",
            if r.caller == "lex" {
                "lex"
            } else {
                "/v1/chat/completions"
            },
        ),
        KeyValue::new("gateway.request_id", r.request_id.clone()),
        KeyValue::new("gateway.model_group", r.model.clone()),
        KeyValue::new("gateway.status", outcome(r.outcome)),
        KeyValue::new("gateway.attempts", i64::from(r.attempts)),
        KeyValue::new("gateway.retries", i64::from(r.retries)),
        KeyValue::new("gateway.streamed", r.streamed),
    ];
    if let Some(alias) = &r.key_alias {
        a.push(KeyValue::new("gateway.key_alias", alias.clone()));
    }
    if let Some(team) = &r.team {
        a.push(KeyValue::new("gateway.team", team.clone()));
    }
    if !r.fallbacks.is_empty() {
        a.push(KeyValue::new("gateway.fallbacks", r.fallbacks.join(",")));
    }
    if let Some(deployment) = &r.deployment_id {
        a.push(KeyValue::new("gateway.deployment", deployment.clone()));
    }
    if let Some(kind) = r.error_type {
        a.push(KeyValue::new("error.type", kind));
    }
    if let Some(hit) = r.cache_hit {
        a.push(KeyValue::new("gateway.cache_hit", hit));
    }
    if let Some(ttft) = r.time_to_first_token_ms {
        a.push(KeyValue::new("gateway.time_to_first_token_ms", ttft as i64));
    }
    tokens_and_cost(trace, &mut a);
    common(trace, &mut a);
    if !hide.inputs {
        if let Some(request) = &c.request {
            a.push(KeyValue::new("input.value", messages::input_value(request)));
            a.push(KeyValue::new("input.mime_type", "application/json"));
        }
    }
    if !hide.outputs {
        if let Some(output) = &c.output {
            let (value, mime) = messages::output_value(output);
            a.push(KeyValue::new("output.value", value));
            a.push(KeyValue::new("output.mime_type", mime));
        }
    }
    let status = match (r.outcome, r.error_type) {
        (Outcome::Success, _) => Status::Ok,
        (_, Some(kind)) => Status::error(kind),
        (Outcome::ClientClosed, None) => Status::error("client_closed"),
        (Outcome::Failure, None) => Status::error("failure"),
    };
    let name = if r.caller == "lex" {
        "lex.fulfillment"
    } else {
        "chat.completions"
    };
    let mut span = tree.span(
        tree.root,
        capture_parent(trace),
        name,
        (c.wall_started, c.wall(trace.ended)),
        a,
        status,
    );
    span.parent_span_is_remote = c.parent.is_some();
    span
}

/// The caller's span, when it sent a `traceparent`.
fn capture_parent(trace: &RequestTrace) -> SpanId {
    trace.capture.parent.map_or(SpanId::INVALID, |p| {
        SpanId::from_bytes(p.parent_span_id.to_be_bytes())
    })
}

fn outcome(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "success",
        Outcome::Failure => "failure",
        Outcome::ClientClosed => "client_closed",
    }
}

fn tokens_and_cost(trace: &RequestTrace, a: &mut Vec<KeyValue>) {
    let r = &trace.record;
    if r.total_tokens > 0 || r.prompt_tokens > 0 {
        a.push(KeyValue::new(
            "llm.token_count.prompt",
            i64::from(r.prompt_tokens),
        ));
        a.push(KeyValue::new(
            "llm.token_count.completion",
            i64::from(r.completion_tokens),
        ));
        a.push(KeyValue::new(
            "llm.token_count.total",
            i64::from(r.total_tokens),
        ));
    }
    if let Some(total) = r.cost_usd {
        if let Some((prompt, completion)) = trace.cost_split {
            a.push(KeyValue::new("llm.cost.prompt", prompt));
            a.push(KeyValue::new("llm.cost.completion", completion));
        }
        a.push(KeyValue::new("llm.cost.total", total));
    }
}

/// A GUARDRAIL span from one check's (name, mode, action, entities, start, duration): the
/// guardrails branch's `GuardrailCheck` carries the same fields.
#[allow(clippy::too_many_arguments)]
fn guardrail_span(
    tree: &Tree,
    trace: &RequestTrace,
    name: &str,
    mode: &str,
    action: &str,
    entities: &[String],
    started: Instant,
    elapsed: std::time::Duration,
) -> SpanData {
    let mut a = vec![
        KeyValue::new("openinference.span.kind", "GUARDRAIL"),
        KeyValue::new("guardrail.name", name.to_owned()),
        KeyValue::new("guardrail.mode", mode.to_owned()),
        KeyValue::new("guardrail.action", action.to_owned()),
    ];
    if !entities.is_empty() {
        let entities: Vec<StringValue> = entities.iter().cloned().map(StringValue::from).collect();
        a.push(KeyValue::new(
            "guardrail.entities",
            Value::Array(Array::String(entities)),
        ));
    }
    common(trace, &mut a);
    let start = trace.capture.wall(started);
    let status = if action == "blocked" {
        Status::error("blocked")
    } else {
        Status::Ok
    };
    tree.span(
        new_span_id(),
        tree.root,
        format!("guardrail {name}"),
        (start, start + elapsed),
        a,
        status,
    )
}

fn llm_span(
    tree: &Tree,
    trace: &RequestTrace,
    attempt: &AttemptCapture,
    last: bool,
    hide: Hide,
) -> SpanData {
    let r = &trace.record;
    let c = &trace.capture;
    let (kind, model_key) = match c.embedding {
        true => ("EMBEDDING", "embedding.model_name"),
        false => ("LLM", "llm.model_name"),
    };
    let mut a = vec![
        KeyValue::new("openinference.span.kind", kind),
        KeyValue::new(model_key, attempt.model_id.clone()),
        KeyValue::new("llm.provider", "aws"),
        KeyValue::new("llm.system", system_of(&attempt.model_id)),
        KeyValue::new("gateway.deployment", attempt.deployment_id.clone()),
        KeyValue::new("gateway.model_group", attempt.group.clone()),
    ];
    if let (true, Some(request)) = (c.embedding, &c.request) {
        // OpenInference's embedding span: the texts (vectors are left out: kilobytes each).
        if !hide.inputs {
            let texts: Vec<&str> = request
                .messages
                .iter()
                .flat_map(|m| &m.content)
                .filter_map(|b| match b {
                    crate::chat::ContentBlock::Text(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect();
            for (i, text) in texts.iter().enumerate() {
                a.push(KeyValue::new(
                    format!("embedding.embeddings.{i}.embedding.text"),
                    (*text).to_owned(),
                ));
            }
            a.push(KeyValue::new(
                "input.value",
                serde_json::Value::from(texts).to_string(),
            ));
            a.push(KeyValue::new("input.mime_type", "application/json"));
        }
    } else if let Some(request) = &c.request {
        a.push(KeyValue::new(
            "llm.invocation_parameters",
            messages::invocation_parameters(request),
        ));
        if !hide.inputs {
            messages::input_messages(request, &mut a);
            a.push(KeyValue::new("input.value", messages::input_value(request)));
            a.push(KeyValue::new("input.mime_type", "application/json"));
        }
    }
    let answered = last && attempt.error.is_none();
    if answered {
        tokens_and_cost(trace, &mut a);
        if !hide.outputs {
            if let Some(output) = &c.output {
                messages::output_messages(output, &mut a);
                let (value, mime) = messages::output_value(output);
                a.push(KeyValue::new("output.value", value));
                a.push(KeyValue::new("output.mime_type", mime));
            }
        }
    }
    common(trace, &mut a);
    let status = match (&attempt.error, last, r.outcome, r.error_type) {
        (Some((kind, message)), _, _, _) => {
            a.push(KeyValue::new("error.type", *kind));
            Status::error(format!("{kind}: {message}"))
        }
        // A stream that broke after it began.
        (None, true, Outcome::Failure, Some(kind)) if kind.starts_with("provider") => {
            a.push(KeyValue::new("error.type", kind));
            Status::error(kind)
        }
        _ => Status::Ok,
    };
    let end = attempt.ended.unwrap_or(trace.ended);
    let verb = if c.embedding { "embedding" } else { "llm" };
    tree.span(
        new_span_id(),
        tree.root,
        format!("{verb} {}", attempt.deployment_id),
        (c.wall(attempt.started), c.wall(end)),
        a,
        status,
    )
}

/// OpenInference's `llm.system`: the model's maker, from a Bedrock model id.
fn system_of(model_id: &str) -> &'static str {
    let id = model_id.rsplit('/').next().unwrap_or(model_id);
    let vendor = id.split('.').find(|part| part.len() > 2).unwrap_or("");
    match vendor {
        "anthropic" => "anthropic",
        "amazon" => "amazon",
        "meta" => "meta",
        "mistral" => "mistralai",
        "cohere" => "cohere",
        "ai21" => "ai21",
        _ => "aws",
    }
}
