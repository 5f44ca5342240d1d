//! Shapes a model answer into what Lex can show or say: length limits, clean cuts, speech form.

use super::markdown::strip_markdown;

/// Lex V2 maximum length of a `PlainText` message, in characters.
pub const LEX_MAX_MESSAGE_CHARS: usize = 1000;
/// Tighter limit for spoken answers.
pub const VOICE_MAX_CHARS: usize = 600;
/// Said when the answer is empty.
pub const FALLBACK_REPLY: &str =
    "Sorry, I don't have an answer for that. Could you rephrase your question?";
const ELLIPSIS: char = '…';

/// Trims `text` and fits it into `max_chars` characters: whole text if it fits, else up to the
/// last sentence end (`.`, `!`, `?` then space or end) if that keeps at least half the limit,
/// else up to a word boundary plus `…`. Never splits a char; empty text gives [`FALLBACK_REPLY`].
pub fn fit_for_lex(text: &str, max_chars: usize) -> String {
    let text = text.trim();
    if text.is_empty() {
        return take_chars(FALLBACK_REPLY, max_chars).to_owned();
    }
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    if max_chars == 0 {
        return String::new();
    }
    let window = take_chars(text, max_chars);
    if let Some(end) = last_sentence_end(text, window.len()) {
        if text[..end].chars().count() >= max_chars / 2 {
            return text[..end].to_owned();
        }
    }
    cut_at_word(text, max_chars - 1)
}

/// Answer for `inputMode: Speech`: markdown stripped into sentences, at most [`VOICE_MAX_CHARS`].
pub fn for_voice(text: &str) -> String {
    fit_for_lex(&strip_markdown(text), VOICE_MAX_CHARS)
}

/// The first `n` chars of `text` (all of it when shorter).
fn take_chars(text: &str, n: usize) -> &str {
    text.char_indices()
        .nth(n)
        .map_or(text, |(index, _)| &text[..index])
}

/// Byte index just past the last `.`/`!`/`?` before `limit` that is followed by whitespace or the end.
fn last_sentence_end(text: &str, limit: usize) -> Option<usize> {
    let ends_sentence = |index: usize, c: char| {
        matches!(c, '.' | '!' | '?')
            && text[index + 1..]
                .chars()
                .next()
                .is_none_or(char::is_whitespace)
    };
    text[..limit]
        .char_indices()
        .rev()
        .find(|&(index, c)| ends_sentence(index, c))
        .map(|(index, _)| index + 1)
}

/// At most `max_chars` chars of `text` ending on a word boundary, then `…` (one more char).
fn cut_at_word(text: &str, max_chars: usize) -> String {
    let window = take_chars(text, max_chars);
    let next_is_space = text[window.len()..]
        .chars()
        .next()
        .is_none_or(char::is_whitespace);
    let cut = if next_is_space {
        window
    } else {
        window
            .rfind(char::is_whitespace)
            .map_or(window, |index| &window[..index])
    };
    let cut = cut
        .trim_end()
        .trim_end_matches([',', ';', ':', '-', '—', '('])
        .trim_end();
    let cut = if cut.is_empty() {
        window.trim_end()
    } else {
        cut
    };
    format!("{cut}{ELLIPSIS}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_trimmed_only() {
        assert_eq!(fit_for_lex("  Hello there.\n", 100), "Hello there.");
    }

    #[test]
    fn empty_text_gives_fallback() {
        assert_eq!(fit_for_lex(" \n\t", 1000), FALLBACK_REPLY);
        assert_eq!(fit_for_lex("", 5).chars().count(), 5);
    }

    #[test]
    fn cuts_at_last_sentence_end_within_limit() {
        let text = "First sentence here. Second one! Third is cut off somewhere";
        assert_eq!(fit_for_lex(text, 40), "First sentence here. Second one!");
    }

    #[test]
    fn punctuation_inside_tokens_is_not_a_sentence_end() {
        let text = "Version 3.5 is the best version of all time for sure";
        assert_eq!(fit_for_lex(text, 20), "Version 3.5 is the…");
    }

    #[test]
    fn sentence_end_right_at_the_limit_counts() {
        assert_eq!(fit_for_lex("Twelve char. More text", 12), "Twelve char.");
    }

    #[test]
    fn too_early_sentence_end_falls_back_to_word_cut() {
        let text = "Hi. This is a long sentence without any end in sight at all";
        assert_eq!(fit_for_lex(text, 30), "Hi. This is a long sentence…");
    }

    #[test]
    fn word_cut_drops_trailing_punctuation_and_respects_limit() {
        let out = fit_for_lex("alpha beta, gamma delta epsilon", 17);
        assert_eq!(out, "alpha beta…");
        assert!(out.chars().count() <= 17);
    }

    #[test]
    fn a_single_huge_word_is_hard_cut() {
        assert_eq!(
            fit_for_lex(&"x".repeat(50), 10),
            format!("{}…", "x".repeat(9))
        );
    }

    #[test]
    fn multibyte_text_is_never_split() {
        let text = "日本語のテキスト".repeat(200);
        let out = fit_for_lex(&text, LEX_MAX_MESSAGE_CHARS);
        assert_eq!(out.chars().count(), LEX_MAX_MESSAGE_CHARS);
        assert!(out.ends_with(ELLIPSIS));
        let emoji = fit_for_lex("😀 😀 😀 😀 😀", 4);
        assert_eq!(emoji, "😀 😀…");
    }

    #[test]
    fn limit_is_always_respected() {
        let text = "One. Two three, four! Five six seven? Eight nine ten eleven twelve.";
        for max in 1..text.len() {
            assert!(fit_for_lex(text, max).chars().count() <= max, "{max}");
        }
    }

    #[test]
    fn voice_strips_markdown_and_uses_tighter_limit() {
        assert_eq!(
            for_voice("## Answer\n- **S3** stores objects\n- see [docs](http://x)"),
            "Answer. S3 stores objects. see docs."
        );
        let long = "This is a spoken sentence. ".repeat(60);
        let out = for_voice(&long);
        assert!(out.chars().count() <= VOICE_MAX_CHARS);
        assert!(out.ends_with('.'));
        assert_eq!(for_voice("```\ncode only\n```"), FALLBACK_REPLY);
    }
}
