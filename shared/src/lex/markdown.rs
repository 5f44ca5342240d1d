//! Markdown to plain spoken sentences for Lex text-to-speech: drops markers, code, HTML and link targets.
//!
//! Uses a real CommonMark parser (`pulldown-cmark`) rather than a line scanner: only a parser can
//! tell `2 * 3` from emphasis, see setext headings and hide link reference definitions.

use pulldown_cmark::{Event, Options, Parser, TagEnd};

/// Turns markdown into plain sentences for text-to-speech: headings, list items and table rows
/// become sentences of their own, paragraph lines are joined, code blocks, HTML and rules are
/// dropped, `**bold**`/`*em*`/`` `code` ``/`~~x~~` lose their markers and `[text](url)` becomes `text`.
pub fn strip_markdown(text: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut speech = Speech::default();
    for event in Parser::new_ext(text, options) {
        speech.push(event);
    }
    speech.flush();
    speech.sentences.join(" ")
}

/// Sentences said so far, the text being gathered and the cells of the current table row.
#[derive(Default)]
struct Speech {
    sentences: Vec<String>,
    current: String,
    cells: Vec<String>,
    /// Depth inside blocks that are not spoken (code, HTML, front matter).
    silent: usize,
}

impl Speech {
    fn push(&mut self, event: Event<'_>) {
        match event {
            Event::Text(text) | Event::Code(text) if self.silent == 0 => {
                self.current.push_str(&text);
            }
            Event::SoftBreak | Event::HardBreak => self.current.push(' '),
            Event::InlineHtml(tag) if is_line_break(&tag) => self.current.push(' '),
            Event::Start(tag) => self.boundary(TagEnd::from(tag), true),
            Event::End(tag) => self.boundary(tag, false),
            Event::Rule => self.flush(),
            // Raw HTML tags, task checkboxes, footnote marks and math are not spoken.
            _ => {}
        }
    }

    /// Inline tags are transparent; block tags end the sentence being gathered.
    fn boundary(&mut self, tag: TagEnd, start: bool) {
        match tag {
            TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Superscript
            | TagEnd::Subscript
            | TagEnd::Link
            | TagEnd::Image => {}
            TagEnd::CodeBlock | TagEnd::HtmlBlock | TagEnd::MetadataBlock(_) => {
                self.flush();
                if start {
                    self.silent += 1;
                } else {
                    self.silent = self.silent.saturating_sub(1);
                }
            }
            TagEnd::TableCell if !start => {
                let cell = collapse(&std::mem::take(&mut self.current));
                if !cell.is_empty() {
                    self.cells.push(cell);
                }
            }
            TagEnd::TableHead | TagEnd::TableRow if !start => {
                let row = std::mem::take(&mut self.cells).join(", ");
                self.say(&row);
            }
            _ => self.flush(),
        }
    }

    /// Ends the gathered text as a sentence of its own.
    fn flush(&mut self) {
        let text = std::mem::take(&mut self.current);
        self.say(&collapse(&text));
    }

    fn say(&mut self, text: &str) {
        if !text.is_empty() {
            self.sentences.push(end_sentence(text));
        }
    }
}

/// `<br>`, `<br/>`, `<BR />`: an HTML line break still separates words.
fn is_line_break(tag: &str) -> bool {
    let name = tag.trim_start_matches('<').trim_start_matches('/');
    name.split_at_checked(2).is_some_and(|(head, rest)| {
        head.eq_ignore_ascii_case("br") && !rest.starts_with(|c: char| c.is_ascii_alphanumeric())
    })
}

/// Whitespace runs become one space; ends are trimmed.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Adds a period unless the text already ends like a sentence (or a lead-in colon).
fn end_sentence(text: &str) -> String {
    let text = text.trim();
    match text.chars().last() {
        Some('.' | '!' | '?' | ':' | ';' | '…') | None => text.to_owned(),
        Some(_) => format!("{text}."),
    }
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

    #[test]
    fn lone_asterisks_are_not_emphasis() {
        assert_eq!(strip_markdown("2 * 3 = 6"), "2 * 3 = 6.");
        assert_eq!(strip_markdown("a * b * c, but *d*"), "a * b * c, but d.");
    }

    #[test]
    fn setext_headings_are_sentences() {
        let text = "Title\n=====\nBody text\n\nPart two\n---\nMore";
        assert_eq!(strip_markdown(text), "Title. Body text. Part two. More.");
    }

    #[test]
    fn reference_links_speak_text_and_definitions_vanish() {
        let text = "See [the guide][docs] or [docs].\n\n[docs]: https://x.y/docs \"Docs\"";
        assert_eq!(strip_markdown(text), "See the guide or docs.");
    }

    #[test]
    fn nested_and_numbered_lists() {
        let nested = "- Compute\n  - EC2\n  - Lambda\n- Storage\n  1. S3";
        assert_eq!(strip_markdown(nested), "Compute. EC2. Lambda. Storage. S3.");
        let numbered = "Steps:\n\n1. Sign in\n2. Open S3\n3. Create a bucket";
        assert_eq!(
            strip_markdown(numbered),
            "Steps: Sign in. Open S3. Create a bucket."
        );
        assert_eq!(strip_markdown("- [x] Done\n- [ ] Todo"), "Done. Todo.");
    }

    #[test]
    fn code_only_answers_are_empty() {
        assert_eq!(strip_markdown("```\ncode only\n```"), "");
        assert_eq!(strip_markdown("~~~\na * b\n~~~\n\n    indented code"), "");
        assert_eq!(
            strip_markdown("Example:\n\n    let x = 1;\n\nDone"),
            "Example: Done."
        );
    }

    #[test]
    fn line_breaks_join_and_html_tags_are_dropped() {
        assert_eq!(strip_markdown("one  \ntwo\\\nthree"), "one two three.");
        let text = "Hi <b>there</b><br>friend\n\n<div>\nhidden block\n</div>\n\nEnd";
        assert_eq!(strip_markdown(text), "Hi there friend. End.");
    }
}
