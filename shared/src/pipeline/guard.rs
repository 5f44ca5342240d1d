//! The guardrail steps: `pre_call` on the caller's text before the model call, `during_call`
//! on it beside the model call, `post_call` on whole answers (streams: `guard_stream`).
//!
//! Each ApplyGuardrail call is recorded in the request's [`GuardrailLog`]. A guardrail that
//! cannot answer refuses the request (503) unless its policy says `fail_open`. Masks apply only
//! where the policy allows (`mask_request_content`, `mask_response_content`); elsewhere the
//! entities are recorded as `detected` and the text goes on unchanged.

use std::sync::Arc;
use std::time::Instant;

use super::account::GuardrailLog;
use serde_json::Value;

use crate::chat::{ChatRequest, ChatResponse, ContentBlock, FinishReason};
use crate::config::GuardrailMode;
use crate::error::{GatewayError, GuardrailStage};
use crate::guardrails::{Attached, GuardrailCheck, GuardrailSource, GuardrailVerdict};

/// How a run of guardrails ended, when none failed closed.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Outcome {
    /// Every guardrail let the texts through (masked where allowed).
    Passed,
    /// `guardrail` blocked; `quietly` when its policy turns the block into a `content_filter`
    /// finish instead of an error.
    Blocked { guardrail: String, quietly: bool },
}

impl Outcome {
    /// A block as the error for `stage`.
    pub(super) fn into_error(self, stage: GuardrailStage) -> Result<(), GatewayError> {
        match self {
            Outcome::Passed => Ok(()),
            Outcome::Blocked { guardrail, .. } => {
                Err(GatewayError::GuardrailBlocked { stage, guardrail })
            }
        }
    }
}

/// Runs `guardrails` in `mode` over `texts` in order, applying the masks their policy allows.
pub(super) async fn run(
    guardrails: &[Arc<Attached>],
    mode: GuardrailMode,
    texts: &mut Vec<String>,
    log: &GuardrailLog,
) -> Result<Outcome, GatewayError> {
    let source = match mode {
        GuardrailMode::PostCall => GuardrailSource::Output,
        GuardrailMode::PreCall | GuardrailMode::DuringCall => GuardrailSource::Input,
    };
    for attached in guardrails {
        let started = Instant::now();
        let checked = attached.guardrail.check(source, texts).await;
        let record = |action: &'static str, entities: Vec<String>| {
            log.push(GuardrailCheck {
                name: attached.name().to_owned(),
                mode: mode.as_str(),
                action,
                entities,
                started,
                elapsed: started.elapsed(),
            });
        };
        let checked = match checked {
            Ok(checked) => checked,
            Err(err) if attached.policy.fail_open => {
                tracing::warn!(guardrail = attached.name(), error = %err, "guardrail failed; failing open");
                record("failed_open", Vec::new());
                continue;
            }
            Err(err) => {
                tracing::error!(guardrail = attached.name(), error = %err, "guardrail failed; refusing");
                record("failed", Vec::new());
                return Err(GatewayError::DependencyUnavailable("guardrail".into()));
            }
        };
        let may_mask = match mode {
            GuardrailMode::PreCall => attached.policy.mask_request_content,
            GuardrailMode::PostCall => attached.policy.mask_response_content,
            // The text has gone to the model already.
            GuardrailMode::DuringCall => false,
        };
        match checked.verdict {
            GuardrailVerdict::Pass => record("none", checked.entities),
            GuardrailVerdict::Masked { .. } if !may_mask => record("detected", checked.entities),
            GuardrailVerdict::Masked { texts: masked } if masked.len() == texts.len() => {
                record("masked", checked.entities);
                *texts = masked;
            }
            GuardrailVerdict::Masked { .. } => {
                record("failed", checked.entities);
                return Err(GatewayError::Internal(
                    "a guardrail returned a different number of texts".into(),
                ));
            }
            GuardrailVerdict::Blocked => {
                record("blocked", checked.entities);
                return Ok(Outcome::Blocked {
                    guardrail: attached.name().to_owned(),
                    quietly: attached.policy.disable_exception_on_block,
                });
            }
        }
    }
    Ok(Outcome::Passed)
}

/// Every text the caller wrote, in request order: system texts, then each message's text
/// blocks, tool results and the string values of tool-call arguments, whatever the turn's role
/// (assistant turns and tool results come from the caller too; Lex history is caller-set
/// session state). Empty texts are left out. [`caller_texts_mut`] visits the same texts in the
/// same order, so a masked text goes back to the place it came from.
fn caller_texts(request: &ChatRequest) -> Vec<String> {
    let mut texts: Vec<String> = Vec::new();
    let mut push = |text: &String| {
        if !text.is_empty() {
            texts.push(text.clone());
        }
    };
    request.system.iter().for_each(&mut push);
    for block in request.messages.iter().flat_map(|m| &m.content) {
        match block {
            ContentBlock::Text(text) => push(text),
            ContentBlock::ToolResult { content, .. } => push(content),
            ContentBlock::ToolUse { input, .. } => json_strings(input, &mut push),
            // Reasoning goes back signed and unchanged; documents and images are not text.
            ContentBlock::Image { .. }
            | ContentBlock::Document { .. }
            | ContentBlock::Reasoning(_)
            | ContentBlock::CachePoint => {}
        }
    }
    texts
}

/// The texts of [`caller_texts`], in its order, to write masked texts back.
fn caller_texts_mut(request: &mut ChatRequest) -> Vec<&mut String> {
    let mut texts: Vec<&mut String> = request.system.iter_mut().collect();
    for block in request.messages.iter_mut().flat_map(|m| &mut m.content) {
        match block {
            ContentBlock::Text(text) => texts.push(text),
            ContentBlock::ToolResult { content, .. } => texts.push(content),
            ContentBlock::ToolUse { input, .. } => json_strings_mut(input, &mut texts),
            ContentBlock::Image { .. }
            | ContentBlock::Document { .. }
            | ContentBlock::Reasoning(_)
            | ContentBlock::CachePoint => {}
        }
    }
    texts.retain(|text| !text.is_empty());
    texts
}

/// The string values in `value`, depth first (object keys are names, not text).
fn json_strings<'v>(value: &'v Value, push: &mut impl FnMut(&'v String)) {
    match value {
        Value::String(text) => push(text),
        Value::Array(items) => items.iter().for_each(|item| json_strings(item, push)),
        Value::Object(fields) => fields.values().for_each(|item| json_strings(item, push)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn json_strings_mut<'v>(value: &'v mut Value, texts: &mut Vec<&'v mut String>) {
    match value {
        Value::String(text) => texts.push(text),
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| json_strings_mut(item, texts)),
        Value::Object(fields) => fields
            .values_mut()
            .for_each(|item| json_strings_mut(item, texts)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `pre_call`: checks every text the caller wrote, masking each in its place; a block is a 400.
pub(crate) async fn input(
    guardrails: &[Arc<Attached>],
    request: &mut ChatRequest,
    log: &GuardrailLog,
) -> Result<(), GatewayError> {
    if guardrails.is_empty() {
        return Ok(());
    }
    let mut texts = caller_texts(request);
    run(guardrails, GuardrailMode::PreCall, &mut texts, log)
        .await?
        .into_error(GuardrailStage::Input)?;
    for (place, masked) in caller_texts_mut(request).into_iter().zip(texts) {
        *place = masked;
    }
    Ok(())
}

/// `pre_call` guardrails a fallback group adds: `None` when there are none (the request goes
/// on as it is), else the request as they let it through. A block is a 400 unless a later
/// fallback takes the request.
pub(crate) async fn fallback_input(
    guardrails: &[Arc<Attached>],
    request: &ChatRequest,
    log: &GuardrailLog,
) -> Result<Option<ChatRequest>, GatewayError> {
    if guardrails.is_empty() {
        return Ok(None);
    }
    let mut checked = request.clone();
    input(guardrails, &mut checked, log).await?;
    Ok(Some(checked))
}

/// `during_call`: checks the caller's text while the model answers; a block discards the
/// answer (the caller awaits both).
pub(crate) async fn during(
    guardrails: &[Arc<Attached>],
    request: &ChatRequest,
    log: &GuardrailLog,
) -> Result<(), GatewayError> {
    if guardrails.is_empty() {
        return Ok(());
    }
    let mut texts = caller_texts(request);
    run(guardrails, GuardrailMode::DuringCall, &mut texts, log)
        .await?
        .into_error(GuardrailStage::Input)
}

/// `post_call` on a whole answer's text and its tool calls' arguments, masking them in place.
/// A block is an error, or with `disable_exception_on_block` an answer without content that
/// ends with `content_filter`.
pub(crate) async fn output(
    guardrails: &[Arc<Attached>],
    response: &mut ChatResponse,
    log: &GuardrailLog,
) -> Result<(), GatewayError> {
    if guardrails.is_empty() || (response.content.is_none() && response.tool_calls.is_empty()) {
        return Ok(());
    }
    let mut texts: Vec<String> = response.content.iter().cloned().collect();
    texts.extend(
        response
            .tool_calls
            .iter()
            .map(|call| call.arguments.clone()),
    );
    match run(guardrails, GuardrailMode::PostCall, &mut texts, log).await? {
        Outcome::Passed => {
            let mut checked = texts.into_iter();
            if let Some(content) = response.content.as_mut() {
                *content = checked.next().unwrap_or_default();
            }
            for call in &mut response.tool_calls {
                call.arguments = checked.next().unwrap_or_default();
            }
            Ok(())
        }
        Outcome::Blocked { quietly: true, .. } => {
            response.content = None;
            response.tool_calls.clear();
            response.finish_reason = FinishReason::ContentFilter;
            Ok(())
        }
        blocked => blocked.into_error(GuardrailStage::Output),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ImageFormat;
    use crate::chat::{Message, Role};
    use serde_json::json;

    fn request() -> ChatRequest {
        ChatRequest {
            system: vec!["sys".into(), String::new()],
            messages: vec![
                Message {
                    role: Role::User,
                    content: vec![
                        ContentBlock::Image {
                            format: ImageFormat::Png,
                            data: vec![1],
                        },
                        ContentBlock::Text("a@b.com".into()),
                    ],
                },
                Message {
                    role: Role::Assistant,
                    content: vec![
                        ContentBlock::Text("said".into()),
                        ContentBlock::ToolUse {
                            id: "t1".into(),
                            name: "f".into(),
                            input: json!({"to": "c@d.com", "n": 1, "cc": ["e@f.com"]}),
                        },
                    ],
                },
                Message {
                    role: Role::User,
                    content: vec![ContentBlock::ToolResult {
                        tool_use_id: "t1".into(),
                        content: "result".into(),
                    }],
                },
            ],
            ..ChatRequest::default()
        }
    }

    #[test]
    fn every_caller_text_is_seen_and_written_back_in_its_place() {
        let mut request = request();
        let texts = caller_texts(&request);
        let mut seen = texts.clone();
        seen.sort();
        assert_eq!(
            seen,
            ["a@b.com", "c@d.com", "e@f.com", "result", "said", "sys"]
        );
        let masked: Vec<String> = texts.iter().map(|t| format!("<{t}>")).collect();
        for (place, new) in caller_texts_mut(&mut request).into_iter().zip(masked) {
            *place = new;
        }
        assert_eq!(request.system, ["<sys>", ""]);
        assert_eq!(
            request.messages[0].content[1],
            ContentBlock::Text("<a@b.com>".into())
        );
        assert!(matches!(
            request.messages[0].content[0],
            ContentBlock::Image { .. }
        ));
        let ContentBlock::ToolUse { input, .. } = &request.messages[1].content[1] else {
            panic!("tool use")
        };
        assert_eq!(
            input,
            &json!({"to": "<c@d.com>", "n": 1, "cc": ["<e@f.com>"]})
        );
        assert_eq!(
            request.messages[2].content[0],
            ContentBlock::ToolResult {
                tool_use_id: "t1".into(),
                content: "<result>".into()
            }
        );
    }
}
