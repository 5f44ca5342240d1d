//! Evaluation datasets: examples (an input, optionally an expected answer and a context) read
//! from JSONL or CSV on disk, or from a Phoenix dataset (`phoenix_client`).
//!
//! A JSONL line or CSV row names its fields: `input` (or `question`, required), `expected` (or
//! `expected_output`, `answer`), `context`, `system`, `id` (default: `ex-<line number>`). Other
//! fields are kept as the example's metadata.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::EvalError;

/// One question of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// Stable within the dataset: the results file and Phoenix runs refer to it.
    pub id: String,
    pub input: String,
    pub expected: Option<String>,
    /// Reference text a faithful answer sticks to (the faithfulness judge reads it).
    pub context: Option<String>,
    /// A system prompt for the model under test.
    pub system: Option<String>,
    pub metadata: Map<String, Value>,
}

/// A named list of examples, and where it lives in Phoenix once known.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub name: String,
    pub examples: Vec<Example>,
    /// Phoenix's ids, when the dataset came from (or went to) Phoenix.
    pub phoenix: Option<PhoenixDataset>,
}

/// A dataset as Phoenix knows it: its id, version, and each example's Phoenix id (in the
/// order of [`Dataset::examples`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PhoenixDataset {
    pub dataset_id: String,
    pub version_id: Option<String>,
    pub example_ids: Vec<String>,
}

const INPUT_FIELDS: [&str; 2] = ["input", "question"];
const EXPECTED_FIELDS: [&str; 3] = ["expected", "expected_output", "answer"];
const KNOWN_FIELDS: [&str; 8] = [
    "id",
    "input",
    "question",
    "expected",
    "expected_output",
    "answer",
    "context",
    "system",
];

impl Dataset {
    /// Reads `path`: `.csv` as CSV with a header row, anything else as JSONL. The dataset's
    /// name is the file's stem.
    pub fn from_file(path: &Path) -> Result<Dataset, EvalError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EvalError::Dataset(format!("{}: {e}", path.display())))?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("dataset")
            .to_owned();
        let is_csv = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        let examples = if is_csv {
            parse_csv(&text)
        } else {
            parse_jsonl(&text)
        }
        .map_err(|e| EvalError::Dataset(format!("{}: {e}", path.display())))?;
        Ok(Dataset {
            name,
            examples,
            phoenix: None,
        })
    }
}

/// One example per non-blank line.
pub fn parse_jsonl(text: &str) -> Result<Vec<Example>, String> {
    let mut examples = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: Map<String, Value> =
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        examples.push(example_from_row(row, i + 1).map_err(|e| format!("line {}: {e}", i + 1))?);
    }
    check(examples)
}

/// A header row, then one example per row.
pub fn parse_csv(text: &str) -> Result<Vec<Example>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| format!("header: {e}"))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect::<Vec<_>>();
    let mut examples = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| format!("row {line}: {e}"))?;
        let row: Map<String, Value> = headers
            .iter()
            .zip(record.iter())
            .filter(|(_, v)| !v.is_empty())
            .map(|(h, v)| (h.clone(), Value::from(v)))
            .collect();
        examples.push(example_from_row(row, line).map_err(|e| format!("row {line}: {e}"))?);
    }
    check(examples)
}

fn text(row: &Map<String, Value>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| match row.get(*n) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    })
}

/// An example from a row's fields; `line` numbers a default id.
pub fn example_from_row(row: Map<String, Value>, line: usize) -> Result<Example, String> {
    let input = text(&row, &INPUT_FIELDS)
        .filter(|s| !s.trim().is_empty())
        .ok_or("no `input` (or `question`)")?;
    let id = text(&row, &["id"]).unwrap_or_else(|| format!("ex-{line}"));
    let metadata = row
        .iter()
        .filter(|(k, _)| !KNOWN_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Example {
        id,
        input,
        expected: text(&row, &EXPECTED_FIELDS),
        context: text(&row, &["context"]),
        system: text(&row, &["system"]),
        metadata,
    })
}

fn check(examples: Vec<Example>) -> Result<Vec<Example>, String> {
    if examples.is_empty() {
        return Err("no examples".into());
    }
    let mut seen = HashSet::new();
    for example in &examples {
        if !seen.insert(example.id.as_str()) {
            return Err(format!("example id {:?} appears twice", example.id));
        }
    }
    Ok(examples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_takes_aliases_defaults_ids_and_keeps_extra_fields() {
        let examples = parse_jsonl(
            "{\"question\":\"Capital of France?\",\"answer\":\"Paris\",\"topic\":\"geo\"}\n\n\
             {\"id\":\"q2\",\"input\":\"2+2?\",\"expected\":4,\"context\":\"math\"}\n",
        )
        .unwrap();
        assert_eq!(examples[0].id, "ex-1");
        assert_eq!(examples[0].input, "Capital of France?");
        assert_eq!(examples[0].expected.as_deref(), Some("Paris"));
        assert_eq!(examples[0].metadata["topic"], "geo");
        assert_eq!(examples[1].id, "q2");
        assert_eq!(examples[1].expected.as_deref(), Some("4"));
        assert_eq!(examples[1].context.as_deref(), Some("math"));
    }

    #[test]
    fn csv_reads_quoted_fields_and_refuses_bad_rows() {
        let examples =
            parse_csv("id,input,expected\na,\"Hello, world\",\"say \"\"hi\"\"\"\nb,Bye,\n")
                .unwrap();
        assert_eq!(examples.len(), 2);
        assert_eq!(examples[0].input, "Hello, world");
        assert_eq!(examples[0].expected.as_deref(), Some("say \"hi\""));
        assert_eq!(examples[1].expected, None);
        assert!(parse_csv("id,expected\na,b\n")
            .unwrap_err()
            .contains("row 2"));
        assert!(
            parse_jsonl("{\"input\":\"x\",\"id\":\"a\"}\n{\"input\":\"y\",\"id\":\"a\"}")
                .unwrap_err()
                .contains("twice")
        );
        assert!(parse_jsonl("not json").unwrap_err().contains("line 1"));
        assert!(parse_jsonl("").unwrap_err().contains("no examples"));
    }
}
