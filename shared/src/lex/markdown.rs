//! Markdown to plain spoken sentences: drops block markers, inline emphasis, code and link targets.

/// Turns markdown into plain sentences for text-to-speech: headings, list items and table rows
/// become sentences of their own, paragraph lines are joined, fenced code blocks and rules are
/// dropped, `**bold**`/`*em*`/`` `code` ``/`~~x~~` lose their markers and `[text](url)` becomes `text`.
pub fn strip_markdown(text: &str) -> String {
    let mut sentences: Vec<String> = Vec::new();
    let mut paragraph: Vec<String> = Vec::new();
    let mut in_fence = false;
    for raw in text.lines() {
        let line = raw.trim();
        if line.starts_with("```") || line.starts_with("~~~") {
            in_fence = !in_fence;
            flush(&mut paragraph, &mut sentences);
            continue;
        }
        if in_fence || line.is_empty() || is_rule(line) {
            flush(&mut paragraph, &mut sentences);
            continue;
        }
        let (body, standalone) = strip_block_marker(line);
        let body = strip_inline(&body);
        if body.is_empty() {
            continue;
        }
        if standalone {
            flush(&mut paragraph, &mut sentences);
            sentences.push(end_sentence(&body));
        } else {
            paragraph.push(body);
        }
    }
    flush(&mut paragraph, &mut sentences);
    sentences.join(" ")
}

fn flush(paragraph: &mut Vec<String>, sentences: &mut Vec<String>) {
    if !paragraph.is_empty() {
        sentences.push(end_sentence(&paragraph.join(" ")));
        paragraph.clear();
    }
}

/// Adds a period unless the text already ends like a sentence (or a lead-in colon).
fn end_sentence(text: &str) -> String {
    let text = text.trim();
    match text.chars().last() {
        Some('.' | '!' | '?' | ':' | ';' | '…') | None => text.to_owned(),
        Some(_) => format!("{text}."),
    }
}

/// `---`, `***`, `___` (horizontal rules) and table separator rows like `|---|:--:|`.
fn is_rule(line: &str) -> bool {
    let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    let rule = compact.len() >= 3
        && ['-', '*', '_']
            .iter()
            .any(|&m| compact.chars().all(|c| c == m));
    let table = compact.contains('-') && compact.chars().all(|c| matches!(c, '|' | '-' | ':'));
    rule || table
}

/// Strips a heading, quote, bullet, number or table marker; `true` when the line stands alone.
fn strip_block_marker(line: &str) -> (String, bool) {
    let mut line = line;
    while let Some(rest) = line.strip_prefix('>') {
        line = rest.trim_start();
    }
    let hashes = line.chars().take_while(|&c| c == '#').count();
    if (1..=6).contains(&hashes)
        && line[hashes..]
            .chars()
            .next()
            .is_none_or(char::is_whitespace)
    {
        return (line[hashes..].trim().to_owned(), true);
    }
    for bullet in ["- ", "* ", "+ "] {
        if let Some(rest) = line.strip_prefix(bullet) {
            return (rest.trim().to_owned(), true);
        }
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if (1..=9).contains(&digits) {
        let rest = &line[digits..];
        if let Some(item) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return (item.trim().to_owned(), true);
        }
    }
    if line.starts_with('|') {
        let cells: Vec<&str> = line
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        return (cells.join(", "), true);
    }
    (line.to_owned(), false)
}

/// Removes inline markers and link targets, then collapses whitespace.
fn strip_inline(text: &str) -> String {
    let unlinked = strip_links(text);
    let unmarked = unlinked
        .replace("__", "")
        .replace("~~", "")
        .replace(['*', '`'], "");
    unmarked.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `[text](url)` and `![alt](url)` become `text` / `alt`; other brackets are kept.
fn strip_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let (before, from_open) = rest.split_at(open);
        let link = from_open.find("](").and_then(|mid| {
            let close = from_open[mid + 2..].find(')')? + mid + 2;
            Some((mid, close))
        });
        match link {
            Some((mid, close)) if !from_open[1..mid].contains(['[', ']']) => {
                out.push_str(before.strip_suffix('!').unwrap_or(before));
                out.push_str(&from_open[1..mid]);
                rest = &from_open[close + 1..];
            }
            _ => {
                out.push_str(before);
                out.push('[');
                rest = &from_open[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_and_bullets_become_sentences() {
        let text = "# Pillars\n\n- Security\n* Reliability!\n+ Cost";
        assert_eq!(
            strip_markdown(text),
            "Pillars. Security. Reliability! Cost."
        );
    }

    #[test]
    fn numbered_items_and_lead_in() {
        let text = "Do this:\n1. Open the console\n2) Click **Create**";
        assert_eq!(
            strip_markdown(text),
            "Do this: Open the console. Click Create."
        );
    }

    #[test]
    fn inline_markers_and_links() {
        let text = "Use `aws s3 ls`, see [the docs](https://x.y/z) and ![logo](a.png), *really* __now__ ~~not~~.";
        assert_eq!(
            strip_markdown(text),
            "Use aws s3 ls, see the docs and logo, really now not."
        );
    }

    #[test]
    fn paragraph_lines_are_joined_and_whitespace_collapsed() {
        let text = "This wraps\n  across   lines\n\nSecond paragraph";
        assert_eq!(
            strip_markdown(text),
            "This wraps across lines. Second paragraph."
        );
    }

    #[test]
    fn code_fences_rules_and_quotes() {
        let text = "Run it:\n```sh\nrm -rf /\n```\n---\n> Quoted text\n#hashtag stays";
        assert_eq!(strip_markdown(text), "Run it: Quoted text #hashtag stays.");
    }

    #[test]
    fn tables_become_comma_lists() {
        let text = "| Name | Size |\n|---|:--:|\n| S3 | large |";
        assert_eq!(strip_markdown(text), "Name, Size. S3, large.");
    }

    #[test]
    fn unmatched_brackets_are_kept_and_multibyte_is_safe() {
        assert_eq!(strip_markdown("a [b] c ] [d](e"), "a [b] c ] [d](e.");
        assert_eq!(strip_markdown("[b] c ](x) [d](e)"), "[b] c ](x) d.");
        assert_eq!(
            strip_markdown("- **Zürich** — 日本 [東京](u)"),
            "Zürich — 日本 東京."
        );
    }
}
