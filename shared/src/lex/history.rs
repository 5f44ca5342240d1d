//! Conversation history kept in one Lex session attribute as compact JSON, bounded in turns and bytes.
//!
//! Encoding: `qa_history` = `[["user","assistant"],...]`, oldest first. Lex caps all session
//! attributes together (~12 KB), so the encoded value is kept under `max_bytes`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::json_budget::{escaped_len, truncate_escaped};

/// The session attribute holding the history.
pub const HISTORY_ATTRIBUTE: &str = "qa_history";
/// Default number of turns kept.
pub const DEFAULT_MAX_TURNS: usize = 6;
/// Default byte budget of the encoded attribute value.
pub const DEFAULT_MAX_BYTES: usize = 4000;
/// Encoded size of one turn with two empty strings: `[["",""]]`.
const SINGLE_TURN_FRAME: usize = 9;

/// One question/answer exchange, encoded as a two-element JSON array.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "(String, String)", into = "(String, String)")]
pub struct Turn {
    /// What the user asked.
    pub user: String,
    /// What the assistant answered.
    pub assistant: String,
}

impl From<(String, String)> for Turn {
    fn from((user, assistant): (String, String)) -> Self {
        Self { user, assistant }
    }
}

impl From<Turn> for (String, String) {
    fn from(turn: Turn) -> Self {
        (turn.user, turn.assistant)
    }
}

/// The turns of a conversation, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    turns: Vec<Turn>,
}

impl History {
    /// Reads [`HISTORY_ATTRIBUTE`]; a missing or corrupt value yields an empty history.
    pub fn from_attributes(attributes: &BTreeMap<String, String>) -> Self {
        attributes
            .get(HISTORY_ATTRIBUTE)
            .map(|value| Self::decode(value))
            .unwrap_or_default()
    }

    /// Parses an encoded value; anything unparsable yields an empty history.
    pub fn decode(value: &str) -> Self {
        match serde_json::from_str::<Vec<Turn>>(value) {
            Ok(turns) => Self { turns },
            Err(error) => {
                tracing::warn!(%error, bytes = value.len(), "ignoring unreadable Lex conversation history");
                Self::default()
            }
        }
    }

    /// Compact JSON, e.g. `[["q","a"]]`.
    pub fn encode(&self) -> String {
        serde_json::to_string(&self.turns).unwrap_or_else(|_| "[]".to_owned())
    }

    /// Appends a turn (newest last).
    pub fn push(&mut self, user: impl Into<String>, assistant: impl Into<String>) {
        self.turns.push(Turn {
            user: user.into(),
            assistant: assistant.into(),
        });
    }

    /// The turns, oldest first.
    pub fn turns(&self) -> &[Turn] {
        &self.turns
    }

    /// Number of turns.
    pub fn len(&self) -> usize {
        self.turns.len()
    }

    /// True when there are no turns.
    pub fn is_empty(&self) -> bool {
        self.turns.is_empty()
    }

    /// Keeps the newest `max_turns` turns whose encoding fits in `max_bytes`, dropping the oldest
    /// first; a lone turn that is still too large is truncated on char boundaries.
    pub fn bounded(mut self, max_turns: usize, max_bytes: usize) -> Self {
        let excess = self.turns.len().saturating_sub(max_turns);
        self.turns.drain(..excess);
        while self.turns.len() > 1 && self.encode().len() > max_bytes {
            self.turns.remove(0);
        }
        if self.encode().len() > max_bytes {
            let budget = max_bytes.saturating_sub(SINGLE_TURN_FRAME);
            self.turns = self
                .turns
                .pop()
                .and_then(|turn| shrink_turn(&turn, budget))
                .into_iter()
                .collect();
        }
        if self.encode().len() > max_bytes {
            self.turns.clear();
        }
        self
    }

    /// Stores the history under [`HISTORY_ATTRIBUTE`] (removes the key when empty); other keys are untouched.
    pub fn write_to(&self, attributes: &mut BTreeMap<String, String>) {
        if self.turns.is_empty() {
            attributes.remove(HISTORY_ATTRIBUTE);
        } else {
            attributes.insert(HISTORY_ATTRIBUTE.to_owned(), self.encode());
        }
    }
}

/// Truncates both sides so their escaped lengths sum to at most `budget`; the shorter side keeps
/// what it needs up to half the budget. `None` when nothing would be left.
fn shrink_turn(turn: &Turn, budget: usize) -> Option<Turn> {
    let user_len = escaped_len(&turn.user);
    let assistant_len = escaped_len(&turn.assistant);
    let half = budget / 2;
    let user_cap = if user_len <= half {
        user_len
    } else if assistant_len <= half {
        budget - assistant_len
    } else {
        half
    };
    let user = truncate_escaped(&turn.user, user_cap);
    let assistant = truncate_escaped(&turn.assistant, budget - escaped_len(user));
    if user.is_empty() && assistant.is_empty() {
        return None;
    }
    Some(Turn {
        user: user.to_owned(),
        assistant: assistant.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes_with(value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (HISTORY_ATTRIBUTE.to_owned(), value.to_owned()),
            ("lang".to_owned(), "en".to_owned()),
        ])
    }

    #[test]
    fn round_trip_through_attributes() {
        let mut history = History::default();
        history.push("What is S3?", "An object store.");
        history.push("and \"quotas\"?", "Line one\nline two");
        let mut attributes = attributes_with("[]");
        history.write_to(&mut attributes);
        assert_eq!(
            attributes[HISTORY_ATTRIBUTE],
            r#"[["What is S3?","An object store."],["and \"quotas\"?","Line one\nline two"]]"#
        );
        assert_eq!(History::from_attributes(&attributes), history);
        assert_eq!(attributes["lang"], "en");
    }

    #[test]
    fn missing_or_corrupt_values_give_empty_history() {
        assert!(History::from_attributes(&BTreeMap::new()).is_empty());
        for corrupt in [
            "",
            "not json",
            "{}",
            "[[\"only one\"]]",
            "[[1,2]]",
            "[[\"a\",\"b\"]",
        ] {
            assert!(
                History::from_attributes(&attributes_with(corrupt)).is_empty(),
                "{corrupt}"
            );
        }
    }

    #[test]
    fn bounded_by_turns_keeps_newest() {
        let mut history = History::default();
        for i in 0..10 {
            history.push(format!("q{i}"), format!("a{i}"));
        }
        let bounded = history.bounded(3, DEFAULT_MAX_BYTES);
        let users: Vec<&str> = bounded.turns().iter().map(|t| t.user.as_str()).collect();
        assert_eq!(users, ["q7", "q8", "q9"]);
        assert!(History::default().bounded(0, 100).is_empty());
    }

    #[test]
    fn bounded_by_bytes_drops_oldest_first() {
        let mut history = History::default();
        for i in 0..6 {
            history.push(format!("question {i}"), "x".repeat(100));
        }
        let bounded = history.bounded(DEFAULT_MAX_TURNS, 300);
        assert!(bounded.encode().len() <= 300);
        assert_eq!(bounded.len(), 2);
        assert_eq!(bounded.turns()[1].user, "question 5");
    }

    #[test]
    fn oversized_single_turn_is_truncated_within_budget() {
        let mut history = History::default();
        history.push("short question", "y".repeat(5000));
        let bounded = history.bounded(DEFAULT_MAX_TURNS, 200);
        assert_eq!(bounded.len(), 1);
        assert!(bounded.encode().len() <= 200);
        assert_eq!(bounded.turns()[0].user, "short question");
        assert!(bounded.turns()[0].assistant.starts_with("yyy"));
    }

    #[test]
    fn multibyte_and_escaped_text_is_cut_on_char_boundaries() {
        let mut history = History::default();
        history.push("é".repeat(300), "日本語\"\n".repeat(300));
        for max_bytes in [9, 10, 11, 50, 101, 333, 1000] {
            let bounded = history.clone().bounded(DEFAULT_MAX_TURNS, max_bytes);
            let encoded = bounded.encode();
            assert!(
                bounded.is_empty() || encoded.len() <= max_bytes,
                "{max_bytes}: {encoded}"
            );
            assert_eq!(History::decode(&encoded), bounded);
        }
        assert!(history.bounded(DEFAULT_MAX_TURNS, 5).is_empty());
    }

    #[test]
    fn empty_history_removes_the_attribute_only() {
        let mut attributes = attributes_with("[[\"q\",\"a\"]]");
        History::default().write_to(&mut attributes);
        assert!(!attributes.contains_key(HISTORY_ATTRIBUTE));
        assert_eq!(attributes["lang"], "en");
    }
}
