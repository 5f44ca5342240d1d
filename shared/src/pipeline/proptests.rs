//! Property tests for the stream guardrail windows: any text, split into any deltas, comes out
//! whole, in order, once, in windows bounded in size and count, never cut inside a character
//! or a grapheme (bounded runs in `cargo test`; failures persist in `proptest-regressions/`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use futures_util::StreamExt;
use proptest::prelude::*;
use unicode_segmentation::UnicodeSegmentation;

use super::account::GuardrailLog;
use super::guard_stream::{output_stream, STREAM_WINDOW_HARD_MAX_BYTES, STREAM_WINDOW_MIN_BYTES};
use crate::chat::{FinishReason, StreamEvent};
use crate::config::GuardrailMode;
use crate::error::GatewayError;
use crate::guardrails::{Attached, Guardrail, GuardrailPolicy, WordListGuardrail};

/// Pieces that exercise every cutting rule: sentence ends, spaces, CR LF, phone numbers and
/// emails, CJK, combining marks, ZWJ emoji, flags, and long runs without any boundary.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{1,12}",
        2 => Just(" ".to_owned()),
        1 => prop::sample::select(vec![
            ". ", "! ", "? ", "\n", "\r\n", "\r", "。", "3.5", "555 123 4567", "+1 (555) 010-9999",
            "alice.smith@example.com", "中文字", "e\u{301}", " \u{301}", "\u{301}", "👩\u{200D}💻",
            "🇺🇸", "🇫", "\u{200D}", "\t", "é", "क्षि", "\u{FEFF}",
        ])
        .prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
        1 => (1usize..900).prop_map(|n| "x".repeat(n)),
        1 => (1usize..400).prop_map(|n| "中".repeat(n)),
        1 => (1usize..500).prop_map(|n| format!("a{}", "\u{301}".repeat(n))),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..120).prop_map(|pieces| pieces.concat())
}

/// `text` split into deltas of the given byte sizes (moved forward to character boundaries).
fn deltas(text: &str, sizes: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut sizes = sizes.iter().cycle();
    while at < text.len() {
        let mut end = (at + sizes.next().copied().unwrap_or(1)).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        out.push(text[at..end].to_owned());
        at = end;
    }
    out
}

fn pass_through() -> Arc<[Arc<Attached>]> {
    masking(&[])
}

fn masking(masked: &[&str]) -> Arc<[Arc<Attached>]> {
    let words = Arc::new(WordListGuardrail::new("words", &[], masked)) as Arc<dyn Guardrail>;
    Arc::from(vec![Attached::new(
        words,
        GuardrailPolicy::always(GuardrailMode::PostCall),
    )])
}

fn windows(parts: &[String]) -> (Vec<Result<StreamEvent, GatewayError>>, usize) {
    windows_through(parts, pass_through())
}

fn windows_through(
    parts: &[String],
    guardrails: Arc<[Arc<Attached>]>,
) -> (Vec<Result<StreamEvent, GatewayError>>, usize) {
    let mut items: Vec<_> = parts
        .iter()
        .map(|p| Ok(StreamEvent::TextDelta(p.clone())))
        .collect();
    items.push(Ok(StreamEvent::Finish(FinishReason::Stop)));
    let log = GuardrailLog::default();
    let stream = output_stream(
        Box::pin(futures_util::stream::iter(items)),
        guardrails,
        log.clone(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let out = runtime.block_on(stream.collect::<Vec<_>>());
    (out, log.len())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_byte_is_released_once_in_order_in_bounded_windows(
        text in text(),
        sizes in prop::collection::vec(1usize..300, 1..8),
    ) {
        let parts = deltas(&text, &sizes);
        let largest_delta = parts.iter().map(String::len).max().unwrap_or(0);
        let (out, checks) = windows(&parts);
        let (last, released) = out.split_last().unwrap();
        prop_assert_eq!(last, &Ok(StreamEvent::Finish(FinishReason::Stop)));
        let released: Vec<&str> = released
            .iter()
            .map(|event| match event {
                Ok(StreamEvent::TextDelta(text)) => text.as_str(),
                other => panic!("not a text window: {other:?}"),
            })
            .collect();
        prop_assert_eq!(released.concat(), text.clone());
        prop_assert_eq!(checks, released.len(), "one check per window");
        let (_, whole) = released.split_last().unwrap_or((&"", &[]));
        for window in whole {
            prop_assert!(window.len() >= STREAM_WINDOW_MIN_BYTES, "short window {:?}", window);
        }
        for window in &released {
            prop_assert!(!window.is_empty());
            prop_assert!(
                window.len() <= STREAM_WINDOW_HARD_MAX_BYTES + largest_delta,
                "window of {} bytes", window.len()
            );
        }
        prop_assert!(released.len() <= text.len() / STREAM_WINDOW_MIN_BYTES + 1);
        // Every cut is a grapheme boundary of the whole text, unless the grapheme itself is
        // longer than a window may be.
        let graphemes: Vec<(usize, &str)> = text.grapheme_indices(true).collect();
        let mut at = 0;
        for window in &released[..released.len().saturating_sub(1)] {
            at += window.len();
            let containing = graphemes
                .iter()
                .rev()
                .find(|(start, _)| *start <= at)
                .unwrap();
            prop_assert!(
                containing.0 == at || containing.1.len() > STREAM_WINDOW_MIN_BYTES,
                "cut at {} inside grapheme {:?}", at, containing.1
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn a_masked_word_is_masked_wherever_the_windows_fall(
        pieces in prop::collection::vec(
            prop_oneof![4 => piece(), 1 => Just(" secret ".to_owned()), 1 => Just("\nSecret.".to_owned())],
            0..120,
        ),
        sizes in prop::collection::vec(1usize..300, 1..8),
    ) {
        let text = pieces.concat();
        prop_assume!(text.matches("secret").count() + text.matches("Secret").count()
            == pieces.iter().filter(|p| p.contains("ecret")).count());
        let (out, _) = windows_through(&deltas(&text, &sizes), masking(&["secret"]));
        let released: String = out
            .iter()
            .filter_map(|event| match event {
                Ok(StreamEvent::TextDelta(text)) => Some(text.as_str()),
                _ => None,
            })
            .collect();
        let expected = text.replace("secret", "{MASKED}").replace("Secret", "{MASKED}");
        prop_assert_eq!(released, expected);
    }
}
