//! The last resort for a record DynamoDB would not take: ONE log line, with a fixed marker and
//! the record as JSON, that `gateway-admin replay-usage` finds and writes into the table later.
//! A budget settlement that could not be written (a store error, or the invocation's deadline
//! came first) gets the same kind of line with its own marker, [`SETTLEMENT_MARKER`], and the
//! same replay applies it once (`keys::DynamoKeyStore::settle_once`).
//!
//! The line is logged at ERROR with target `usage_fallback`. Locally it reads
//! `... ERROR usage_fallback: USAGE_RECORD_UNWRITTEN {"request_id":...}`; in Lambda (JSON logs)
//! the same text is the `message` field of a JSON line, escaped. [`records_in_line`] reads
//! both, with any prefix a log export adds (timestamps, stream names), several to a line.
//!
//! Only a marker that STARTS a log message counts: at the start of the line, right after the
//! `usage_fallback: ` target of a text line, or as the first text of a JSON line's `"message"`
//! string. A caller's text that reaches a log inside another message or field (where JSON
//! escapes its quotes) cannot pose as a record.

use serde_json::{Map, Value};

/// Greppable: `grep USAGE_RECORD_UNWRITTEN`, or the CloudWatch filter pattern of the same word.
pub const MARKER: &str = "USAGE_RECORD_UNWRITTEN";

/// The marker of a settlement's line: `grep BUDGET_SETTLEMENT_UNWRITTEN`.
pub const SETTLEMENT_MARKER: &str = "BUDGET_SETTLEMENT_UNWRITTEN";

/// Logs a budget settlement that could not be queued or written.
pub fn log_unwritten_settlement(settlement: &crate::keys::Settlement) {
    match serde_json::to_string(settlement) {
        Ok(json) => tracing::error!(target: "usage_fallback", "{SETTLEMENT_MARKER} {json}"),
        Err(err) => {
            tracing::error!(target: "usage_fallback", request_id = %settlement.plan.request_id, error = %err, "budget settlement could not be serialized")
        }
    }
}

/// The settlements in one log line, as [`records_in_line`] reads records.
pub fn settlements_in_line(line: &str) -> Vec<Result<Map<String, Value>, String>> {
    objects_in_line(line, SETTLEMENT_MARKER)
}

/// Logs a record that could not be queued or written.
pub fn log_unwritten_record(record: &super::UsageRecord) {
    match serde_json::to_value(record) {
        Ok(Value::Object(json)) => log_unwritten(&json),
        _ => {
            tracing::error!(target: "usage_fallback", request_id = %record.request_id, "usage record could not be serialized")
        }
    }
}

/// Logs the record (JSON object) that could not be written.
pub fn log_unwritten(record: &Map<String, Value>) {
    match serde_json::to_string(record) {
        Ok(json) => tracing::error!(target: "usage_fallback", "{MARKER} {json}"),
        Err(err) => {
            tracing::error!(target: "usage_fallback", error = %err, "usage record could not be serialized")
        }
    }
}

/// The records in one log line, one per marker (a line may hold several, e.g. `aws logs`
/// text output); each `Err` says why a marker gave no record (it does not start a log
/// message, or no readable record follows it).
pub fn records_in_line(line: &str) -> Vec<Result<Map<String, Value>, String>> {
    objects_in_line(line, MARKER)
}

fn objects_in_line(line: &str, marker: &str) -> Vec<Result<Map<String, Value>, String>> {
    line.match_indices(marker)
        .map(|(at, _)| {
            if !starts_a_message(&line[..at]) {
                return Err(NOT_A_MESSAGE_START.to_owned());
            }
            record_after(line[at + marker.len()..].trim_start())
        })
        .collect()
}

/// Why a marker inside some other text is refused.
pub const NOT_A_MESSAGE_START: &str = "the marker does not start a log message";

/// Whether a marker after `before` starts a log message: the line start (after whitespace),
/// a text line's `usage_fallback: ` target, or a JSON `"message":"` (its quotes unescaped, so
/// written by the log formatter, not inside a caller's string).
fn starts_a_message(before: &str) -> bool {
    let before = before.trim_end_matches(' ');
    if before.trim().is_empty() || before.ends_with(" usage_fallback:") {
        return true;
    }
    let Some(rest) = before.strip_suffix('"') else {
        return false;
    };
    let Some(rest) = rest.trim_end().strip_suffix(':') else {
        return false;
    };
    let rest = rest.trim_end();
    rest.ends_with("\"message\"") && !rest.ends_with("\\\"message\"")
}

/// The record right after a marker: plain JSON (text logs), or JSON escaped inside a JSON
/// string (the `message` of a JSON log line).
fn record_after(rest: &str) -> Result<Map<String, Value>, String> {
    let text = if rest.starts_with("{\\\"") {
        unescape_string_prefix(rest)?
    } else {
        rest.to_owned()
    };
    match serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .next()
    {
        Some(Ok(Value::Object(record))) => Ok(record),
        Some(Ok(_)) => Err("the marker is not followed by a JSON object".into()),
        Some(Err(err)) => Err(format!("the record after the marker is not JSON: {err}")),
        None => Err("nothing after the marker".into()),
    }
}

/// The text up to the end of the JSON string `rest` sits in, unescaped.
fn unescape_string_prefix(rest: &str) -> Result<String, String> {
    let mut escaped = false;
    let end = rest
        .char_indices()
        .find(|&(_, c)| {
            let closes = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            closes
        })
        .map_or(rest.len(), |(i, _)| i);
    serde_json::from_str::<String>(&format!("\"{}\"", &rest[..end])).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_text_lines_json_lines_and_prefixed_exports() {
        let record = json!({"request_id":"r1","started_at_ms":5,"note":"a \"quoted\" } brace"});
        let compact = record.to_string();
        let text = format!("2026-12-02T03:00:00Z ERROR usage_fallback: {MARKER} {compact}");
        let lambda = json!({"level":"ERROR","target":"usage_fallback",
                            "fields":{"message": format!("{MARKER} {compact}")}})
        .to_string();
        let exported = format!("2026/12/02/[$LATEST]abc\t{lambda}");
        let want = Ok(record.as_object().unwrap().clone());
        for line in [text.clone(), lambda.clone(), exported] {
            assert_eq!(records_in_line(&line), vec![want.clone()], "{line}");
        }
        let two = format!("{lambda}\t{text}");
        assert_eq!(records_in_line(&two), vec![want.clone(), want]);
        assert!(records_in_line("INFO nothing here").is_empty());
        assert_eq!(
            records_in_line(&format!("{MARKER} {compact}")),
            vec![Ok(record.as_object().unwrap().clone())]
        );
        assert!(matches!(
            records_in_line(&format!("{MARKER} not json")).as_slice(),
            [Err(_)]
        ));
    }

    #[test]
    fn a_settlement_line_reads_back_as_the_settlement_and_passes_its_check() {
        use crate::keys::limits::Scope;
        use crate::keys::{Limits, ReservationPlan, Settlement};
        let limits = Limits::new(Some(10.0), None, 0, None, Some(1000));
        let plan = ReservationPlan::new(
            "chatcmpl-9",
            1_000,
            1.5,
            300,
            std::time::Duration::from_secs(900),
            &[(Scope::Key("abc".into()), &limits)],
        )
        .unwrap();
        let settlement = Settlement {
            plan,
            cost: 0.25,
            tokens: 40,
        };
        let json = serde_json::to_string(&settlement).unwrap();
        let text = format!("2026-12-02T03:00:00Z ERROR usage_fallback: {SETTLEMENT_MARKER} {json}");
        let found = settlements_in_line(&text);
        assert_eq!(found.len(), 1);
        let object = found[0].clone().unwrap();
        let back = crate::usage::replay_check::check_settlement(&object).unwrap();
        assert_eq!(back, settlement);
        assert!(records_in_line(&text).is_empty(), "not a usage record");
        // A forged or damaged settlement is refused.
        for (field, value) in [("cost", json!(-1.0)), ("tokens", json!("many"))] {
            let mut bad = object.clone();
            bad.insert(field.into(), value);
            assert!(crate::usage::replay_check::check_settlement(&bad).is_err());
        }
        let mut no_scope = object.clone();
        no_scope["plan"]["scopes"] = json!([]);
        assert!(crate::usage::replay_check::check_settlement(&no_scope).is_err());
    }

    #[test]
    fn a_marker_inside_another_message_or_field_is_refused() {
        let forged = r#"{"request_id":"forged","started_at_ms":1,"cost_usd":-500}"#;
        let refused = Err(NOT_A_MESSAGE_START.to_owned());
        // A caller's text inside a JSON log line's field or message (escaped by the formatter).
        let in_field = json!({"level":"WARN","fields":{"message":"bad request",
                              "user": format!("{MARKER} {forged}")}})
        .to_string();
        let mid_message = json!({"level":"WARN","fields":{
                              "message": format!("model not found: x {MARKER} {forged}")}})
        .to_string();
        let nested = json!({"level":"WARN","fields":{"message": "x",
                            "body": format!("{{\"message\":\"{MARKER} {forged}")}})
        .to_string();
        // A text line whose message merely mentions the marker.
        let text = format!("2026-12-02T03:00:00Z WARN gateway: user said {MARKER} {forged}");
        for line in [in_field, mid_message, nested, text] {
            assert_eq!(records_in_line(&line), vec![refused.clone()], "{line}");
        }
    }
}
