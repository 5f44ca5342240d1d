//! `post_call` on a stream without holding the whole answer: text is checked in windows and
//! each window is released (masked) once its check passes, so the first token waits for one
//! window, not for the end of the generation.
//!
//! A window holds at least [`STREAM_WINDOW_MIN_BYTES`] (so one word per line cannot multiply
//! ApplyGuardrail calls: at most one call per that many bytes, plus the last) and ends after
//! the last sentence end by Unicode's rules (UAX #29, `unicode-segmentation`: `。`, `!`,
//! newlines and the rest, not the `.` in `3.5`). Without one, once the buffer holds
//! [`STREAM_WINDOW_MAX_BYTES`], it ends at the last space that cannot be inside a phone number
//! (not between two of `0-9+-().`), else (text without spaces, such as CJK) at the last word
//! boundary outside a run of ASCII letters, digits and `@._%+-()`: emails and phone numbers are
//! never cut in two. Only a run of [`STREAM_WINDOW_HARD_MAX_BYTES`] without any of these is cut
//! at its last word boundary (or grapheme, never inside a character). The rest is carried over.
//!
//! Each window is checked together with the last [`STREAM_WINDOW_OVERLAP_BYTES`] of the window
//! before it (already sent), so a blocked phrase split across two windows is still seen; only
//! the new window's text is released.
//!
//! A tool call's arguments are held until the call's last delta (a client cannot act on part of
//! them) and checked as one text, then sent as one delta, masked.
//!
//! A block ends the text: with `disable_exception_on_block` the stream finishes with
//! `content_filter` (the provider's later text is dropped, its usage still passes), otherwise
//! with the blocked error. Checks fail closed as in `guard`.

use std::collections::VecDeque;
use std::sync::Arc;

use futures_util::StreamExt;
use unicode_segmentation::{GraphemeCursor, UnicodeSegmentation};

use super::account::GuardrailLog;
use super::guard::{run, Outcome};
use super::stream::GatewayEvents;
use crate::chat::{FinishReason, StreamEvent};
use crate::config::GuardrailMode;
use crate::error::{GatewayError, GuardrailStage};
use crate::guardrails::Attached;

/// A window is at least this long (except the answer's last).
pub const STREAM_WINDOW_MIN_BYTES: usize = 200;
/// Without a sentence end, a window is cut at a safe space once the buffer is this long.
pub const STREAM_WINDOW_MAX_BYTES: usize = 400;
/// How much of the previous window each check sees again, before the new window.
pub const STREAM_WINDOW_OVERLAP_BYTES: usize = 120;
/// A run this long without a safe space is cut where it stands.
pub const STREAM_WINDOW_HARD_MAX_BYTES: usize = 2 * STREAM_WINDOW_MAX_BYTES;

/// Wraps `events` so their text passes `guardrails` window by window.
pub(crate) fn output_stream(
    events: GatewayEvents,
    guardrails: Arc<[Arc<Attached>]>,
    log: GuardrailLog,
) -> GatewayEvents {
    if guardrails.is_empty() {
        return events;
    }
    let state = Windows {
        events,
        guardrails,
        log,
        buffer: String::new(),
        overlap: String::new(),
        tool_args: None,
        ready: VecDeque::new(),
        blocked: false,
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
                Some(Ok(StreamEvent::TextDelta(text))) if !s.blocked => {
                    s.buffer.push_str(&text);
                    while let Some(at) = cut(&s.buffer).filter(|_| !s.blocked && !s.done) {
                        let rest = s.buffer.split_off(at);
                        let window = std::mem::replace(&mut s.buffer, rest);
                        s.release(window).await;
                    }
                }
                Some(Ok(StreamEvent::ToolCallDelta { index, arguments })) if !s.blocked => {
                    let window = std::mem::take(&mut s.buffer);
                    s.release(window).await;
                    match &mut s.tool_args {
                        Some((held, args)) if *held == index => args.push_str(&arguments),
                        _ => {
                            s.release_tool_args().await;
                            s.tool_args = Some((index, arguments));
                        }
                    }
                }
                Some(Ok(event)) if s.blocked => {
                    // After a quiet block only the usage goes on.
                    if let StreamEvent::Usage(_) = event {
                        s.ready.push_back(Ok(event));
                    }
                }
                Some(Ok(event)) => {
                    let window = std::mem::take(&mut s.buffer);
                    s.release(window).await;
                    s.release_tool_args().await;
                    if !s.done && !s.blocked {
                        s.ready.push_back(Ok(event));
                    }
                }
                Some(Err(err)) => {
                    // Text not yet checked is never sent.
                    s.ready.push_back(Err(err));
                    s.done = true;
                }
                None => {
                    let window = std::mem::take(&mut s.buffer);
                    s.release(window).await;
                    s.release_tool_args().await;
                    s.done = true;
                }
            }
        }
    }))
}

struct Windows {
    events: GatewayEvents,
    guardrails: Arc<[Arc<Attached>]>,
    log: GuardrailLog,
    buffer: String,
    /// The end of the last text window released: checked again before the next one.
    overlap: String,
    /// The arguments of the tool call being streamed: its index and the deltas so far.
    tool_args: Option<(u32, String)>,
    ready: VecDeque<Result<StreamEvent, GatewayError>>,
    /// Quietly blocked: the stream finished with `content_filter`; later text is dropped.
    blocked: bool,
    done: bool,
}

impl Windows {
    /// Checks `window` after the end of the previous one and queues it (masked), or queues how
    /// the block ends the stream.
    async fn release(&mut self, window: String) {
        if window.is_empty() || self.blocked || self.done {
            return;
        }
        let context = std::mem::take(&mut self.overlap);
        let checked = format!("{context}{window}");
        let released = self.ready.len();
        self.release_as(checked, StreamEvent::TextDelta).await;
        if self.ready.len() == released + 1 {
            if let Some(Ok(StreamEvent::TextDelta(text))) = self.ready.back_mut() {
                match text.strip_prefix(context.as_str()) {
                    Some(new) => *text = new.to_owned(),
                    // A mask reached into the context: check the window on its own.
                    None => {
                        self.ready.pop_back();
                        self.release_as(window, StreamEvent::TextDelta).await;
                    }
                }
                if let Some(Ok(StreamEvent::TextDelta(text))) = self.ready.back() {
                    self.overlap =
                        tail(&format!("{context}{text}"), STREAM_WINDOW_OVERLAP_BYTES).to_owned();
                }
            }
        }
    }

    /// Checks the held tool call's arguments and queues them as one delta (masked).
    async fn release_tool_args(&mut self) {
        if let Some((index, arguments)) = self.tool_args.take() {
            self.release_as(arguments, |arguments| StreamEvent::ToolCallDelta {
                index,
                arguments,
            })
            .await;
        }
    }

    /// Checks `text` and queues it (masked) as the event `make` builds, or queues how the
    /// block ends the stream.
    async fn release_as(&mut self, text: String, make: impl FnOnce(String) -> StreamEvent) {
        if text.is_empty() || self.blocked || self.done {
            return;
        }
        let mut texts = vec![text];
        let outcome = run(
            &self.guardrails,
            GuardrailMode::PostCall,
            &mut texts,
            &self.log,
        )
        .await;
        match outcome {
            Ok(Outcome::Passed) => {
                let text = texts.pop().unwrap_or_default();
                self.ready.push_back(Ok(make(text)));
            }
            Ok(Outcome::Blocked { quietly: true, .. }) => {
                self.ready
                    .push_back(Ok(StreamEvent::Finish(FinishReason::ContentFilter)));
                self.blocked = true;
            }
            Ok(blocked) => {
                if let Err(err) = blocked.into_error(GuardrailStage::Output) {
                    self.ready.push_back(Err(err));
                }
                self.done = true;
            }
            Err(err) => {
                self.ready.push_back(Err(err));
                self.done = true;
            }
        }
    }
}

/// Where `buffer` may be cut into a window now (the byte offset after the window), if at all.
fn cut(buffer: &str) -> Option<usize> {
    if buffer.len() < STREAM_WINDOW_MIN_BYTES {
        return None;
    }
    if let Some(at) = last_sentence_end(buffer) {
        return Some(at);
    }
    if buffer.len() < STREAM_WINDOW_MAX_BYTES {
        return None;
    }
    if let Some(at) = last_safe_space(buffer).or_else(|| last_safe_word_boundary(buffer)) {
        return Some(at);
    }
    if buffer.len() < STREAM_WINDOW_HARD_MAX_BYTES {
        return None;
    }
    // Still a window of the minimum size: a boundary near the start would make a tiny one.
    let within = |at: &usize| (STREAM_WINDOW_MIN_BYTES..=STREAM_WINDOW_HARD_MAX_BYTES).contains(at);
    buffer
        .split_word_bound_indices()
        .map(|(at, _)| at)
        .rev()
        .find(within)
        .or_else(|| {
            buffer
                .grapheme_indices(true)
                .map(|(at, _)| at)
                .rev()
                .find(within)
        })
        .or_else(|| {
            (1..=STREAM_WINDOW_HARD_MAX_BYTES)
                .rev()
                .find(|&at| buffer.is_char_boundary(at))
        })
}

/// The start of the buffer's last sentence by Unicode's rules (the end of the sentence before
/// it), when that leaves a window of the minimum size. The last sentence may be unfinished, so
/// it stays in the buffer.
fn last_sentence_end(buffer: &str) -> Option<usize> {
    buffer
        .split_sentence_bound_indices()
        .map(|(at, _)| at)
        .last()
        .filter(|&at| at >= STREAM_WINDOW_MIN_BYTES)
}

/// Whether `c` may be part of an email address or a phone number.
fn in_contact(c: char) -> bool {
    c.is_ascii_alphanumeric() || "@._%+-()".contains(c)
}

/// The offset after the last space not between two characters of a phone number, when that
/// leaves a window of the minimum size.
fn last_safe_space(buffer: &str) -> Option<usize> {
    let phone = |b: u8| b.is_ascii_digit() || b"+-().".contains(&b);
    let bytes = buffer.as_bytes();
    (STREAM_WINDOW_MIN_BYTES..bytes.len().saturating_sub(1))
        .rev()
        .find_map(|i| {
            let safe = bytes[i].is_ascii_whitespace()
                && !(phone(bytes[i - 1]) && phone(bytes[i + 1]))
                && is_grapheme_boundary(buffer, i + 1);
            safe.then_some(i + 1)
        })
}

/// Whether `at` is between two graphemes of `text` (not between `\r` and `\n`, nor before a
/// combining mark).
fn is_grapheme_boundary(text: &str, at: usize) -> bool {
    GraphemeCursor::new(at, text.len(), true)
        .is_boundary(text, 0)
        .unwrap_or(false)
}

/// The last word boundary (Unicode's rules) with no email or phone character on both sides,
/// when that leaves a window of the minimum size: where text without spaces (CJK) may be cut.
fn last_safe_word_boundary(buffer: &str) -> Option<usize> {
    buffer
        .split_word_bound_indices()
        .map(|(at, _)| at)
        .rev()
        .filter(|&at| at >= STREAM_WINDOW_MIN_BYTES)
        .find(|&at| {
            let before = buffer[..at].chars().next_back();
            let after = buffer[at..].chars().next();
            let inside_contact = before.is_some_and(in_contact) && after.is_some_and(in_contact);
            let after_space = before.is_some_and(char::is_whitespace);
            !inside_contact && !after_space
        })
}

/// The last `max` bytes of `text` or fewer, starting at a character boundary.
fn tail(text: &str, max: usize) -> &str {
    let mut at = text.len().saturating_sub(max);
    while !text.is_char_boundary(at) {
        at += 1;
    }
    &text[at..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guardrails::{Guardrail, GuardrailPolicy, WordListGuardrail};

    fn events(items: Vec<StreamEvent>) -> GatewayEvents {
        Box::pin(futures_util::stream::iter(items.into_iter().map(Ok)))
    }

    fn guardrails(blocked: &[&str], masked: &[&str], quietly: bool) -> Arc<[Arc<Attached>]> {
        let words =
            Arc::new(WordListGuardrail::new("words", blocked, masked)) as Arc<dyn Guardrail>;
        let mut policy = GuardrailPolicy::always(GuardrailMode::PostCall);
        policy.disable_exception_on_block = quietly;
        Arc::from(vec![Attached::new(words, policy)])
    }

    fn chunks(text: &str, size: usize) -> Vec<StreamEvent> {
        text.as_bytes()
            .chunks(size)
            .map(|c| StreamEvent::TextDelta(String::from_utf8_lossy(c).into_owned()))
            .collect()
    }

    async fn collect(
        items: Vec<StreamEvent>,
        guardrails: Arc<[Arc<Attached>]>,
    ) -> Vec<Result<StreamEvent, GatewayError>> {
        output_stream(events(items), guardrails, GuardrailLog::default())
            .collect()
            .await
    }

    fn text(out: &[Result<StreamEvent, GatewayError>]) -> String {
        out.iter()
            .filter_map(|e| match e {
                Ok(StreamEvent::TextDelta(t)) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn windows_end_after_sentences_or_at_safe_spaces() {
        let filler = "x ".repeat(STREAM_WINDOW_MIN_BYTES / 2);
        let at = filler.len();
        // Sentence ends by Unicode's rules, once the window is long enough.
        assert_eq!(cut(&format!("{filler}One sentence. Two")), Some(at + 14));
        assert_eq!(cut(&format!("{filler}Line\nnext")), Some(at + 5));
        assert_eq!(
            cut(&format!("{filler}第一句。第二")),
            Some(at + "第一句。".len())
        );
        assert_eq!(cut("Short. Sentences. Wait."), None, "below the minimum");
        assert_eq!(cut(&format!("{filler}One sentence.")), None);
        assert_eq!(cut(&format!("{filler}Version 3.5 is")), None);
        let long = format!("{} call 555 123 4567", "x".repeat(STREAM_WINDOW_MAX_BYTES));
        // The cut falls before the number, not inside it.
        let at = cut(&long).unwrap();
        assert!(long[at..].starts_with("555 123 4567"), "{:?}", &long[at..]);
        assert_eq!(cut(&"x".repeat(STREAM_WINDOW_MAX_BYTES + 5)), None);
        // A run without any boundary is cut at a character boundary, never inside one.
        let run = "é".repeat(STREAM_WINDOW_HARD_MAX_BYTES);
        let at = cut(&run).unwrap();
        assert!(run.is_char_boundary(at) && at <= STREAM_WINDOW_HARD_MAX_BYTES);
    }

    #[test]
    fn a_safe_space_never_splits_a_grapheme() {
        // Found by the property test: a space followed by a combining mark is one grapheme,
        // and so is CR LF.
        let filler = "x".repeat(STREAM_WINDOW_MAX_BYTES);
        for joined in [" \u{301}", "\r\n"] {
            let text = format!("{filler}{joined}yyy");
            if let Some(at) = cut(&text) {
                assert!(is_grapheme_boundary(&text, at), "{joined:?} cut at {at}");
            }
        }
    }

    #[test]
    fn a_run_cut_where_it_stands_still_makes_a_window_of_the_minimum_size() {
        // Found by the property test: the only word boundary was after the leading space.
        let run = format!(" {}", "x".repeat(STREAM_WINDOW_HARD_MAX_BYTES));
        let at = cut(&run).unwrap();
        assert!(
            (STREAM_WINDOW_MIN_BYTES..=STREAM_WINDOW_HARD_MAX_BYTES).contains(&at),
            "cut at {at}"
        );
    }

    #[test]
    fn cjk_text_with_an_email_is_cut_between_ideographs_not_inside_the_email() {
        let email = "alice.smith@example.com";
        for pad in 0..40 {
            let text = format!("{}{email}{}", "中".repeat(120 + pad), "文".repeat(100));
            if let Some(at) = cut(&text) {
                let (window, rest) = text.split_at(at);
                assert!(
                    window.contains(email) || rest.contains(email),
                    "pad {pad}: {window:?} | {rest:?}"
                );
                assert!(at >= STREAM_WINDOW_MIN_BYTES);
            }
        }
    }

    #[tokio::test]
    async fn one_word_per_line_makes_a_bounded_number_of_checks() {
        let answer: String = (0..1000).map(|i| format!("w{i}\n")).collect();
        let log = GuardrailLog::default();
        let out: Vec<_> = output_stream(
            events(chunks(&answer, 4)),
            guardrails(&[], &["secret"], false),
            log.clone(),
        )
        .collect()
        .await;
        assert_eq!(text(&out), answer);
        let checks = log.len();
        assert!(
            checks <= answer.len() / STREAM_WINDOW_MIN_BYTES + 1,
            "{checks} checks for {} bytes",
            answer.len()
        );
    }

    #[tokio::test]
    async fn a_blocked_phrase_split_across_windows_is_still_caught() {
        // The first window ends after "forbidden"; "words" starts the next one.
        let filler = "fine ".repeat(STREAM_WINDOW_MIN_BYTES / 4);
        let answer = format!(
            "{filler}It is forbidden\nwords follow{}",
            " more".repeat(60)
        );
        let out = collect(
            chunks(&answer, 7),
            guardrails(&["forbidden\nwords"], &[], false),
        )
        .await;
        assert!(
            matches!(out.last(), Some(Err(GatewayError::GuardrailBlocked { .. }))),
            "{out:?}"
        );
        assert!(!text(&out).contains("words follow"));
    }

    #[tokio::test]
    async fn a_word_split_across_chunks_and_windows_is_still_masked() {
        let filler = "word ".repeat(79);
        let answer = format!("{filler}mail secret now. And the secret again");
        for size in [1, 3, 7, 64] {
            let mut items = vec![StreamEvent::Start];
            items.extend(chunks(&answer, size));
            items.push(StreamEvent::Finish(FinishReason::Stop));
            let out = collect(items, guardrails(&[], &["secret"], false)).await;
            assert_eq!(
                text(&out),
                answer.replace("secret", "{MASKED}"),
                "chunks of {size}"
            );
            assert_eq!(out.first(), Some(&Ok(StreamEvent::Start)));
            assert_eq!(
                out.last(),
                Some(&Ok(StreamEvent::Finish(FinishReason::Stop)))
            );
        }
    }

    #[tokio::test]
    async fn tool_call_arguments_are_checked_whole_and_masked() {
        let start = |index: u32| StreamEvent::ToolCallStart {
            index,
            id: format!("t{index}"),
            name: "send".into(),
        };
        let delta = |index: u32, arguments: &str| StreamEvent::ToolCallDelta {
            index,
            arguments: arguments.into(),
        };
        let items = vec![
            StreamEvent::Start,
            StreamEvent::TextDelta("Sending.".into()),
            start(0),
            delta(0, r#"{"to":"sec"#),
            delta(0, r#"ret"}"#),
            start(1),
            delta(1, r#"{"to":"ok"}"#),
            StreamEvent::Finish(FinishReason::ToolCalls),
        ];
        let out = collect(items, guardrails(&[], &["secret"], false)).await;
        let expected = vec![
            StreamEvent::Start,
            StreamEvent::TextDelta("Sending.".into()),
            start(0),
            delta(0, r#"{"to":"{MASKED}"}"#),
            start(1),
            delta(1, r#"{"to":"ok"}"#),
            StreamEvent::Finish(FinishReason::ToolCalls),
        ];
        assert_eq!(out, expected.into_iter().map(Ok).collect::<Vec<_>>());

        let items = vec![start(0), delta(0, r#"{"x":"forbid"#), delta(0, r#"den"}"#)];
        let out = collect(items, guardrails(&["forbidden"], &[], false)).await;
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(matches!(out[1], Err(GatewayError::GuardrailBlocked { .. })));
    }

    #[tokio::test]
    async fn a_blocked_window_ends_the_stream_and_its_text_never_leaves() {
        let start = format!("Fine start{}. ", " ok".repeat(STREAM_WINDOW_MIN_BYTES / 3));
        let mut items = chunks(&format!("{start}Then forbidden words. More"), 5);
        items.push(StreamEvent::Finish(FinishReason::Stop));
        let out = collect(items, guardrails(&["forbidden"], &[], false)).await;
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0], Ok(StreamEvent::TextDelta(start.clone())));
        assert!(matches!(
            out[1],
            Err(GatewayError::GuardrailBlocked {
                stage: GuardrailStage::Output,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn a_quiet_block_finishes_with_content_filter_and_keeps_the_usage() {
        let start = format!("Fine start{}. ", " ok".repeat(STREAM_WINDOW_MIN_BYTES / 3));
        let mut items = chunks(&format!("{start}Then forbidden words. More"), 5);
        items.push(StreamEvent::Finish(FinishReason::Stop));
        items.push(StreamEvent::Usage(crate::chat::Usage::default()));
        let out = collect(items, guardrails(&["forbidden"], &[], true)).await;
        assert_eq!(
            out,
            vec![
                Ok(StreamEvent::TextDelta(start)),
                Ok(StreamEvent::Finish(FinishReason::ContentFilter)),
                Ok(StreamEvent::Usage(crate::chat::Usage::default())),
            ]
        );
    }
}
