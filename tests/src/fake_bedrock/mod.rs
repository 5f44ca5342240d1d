//! A fake Amazon Bedrock Runtime speaking the real wire protocol (REST JSON + AWS event stream).
//!
//! Point the real `aws-sdk-bedrockruntime` at [`FakeBedrock::endpoint`]. Any model id works.
//!
//! # Routes
//! `POST /model/{id}/converse`, `POST /model/{id}/converse-stream`, `POST /model/{id}/count-tokens`,
//! `POST /guardrail/{id}/version/{v}/apply`, plus control routes `GET /_fake/calls`,
//! `POST /_fake/reset`, `POST /_fake/latency?before_ms=N&per_event_ms=M`,
//! `GET /_fake/last-request/{id}`.
//!
//! # Deterministic behaviour (other tests rely on it)
//! - Requests are validated like Bedrock (non-empty `messages`, first role `user`, alternating
//!   roles, non-empty content, no blank text, known block kinds, toolUse only from assistant,
//!   toolResult only from user and matching — all and only — the toolUse ids of the previous
//!   assistant message, `toolConfig` required when tool blocks are present, image format
//!   png|jpeg|gif|webp with standard base64 bytes, `inferenceConfig` ranges, tool names
//!   `[a-zA-Z0-9_-]{1,64}`, `toolChoice` auto|any|tool naming a listed tool). Violations:
//!   400 `ValidationException`.
//! - Text answer: `"Fake answer to: <last user text>"` (text blocks of the last user message
//!   joined by a space), plus `" (with N image(s))"` when the request has N image blocks. If
//!   the last user text contains `LONG_ANSWER`: 300 sentences
//!   `"This is sentence number N of a long answer."` joined by spaces.
//! - Tools: with `toolConfig` and no toolResult in the last user message, the answer is one
//!   toolUse block: id `tooluse_fake_<k>` (k = toolUse blocks already in the conversation + 1),
//!   the tool named by `toolChoice.tool` or else the first tool, input = each `required`
//!   property set by type (first `enum` value if any, else string "test", number/integer 1,
//!   boolean true, array [], object {}), stopReason `tool_use`. If the last user message has
//!   toolResult blocks: `"Tool results: <r1> | <r2>"` where each r is the result's content items
//!   (`text` as is, `json` serialized) joined by a space.
//! - Usage: inputTokens = whitespace words of system text + message text blocks + toolResult
//!   text items (min 1), +1 per image block; outputTokens = words of the answer text (tool use:
//!   words of the JSON input text, min 1); totalTokens = sum.
//! - Limits (text answers): the earliest stop sequence cuts the text before it (trailing
//!   whitespace trimmed) → `stop_sequence`; then more than maxTokens words → first maxTokens
//!   words joined by spaces → `max_tokens`; otherwise `end_turn`.
//! - If the request has `guardrailConfig` and any message text contains a blocked word:
//!   stopReason `guardrail_intervened`, text [`BLOCKED_MESSAGE`].
//! - Streaming: same answer. messageStart; text: one contentBlockDelta per word (the word plus
//!   its following space, so deltas concatenate to the text); tool use: contentBlockStart then
//!   the input JSON text in 2+ fragments; contentBlockStop; messageStop; metadata (usage,
//!   metrics). All at contentBlockIndex 0. [`FakeBedrock::set_stream_chunk_bytes`] streams text
//!   in fixed-size pieces instead (splitting words, emails and phone numbers).
//! - CountTokens (`input.converse`, validated like Converse): `inputTokens` as Converse's usage
//!   would count them. Counted apart ([`FakeBedrock::count_tokens_calls`]); REST faults apply.
//! - ApplyGuardrail: text containing a blocked word (case-insensitive; default `BLOCKME`) →
//!   `GUARDRAIL_INTERVENED`, outputs [`BLOCKED_MESSAGE`], contentPolicy VIOLENCE/HIGH/BLOCKED.
//!   Else emails and phone numbers (10–15 digits with ` -.()` separators, optional leading `+`)
//!   are masked as `{EMAIL}` / `{PHONE}` (one output per text block) with
//!   sensitiveInformationPolicy.piiEntities `{match,type,action:ANONYMIZED}`. Else action
//!   `NONE`, outputs [].
//!
//! - Thinking (`additionalModelRequestFields`): Claude's `thinking` `{type: enabled,
//!   budget_tokens ≥ 1024}` needs `maxTokens` above the budget, temperature unset or 1, no
//!   forced `toolChoice`, and a last assistant turn with a toolUse that starts with its
//!   `reasoningContent` signed [`FAKE_SIGNATURE`]; the answer then begins with a
//!   `reasoningContent` block ("The user wants an answer. I will give it plainly.", signed
//!   [`FAKE_SIGNATURE`]), whose words count as output tokens. Nova 2's `reasoningConfig`
//!   `{type: enabled, maxReasoningEffort: low|medium|high}` gives `[REDACTED]`, unsigned.
//!   Streamed: the reasoning is block 0 (a `reasoningContent.text` delta per word, then its
//!   `signature`), the answer block 1.
//! - Prompt cache: at most [`MAX_CACHE_POINTS`] `cachePoint`s, each after a block of its list
//!   (tools, system, a message's content). The prompt up to the last one (words of its text and
//!   of tool descriptions) is written on the first request of a model id and read on the next
//!   identical ones: `cacheWriteInputTokens` / `cacheReadInputTokens`, out of `inputTokens`
//!   (Bedrock's meaning). No minimum length. [`FakeBedrock::reset`] empties the cache.
//! - Documents: name of letters, digits, single spaces, `-()[]`; at most 4.5 MB. Images at
//!   most 3.75 MB.
//!
//! # Faults
//! Set per model id (or guardrail id) with [`FakeBedrock::set_fault`], or by a model id
//! containing `fault-throttle`, `fault-500`, `fault-503`, `fault-timeout` (hang),
//! `fault-model-timeout`, `fault-stream-exception`, `fault-stream-cut`, `fault-stream-stall`
//! (these three after [`NAME_FAULT_AFTER_EVENTS`] events), `fault-stall-before-first-event`
//! (stall after 0 events), `fault-content-filtered`, `fault-guardrail`, `fault-denied`,
//! `fault-not-found`, `fault-not-ready`, `fault-validation`. A stall
//! ([`Fault::StreamStall`]) sends the 200 head and its events, then nothing with the
//! connection open until [`FakeBedrock::shutdown`], which ends the body. Stream faults do
//! not affect Converse. Guardrail calls honour only HTTP-level faults and hangs. Faults are
//! set in-process only (no control route); over HTTP, use a `fault-…` model id.
//! Every call is counted (even failing ones) and its parsed body kept as the last request.

mod answer;
pub mod embeddings;
mod faults;
mod features;
mod guardrail;
mod server;
mod sigv4;
mod state;
mod stream;
mod validate;
mod validate_config;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt as _;

pub use answer::BLOCKED_MESSAGE;
pub use faults::{Fault, NAME_FAULT_AFTER_EVENTS};
pub use features::{FAKE_SIGNATURE, MAX_CACHE_POINTS};

/// Start-up options of a fake.
#[derive(Clone, Debug, Default)]
pub struct FakeOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Delay before every answer.
    pub latency: Duration,
    /// Delay before every stream event.
    pub stream_event_delay: Duration,
    /// Extra blocked words (besides `BLOCKME`), case-insensitive.
    pub blocked_words: Vec<String>,
}

/// A running fake Bedrock Runtime; dropping it shuts the server down.
pub struct FakeBedrock {
    addr: SocketAddr,
    state: Arc<state::State>,
}

impl FakeBedrock {
    /// Starts on 127.0.0.1 with a random port and default options.
    pub async fn start() -> std::io::Result<FakeBedrock> {
        Self::start_with(FakeOptions::default()).await
    }

    /// Starts with the given options.
    pub async fn start_with(options: FakeOptions) -> std::io::Result<FakeBedrock> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, options.port)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(state::State::new(
            options.latency,
            options.stream_event_delay,
            &options.blocked_words,
        ));
        let app = server::router(Arc::clone(&state));
        let listener = listener.tap_io(|tcp| {
            // Best effort: small stream frames should leave immediately.
            let _ = tcp.set_nodelay(true);
        });
        let stop = Arc::clone(&state);
        tokio::spawn(async move {
            let serve = axum::serve(listener, app);
            let _ = serve
                .with_graceful_shutdown(async move { stop.shutting_down().await })
                .await;
        });
        Ok(FakeBedrock { addr, state })
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn converse_calls(&self, model_id: &str) -> usize {
        let entry = self.state.find_model(model_id);
        entry.map_or(0, |e| e.converse.load(Ordering::Relaxed))
    }

    pub fn stream_calls(&self, model_id: &str) -> usize {
        let entry = self.state.find_model(model_id);
        entry.map_or(0, |e| e.stream.load(Ordering::Relaxed))
    }

    /// CountTokens calls for this model id.
    pub fn count_tokens_calls(&self, model_id: &str) -> usize {
        let entry = self.state.find_model(model_id);
        entry.map_or(0, |e| e.count_tokens.load(Ordering::Relaxed))
    }

    /// InvokeModel (embeddings) calls for this model id.
    pub fn invoke_calls(&self, model_id: &str) -> usize {
        let entry = self.state.find_model(model_id);
        entry.map_or(0, |e| e.invoke.load(Ordering::Relaxed))
    }

    /// Converse + ConverseStream calls for this model id.
    pub fn calls(&self, model_id: &str) -> usize {
        self.converse_calls(model_id) + self.stream_calls(model_id)
    }

    /// Converse + ConverseStream calls over all model ids.
    pub fn total_calls(&self) -> usize {
        let (models, _) = self.state.snapshot();
        models.values().map(|(c, s)| c + s).sum()
    }

    pub fn guardrail_calls(&self, id: &str, version: &str) -> usize {
        self.state.guardrail_calls(&format!("{id}:{version}"))
    }

    /// ApplyGuardrail calls for this guardrail with `source` `INPUT` or `OUTPUT`.
    pub fn guardrail_calls_from(&self, id: &str, version: &str, source: &str) -> usize {
        self.state
            .guardrail_source_calls(&format!("{id}:{version}:{source}"))
    }

    /// Streams text in pieces of `bytes` (whole characters) instead of one word per delta;
    /// 0 goes back to words.
    pub fn set_stream_chunk_bytes(&self, bytes: usize) {
        self.state.chunk_bytes.store(bytes, Ordering::Relaxed);
    }

    /// The last parsed request body sent for this model id.
    pub fn last_request(&self, model_id: &str) -> Option<serde_json::Value> {
        self.state.last_request(model_id)
    }

    /// Injects a fault for a model id (or guardrail id), replacing any previous one.
    pub fn set_fault(&self, model_id: &str, fault: Fault) {
        self.state.set_fault(model_id, fault);
    }

    /// Removes all faults set with [`FakeBedrock::set_fault`] (name-selected faults stay).
    pub fn clear_faults(&self) {
        self.state.clear_faults();
    }

    pub fn set_latency(&self, before_answer: Duration, per_stream_event: Duration) {
        self.state.set_latency(before_answer, per_stream_event);
    }

    pub fn add_blocked_word(&self, word: &str) {
        self.state.add_blocked_word(word);
    }

    /// Clears counters and last requests (faults, latency and blocked words stay).
    pub fn reset(&self) {
        self.state.reset();
    }

    /// Stops accepting connections, releases hanging calls and closes idle connections.
    pub fn shutdown(&self) {
        self.state.shutdown.send_replace(true);
    }
}

impl Drop for FakeBedrock {
    fn drop(&mut self) {
        self.shutdown();
    }
}
