//! Byte budgets for JSON string literals: how long `serde_json` makes a text, and cutting to fit.

/// Longest prefix (on a char boundary) whose JSON-escaped length is at most `max`.
pub(super) fn truncate_escaped(text: &str, max: usize) -> &str {
    let mut used = 0;
    for (index, c) in text.char_indices() {
        used += escaped_char_len(c);
        if used > max {
            return &text[..index];
        }
    }
    text
}

/// JSON-escaped length of `text`, without the surrounding quotes.
pub(super) fn escaped_len(text: &str) -> usize {
    text.chars().map(escaped_char_len).sum()
}

/// Bytes `serde_json` writes for `c` inside a string literal.
fn escaped_char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\u{08}' | '\u{0C}' | '\n' | '\r' | '\t' => 2,
        c if u32::from(c) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_char_len_matches_serde_json() {
        let samples = (0u32..0x80)
            .filter_map(char::from_u32)
            .chain(['é', '€', '😀', '\u{2028}', '\u{7f}']);
        for c in samples {
            let encoded = serde_json::to_string(&c.to_string()).unwrap();
            assert_eq!(escaped_char_len(c), encoded.len() - 2, "{:?}", c);
        }
    }

    #[test]
    fn truncation_respects_budget_and_char_boundaries() {
        assert_eq!(truncate_escaped("a\"b", 2), "a");
        assert_eq!(truncate_escaped("a\"b", 3), "a\"");
        assert_eq!(truncate_escaped("é€😀", 5), "é€");
        assert_eq!(truncate_escaped("é€😀", 4), "é");
        assert_eq!(truncate_escaped("abc", 10), "abc");
        assert_eq!(escaped_len("a\n\u{1}é"), 1 + 2 + 6 + 2);
    }
}
