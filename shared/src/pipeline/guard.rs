//! The guardrail steps: input guardrails before the model call, output guardrails on whole
//! answers and, in windows of whole sentences, on streams (so the first token waits for one
//! sentence, not the whole answer). A guardrail that cannot answer fails the request closed.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::account::Accounting;
use super::stream::GatewayEvents;
use crate::chat::{ChatRequest, ChatResponse, ContentBlock, Role, StreamEvent};
use crate::error::{GatewayError, GuardrailStage};
use crate::guardrails::{Guardrail, GuardrailSource, GuardrailVerdict};

/// A stream window is checked once it ends a sentence or reaches this many bytes.
pub const STREAM_WINDOW_MAX_BYTES: usize = 400;

pub type Guardrails = Arc<[Arc<dyn Guardrail>]>;

/// Runs `guardrails` over `texts` in order, applying masks; `Err` when one blocks or fails.
async fn check(
    guardrails: &[Arc<dyn Guardrail>],
    source: GuardrailSource,
    texts: &mut Vec<String>,
    mut record: impl FnMut(&str, &'static str, Instant, Duration),
) -> Result<(), GatewayError> {
    let stage = match source {
        GuardrailSource::Input => GuardrailStage::Input,
        GuardrailSource::Output => GuardrailStage::Output,
    };
    for guardrail in guardrails {
        let started = Instant::now();
        let verdict = guardrail.check(source, texts).await.map_err(|err| {
            tracing::error!(guardrail = guardrail.name(), error = %err, "guardrail failed; refusing");
            GatewayError::DependencyUnavailable("guardrail".into())
        })?;
        record(
            guardrail.name(),
            verdict.action(),
            started,
            started.elapsed(),
        );
        match verdict {
            GuardrailVerdict::Pass => {}
            GuardrailVerdict::Masked { texts: masked } if masked.len() == texts.len() => {
                *texts = masked;
            }
            GuardrailVerdict::Masked { .. } => {
                return Err(GatewayError::Internal(
                    "a guardrail returned a different number of texts".into(),
                ))
            }
            GuardrailVerdict::Blocked => {
                return Err(GatewayError::GuardrailBlocked {
                    stage,
                    guardrail: guardrail.name().to_owned(),
                })
            }
        }
    }
    Ok(())
}

/// Checks the text the caller controls (system and user text), masking it in place.
pub(crate) async fn input(
    guardrails: &[Arc<dyn Guardrail>],
    request: &mut ChatRequest,
    account: &mut Accounting,
) -> Result<(), GatewayError> {
    if guardrails.is_empty() {
        return Ok(());
    }
    let mut texts: Vec<String> = request.system.clone();
    let user_texts = request
        .messages
        .iter()
        .filter(|m| m.role == Role::User)
        .flat_map(|m| &m.content)
        .filter_map(|block| match block {
            ContentBlock::Text(text) => Some(text.clone()),
            _ => None,
        });
    texts.extend(user_texts);
    let record = |name: &str, action, started, elapsed| {
        account.guardrail(name, "pre_call", action, started, elapsed);
    };
    check(guardrails, GuardrailSource::Input, &mut texts, record).await?;
    let mut masked = texts.into_iter();
    for text in &mut request.system {
        if let Some(new) = masked.next() {
            *text = new;
        }
    }
    let user_blocks = request
        .messages
        .iter_mut()
        .filter(|m| m.role == Role::User)
        .flat_map(|m| &mut m.content);
    for block in user_blocks {
        if let (ContentBlock::Text(text), Some(new)) = (block, masked.next()) {
            *text = new;
        }
    }
    Ok(())
}

/// Checks a whole answer's text, masking it in place.
pub(crate) async fn output(
    guardrails: &[Arc<dyn Guardrail>],
    response: &mut ChatResponse,
    account: &mut Accounting,
) -> Result<(), GatewayError> {
    let Some(content) = response.content.as_mut().filter(|_| !guardrails.is_empty()) else {
        return Ok(());
    };
    let mut texts = vec![std::mem::take(content)];
    let record = |name: &str, action, started, elapsed| {
        account.guardrail(name, "post_call", action, started, elapsed);
    };
    check(guardrails, GuardrailSource::Output, &mut texts, record).await?;
    *content = texts.pop().unwrap_or_default();
    Ok(())
}

/// Checks a streamed answer's text in windows of whole sentences (at most
/// [`STREAM_WINDOW_MAX_BYTES`] unless one sentence is longer); other events pass in order.
pub(crate) fn output_stream(events: GatewayEvents, guardrails: Guardrails) -> GatewayEvents {
    if guardrails.is_empty() {
        return events;
    }
    let state = Windows {
        events,
        guardrails,
        buffer: String::new(),
        ready: VecDeque::new(),
        done: false,
    };
    Box::pin(futures_util::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(item) = s.ready.pop_front() {
                return Some((item, s));
            }
            if s.done {
                return None;
            }
            match s.events.next().await {
                Some(Ok(StreamEvent::TextDelta(text))) => {
                    s.buffer.push_str(&text);
                    if window_complete(&s.buffer) {
                        s.release().await;
                    }
                }
                Some(Ok(event)) => {
                    s.release().await;
                    if !s.done {
                        s.ready.push_back(Ok(event));
                    }
                }
                Some(Err(err)) => {
                    // Text not yet checked is never sent.
                    s.ready.push_back(Err(err));
                    s.done = true;
                }
                None => {
                    s.release().await;
                    s.done = true;
                }
            }
        }
    }))
}

struct Windows {
    events: GatewayEvents,
    guardrails: Guardrails,
    buffer: String,
    ready: VecDeque<Result<StreamEvent, GatewayError>>,
    done: bool,
}

impl Windows {
    /// Checks the buffered text and queues it (masked), or queues the block as the last item.
    async fn release(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let mut texts = vec![std::mem::take(&mut self.buffer)];
        match check(
            &self.guardrails,
            GuardrailSource::Output,
            &mut texts,
            |_, _, _, _| {},
        )
        .await
        {
            Ok(()) => {
                let text = texts.pop().unwrap_or_default();
                self.ready.push_back(Ok(StreamEvent::TextDelta(text)));
            }
            Err(err) => {
                self.ready.push_back(Err(err));
                self.done = true;
            }
        }
    }
}

/// A sentence ended (`.`, `!`, `?` or a newline, then whitespace) or the window is full.
fn window_complete(buffer: &str) -> bool {
    if buffer.len() >= STREAM_WINDOW_MAX_BYTES {
        return true;
    }
    let trimmed = buffer.trim_end();
    trimmed.len() < buffer.len()
        && (buffer[trimmed.len()..].contains('\n') || trimmed.ends_with(['.', '!', '?']))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guardrails::WordListGuardrail;

    fn events(items: Vec<StreamEvent>) -> GatewayEvents {
        Box::pin(futures_util::stream::iter(items.into_iter().map(Ok)))
    }

    fn guardrails(blocked: &[&str], masked: &[&str]) -> Guardrails {
        Arc::from(vec![
            Arc::new(WordListGuardrail::new("words", blocked, masked)) as Arc<dyn Guardrail>,
        ])
    }

    fn words(text: &str) -> Vec<StreamEvent> {
        text.split_inclusive(' ')
            .map(|w| StreamEvent::TextDelta(w.to_owned()))
            .collect()
    }

    #[test]
    fn windows_end_on_sentences() {
        assert!(window_complete("One sentence. "));
        assert!(window_complete("Line\n"));
        assert!(!window_complete("One sentence."));
        assert!(!window_complete("Version 3.5 is "));
        assert!(window_complete(&"x".repeat(STREAM_WINDOW_MAX_BYTES)));
    }

    #[tokio::test]
    async fn stream_text_is_masked_per_sentence_and_other_events_keep_their_order() {
        let mut items = vec![StreamEvent::Start];
        items.extend(words("My secret is here. And the secret again"));
        items.push(StreamEvent::Finish(crate::chat::FinishReason::Stop));
        let out: Vec<_> = output_stream(events(items), guardrails(&[], &["secret"]))
            .collect()
            .await;
        let out: Vec<StreamEvent> = out.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            out,
            vec![
                StreamEvent::Start,
                StreamEvent::TextDelta("My {MASKED} is here. ".into()),
                StreamEvent::TextDelta("And the {MASKED} again".into()),
                StreamEvent::Finish(crate::chat::FinishReason::Stop),
            ]
        );
    }

    #[tokio::test]
    async fn a_blocked_window_ends_the_stream_and_its_text_never_leaves() {
        let mut items = words("Fine start. Then forbidden words. More");
        items.push(StreamEvent::Finish(crate::chat::FinishReason::Stop));
        let out: Vec<_> = output_stream(events(items), guardrails(&["forbidden"], &[]))
            .collect()
            .await;
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0], Ok(StreamEvent::TextDelta("Fine start. ".into())));
        assert!(matches!(
            out[1],
            Err(GatewayError::GuardrailBlocked {
                stage: GuardrailStage::Output,
                ..
            })
        ));
    }
}
