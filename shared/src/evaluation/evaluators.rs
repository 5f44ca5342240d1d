//! The evaluators a run can apply, named on the command line, and the deterministic ones'
//! scoring. Every score is in [0, 1]; a deterministic check scores 1 (pass) or 0 (fail).
//!
//! | spec | scores 1 when |
//! | --- | --- |
//! | `exact` | the answer equals the expected answer (trimmed, case-insensitive) |
//! | `contains` | the answer contains the expected answer (case-insensitive) |
//! | `regex:PATTERN` | the answer matches PATTERN (Rust `regex` syntax) |
//! | `json` | the answer is a JSON document |
//! | `json-schema:FILE` | the answer is JSON valid under the schema in FILE (`json_schema`'s subset) |
//! | `length:MIN..MAX` | the answer has MIN to MAX characters (either bound may be left out) |
//! | `judge:correctness`, `judge:faithfulness`, `judge:helpfulness` | the judge model's score (`judge`) |

use std::path::Path;

use regex::Regex;
use serde_json::Value;

use super::dataset::Example;
use super::json_schema;
use super::judge::JudgeCriterion;
use super::EvalError;

/// One evaluator, as chosen on the command line.
#[derive(Debug, Clone)]
pub enum Evaluator {
    Exact,
    Contains,
    Regex(Regex),
    Json,
    JsonSchema {
        file: String,
        schema: Value,
    },
    Length {
        min: Option<usize>,
        max: Option<usize>,
    },
    Judge(JudgeCriterion),
}

/// What one evaluator said about one answer: a score, or why there is none (a missing expected
/// answer, a malformed judge reply).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Score {
    pub evaluator: String,
    pub score: Option<f64>,
    pub label: Option<String>,
    pub explanation: Option<String>,
    pub error: Option<String>,
    /// The judge call's trace, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

impl Score {
    pub fn passed(evaluator: &str, pass: bool, explanation: String) -> Score {
        Score {
            evaluator: evaluator.to_owned(),
            score: Some(if pass { 1.0 } else { 0.0 }),
            label: Some(if pass { "pass" } else { "fail" }.to_owned()),
            explanation: Some(explanation),
            error: None,
            trace_id: None,
        }
    }

    pub fn failed(evaluator: &str, error: String) -> Score {
        Score {
            evaluator: evaluator.to_owned(),
            score: None,
            label: None,
            explanation: None,
            error: Some(error),
            trace_id: None,
        }
    }
}

impl Evaluator {
    /// Parses a command-line spec (see the module's table).
    pub fn parse(spec: &str) -> Result<Evaluator, EvalError> {
        let bad = |why: String| EvalError::Usage(format!("evaluator {spec:?}: {why}"));
        let (kind, arg) = match spec.split_once(':') {
            Some((kind, arg)) => (kind, Some(arg)),
            None => (spec, None),
        };
        match (kind, arg) {
            ("exact", None) => Ok(Evaluator::Exact),
            ("contains", None) => Ok(Evaluator::Contains),
            ("json", None) => Ok(Evaluator::Json),
            ("regex", Some(pattern)) => Regex::new(pattern)
                .map(Evaluator::Regex)
                .map_err(|e| bad(e.to_string())),
            ("json-schema", Some(file)) => {
                let text = std::fs::read_to_string(Path::new(file))
                    .map_err(|e| bad(format!("{file}: {e}")))?;
                let schema: Value =
                    serde_json::from_str(&text).map_err(|e| bad(format!("{file}: {e}")))?;
                json_schema::check_schema(&schema).map_err(|e| bad(format!("{file}: {e}")))?;
                Ok(Evaluator::JsonSchema {
                    file: file.to_owned(),
                    schema,
                })
            }
            ("length", Some(range)) => {
                let (min, max) = range
                    .split_once("..")
                    .ok_or_else(|| bad("expected MIN..MAX".into()))?;
                let bound = |s: &str| -> Result<Option<usize>, EvalError> {
                    match s.trim() {
                        "" => Ok(None),
                        n => n
                            .parse()
                            .map(Some)
                            .map_err(|_| bad(format!("{n:?} is not a number"))),
                    }
                };
                Ok(Evaluator::Length {
                    min: bound(min)?,
                    max: bound(max)?,
                })
            }
            ("judge", Some(criterion)) => JudgeCriterion::parse(criterion)
                .map(Evaluator::Judge)
                .ok_or_else(|| bad("judges: correctness, faithfulness, helpfulness".into())),
            _ => Err(bad(
                "known: exact, contains, regex:PATTERN, json, json-schema:FILE, length:MIN..MAX, \
                 judge:correctness|faithfulness|helpfulness"
                    .into(),
            )),
        }
    }

    /// The name scores and thresholds use (`exact`, `regex`, `judge:correctness`, …).
    pub fn name(&self) -> String {
        match self {
            Evaluator::Exact => "exact".into(),
            Evaluator::Contains => "contains".into(),
            Evaluator::Regex(_) => "regex".into(),
            Evaluator::Json => "json".into(),
            Evaluator::JsonSchema { .. } => "json-schema".into(),
            Evaluator::Length { .. } => "length".into(),
            Evaluator::Judge(c) => format!("judge:{}", c.as_str()),
        }
    }

    /// `CODE` or `LLM`, as Phoenix records an evaluation's annotator.
    pub fn annotator_kind(&self) -> &'static str {
        match self {
            Evaluator::Judge(_) => "LLM",
            _ => "CODE",
        }
    }

    /// Scores `answer` without a model call; `None` for the judges.
    pub fn score_deterministic(&self, example: &Example, answer: &str) -> Option<Score> {
        let name = self.name();
        let expected = example.expected.as_deref();
        let missing = || Score::failed(&name, "the example has no expected answer".into());
        let score = match self {
            Evaluator::Exact => match expected {
                Some(want) => Score::passed(
                    &name,
                    answer.trim().to_lowercase() == want.trim().to_lowercase(),
                    format!("expected exactly {want:?}"),
                ),
                None => missing(),
            },
            Evaluator::Contains => match expected {
                Some(want) => Score::passed(
                    &name,
                    answer.to_lowercase().contains(&want.trim().to_lowercase()),
                    format!("expected to contain {want:?}"),
                ),
                None => missing(),
            },
            Evaluator::Regex(re) => Score::passed(
                &name,
                re.is_match(answer),
                format!("expected to match /{}/", re.as_str()),
            ),
            Evaluator::Json => match serde_json::from_str::<Value>(answer.trim()) {
                Ok(_) => Score::passed(&name, true, "valid JSON".into()),
                Err(e) => Score::passed(&name, false, format!("not JSON: {e}")),
            },
            Evaluator::JsonSchema { file, schema } => {
                match serde_json::from_str::<Value>(answer.trim()) {
                    Ok(doc) => match json_schema::validate(schema, &doc) {
                        Ok(()) => Score::passed(&name, true, format!("valid under {file}")),
                        Err(why) => Score::passed(&name, false, why),
                    },
                    Err(e) => Score::passed(&name, false, format!("not JSON: {e}")),
                }
            }
            Evaluator::Length { min, max } => {
                let n = answer.chars().count();
                let ok = min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m);
                Score::passed(&name, ok, format!("{n} characters"))
            }
            Evaluator::Judge(_) => return None,
        };
        Some(score)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(expected: Option<&str>) -> Example {
        Example {
            id: "a".into(),
            input: "q".into(),
            expected: expected.map(str::to_owned),
            context: None,
            system: None,
            metadata: serde_json::Map::new(),
        }
    }

    fn score(spec: &str, expected: Option<&str>, answer: &str) -> Score {
        Evaluator::parse(spec)
            .unwrap()
            .score_deterministic(&example(expected), answer)
            .unwrap()
    }

    #[test]
    fn deterministic_evaluators_pass_and_fail() {
        assert_eq!(score("exact", Some("Paris"), " paris ").score, Some(1.0));
        assert_eq!(
            score("exact", Some("Paris"), "Paris, France").score,
            Some(0.0)
        );
        assert_eq!(
            score("contains", Some("Paris"), "It is PARIS.").score,
            Some(1.0)
        );
        assert_eq!(score("regex:^\\d+$", None, "42").score, Some(1.0));
        assert_eq!(score("regex:^\\d+$", None, "forty").score, Some(0.0));
        assert_eq!(score("json", None, "{\"a\":1}").score, Some(1.0));
        assert_eq!(score("json", None, "{a:1}").score, Some(0.0));
        assert_eq!(score("length:2..5", None, "abc").score, Some(1.0));
        assert_eq!(score("length:..2", None, "abc").score, Some(0.0));
        assert_eq!(score("length:4..", None, "abc").score, Some(0.0));
        let missing = score("exact", None, "x");
        assert_eq!(missing.score, None);
        assert!(missing.error.unwrap().contains("no expected"));
    }

    #[test]
    fn bad_specs_are_usage_errors() {
        for spec in [
            "nope",
            "regex:(",
            "length:x..",
            "length:5",
            "judge:vibes",
            "exact:x",
        ] {
            assert!(Evaluator::parse(spec).is_err(), "{spec}");
        }
        assert!(Evaluator::parse("judge:correctness")
            .unwrap()
            .score_deterministic(&example(None), "x")
            .is_none());
    }
}
