//! LLM-as-judge: the prompt templates and the parsing of the judge's reply.
//!
//! The judge is a model group of the config, called through the gateway like any request (same
//! keys, routing, guardrails and usage records). Each criterion is one template: the
//! instructions (the system prompt) ask for a JSON object `{"score": <0 to 1>, "explanation":
//! "<one or two sentences>"}`; the user message carries the question, the answer and, as the
//! criterion needs, the expected answer or the context, each between tags. Templates:
//!
//! - `correctness`: does the answer state the same facts as the expected answer? 1 = fully
//!   correct, 0.5 = partly, 0 = wrong or contradicting it. Needs `expected`.
//! - `faithfulness`: is every claim of the answer supported by the context? 1 = all supported,
//!   0 = made up or contradicting it. Needs `context`.
//! - `helpfulness`: does the answer address the question clearly, completely and in a polite,
//!   professional tone? 1 = fully, 0 = not at all.
//!
//! A reply is parsed leniently (the first JSON object in it, a score given as a number or a
//! numeric string, or else a line `score: 0.8`) but a reply with no score in [0, 1] is a
//! recorded failure of that evaluation, never a crash and never a guessed score.

use serde_json::Value;

use super::dataset::Example;

/// What a judge is asked to rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JudgeCriterion {
    Correctness,
    Faithfulness,
    Helpfulness,
}

/// Marks every judge prompt (the fake Bedrock of the tests recognises it).
pub const JUDGE_MARKER: &str =
    "You are an impartial evaluator of answers given by an AI assistant.";

const REPLY_FORMAT: &str = "Reply with only a JSON object, no other text: \
{\"score\": <a number from 0 to 1>, \"explanation\": \"<one or two sentences>\"}.";

/// A judge's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub score: f64,
    pub explanation: Option<String>,
    pub label: Option<String>,
}

impl JudgeCriterion {
    pub fn parse(name: &str) -> Option<JudgeCriterion> {
        match name {
            "correctness" => Some(JudgeCriterion::Correctness),
            "faithfulness" => Some(JudgeCriterion::Faithfulness),
            "helpfulness" | "tone" => Some(JudgeCriterion::Helpfulness),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JudgeCriterion::Correctness => "correctness",
            JudgeCriterion::Faithfulness => "faithfulness",
            JudgeCriterion::Helpfulness => "helpfulness",
        }
    }

    /// The system prompt: what to rate and how to reply.
    pub fn instructions(self) -> String {
        let task = match self {
            JudgeCriterion::Correctness => {
                "Rate the CORRECTNESS of the answer against the expected answer: 1 when it states \
                 the same facts, 0.5 when it is partly correct or incomplete, 0 when it is wrong \
                 or contradicts the expected answer. Wording and length do not matter."
            }
            JudgeCriterion::Faithfulness => {
                "Rate the FAITHFULNESS of the answer to the context: 1 when every claim in the \
                 answer is supported by the context, 0.5 when some claims are not supported, 0 \
                 when it makes things up or contradicts the context."
            }
            JudgeCriterion::Helpfulness => {
                "Rate the HELPFULNESS and TONE of the answer: 1 when it addresses the question \
                 clearly and completely in a polite, professional tone, 0.5 when it is partly \
                 helpful or its tone is off, 0 when it does not help or is rude."
            }
        };
        format!("{JUDGE_MARKER}\n{task}\n{REPLY_FORMAT}")
    }

    /// The user message; `None` when the example lacks what the criterion needs.
    pub fn message(self, example: &Example, answer: &str) -> Result<String, String> {
        let mut text = format!(
            "<question>\n{}\n</question>\n<answer>\n{}\n</answer>\n",
            example.input, answer
        );
        match self {
            JudgeCriterion::Correctness => {
                let expected = example
                    .expected
                    .as_deref()
                    .ok_or("correctness needs the example's expected answer")?;
                text.push_str(&format!("<expected>\n{expected}\n</expected>\n"));
            }
            JudgeCriterion::Faithfulness => {
                let context = example
                    .context
                    .as_deref()
                    .ok_or("faithfulness needs the example's context")?;
                text.push_str(&format!("<context>\n{context}\n</context>\n"));
            }
            JudgeCriterion::Helpfulness => {}
        }
        Ok(text)
    }
}

/// The verdict in a judge's reply, or why there is none.
pub fn parse_reply(reply: &str) -> Result<Verdict, String> {
    let object = first_json_object(reply);
    let (score, explanation, label) = match &object {
        Some(obj) => (
            obj.get("score").and_then(number),
            obj.get("explanation")
                .or_else(|| obj.get("reason"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            obj.get("label").and_then(Value::as_str).map(str::to_owned),
        ),
        None => (score_line(reply), None, None),
    };
    let score =
        score.ok_or_else(|| format!("no score in the judge's reply: {}", excerpt(reply)))?;
    if !(0.0..=1.0).contains(&score) || score.is_nan() {
        return Err(format!("the judge's score {score} is outside 0 to 1"));
    }
    Ok(Verdict {
        score,
        explanation,
        label,
    })
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The first `{…}` in `text` that parses as a JSON object (a reply may wrap it in prose or a
/// code fence).
fn first_json_object(text: &str) -> Option<serde_json::Map<String, Value>> {
    text.match_indices('{').find_map(|(at, _)| {
        let mut values = serde_json::Deserializer::from_str(&text[at..]).into_iter::<Value>();
        match values.next() {
            Some(Ok(Value::Object(map))) => Some(map),
            _ => None,
        }
    })
}

/// `score: 0.8` (or `Score = 1`) on a line of its own.
fn score_line(text: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let line = line.trim().trim_start_matches(['*', '-', '#', ' ']);
        let lower = line.to_ascii_lowercase();
        let rest = lower.strip_prefix("score")?;
        let rest = rest.trim_start_matches(['*', ' ', ':', '=']);
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        rest[..end].parse().ok()
    })
}

fn excerpt(text: &str) -> String {
    let short: String = text.chars().take(120).collect();
    if short.len() < text.len() {
        format!("{short:?}…")
    } else {
        format!("{short:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_parsed_leniently_but_never_guessed() {
        let v = parse_reply("{\"score\": 0.5, \"explanation\": \"partly\"}").unwrap();
        assert_eq!((v.score, v.explanation.as_deref()), (0.5, Some("partly")));
        let fenced = "Sure!\n```json\n{\"score\": \"1\", \"explanation\": \"ok\"}\n```";
        assert_eq!(parse_reply(fenced).unwrap().score, 1.0);
        assert_eq!(
            parse_reply("Reasoning...\n**Score:** 0.25").unwrap().score,
            0.25
        );
        for garbage in [
            "I think it is fine.",
            "{\"score\": \"high\"}",
            "{\"score\": 7}",
            "{\"explanation\": \"no score\"}",
            "",
            "{ broken",
        ] {
            assert!(parse_reply(garbage).is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn templates_carry_what_each_criterion_needs() {
        let mut example = Example {
            id: "a".into(),
            input: "Capital of France?".into(),
            expected: None,
            context: None,
            system: None,
            metadata: serde_json::Map::new(),
        };
        assert!(JudgeCriterion::Correctness
            .message(&example, "Paris")
            .is_err());
        assert!(JudgeCriterion::Faithfulness
            .message(&example, "Paris")
            .is_err());
        example.expected = Some("Paris".into());
        let text = JudgeCriterion::Correctness
            .message(&example, "Lyon")
            .unwrap();
        assert!(text.contains("<expected>\nParis\n</expected>") && text.contains("<answer>\nLyon"));
        assert!(JudgeCriterion::Helpfulness
            .instructions()
            .starts_with(JUDGE_MARKER));
    }
}
