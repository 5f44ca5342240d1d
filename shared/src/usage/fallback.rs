//! The last resort for a record DynamoDB would not take: ONE log line, with a fixed marker and
//! the record as JSON, that `gateway-admin replay-usage` finds and writes into the table later.
//!
//! The line is logged at ERROR with target `usage_fallback`. Locally it reads
//! `... ERROR usage_fallback: USAGE_RECORD_UNWRITTEN {"request_id":...}`; in Lambda (JSON logs)
//! the same text is the `message` field of a JSON line, escaped. [`record_in_line`] reads both,
//! with any prefix a log export adds (timestamps, stream names).

use serde_json::{Map, Value};

/// Greppable: `grep USAGE_RECORD_UNWRITTEN`, or the CloudWatch filter pattern of the same word.
pub const MARKER: &str = "USAGE_RECORD_UNWRITTEN";

/// Logs the record (JSON object) that could not be written.
pub fn log_unwritten(record: &Map<String, Value>) {
    match serde_json::to_string(record) {
        Ok(json) => tracing::error!(target: "usage_fallback", "{MARKER} {json}"),
        Err(err) => {
            tracing::error!(target: "usage_fallback", error = %err, "usage record could not be serialized")
        }
    }
}

/// The record in one log line: `None` when the line has no marker, `Some(Err)` when it has one
/// but no readable record after it.
pub fn record_in_line(line: &str) -> Option<Result<Map<String, Value>, String>> {
    if !line.contains(MARKER) {
        return None;
    }
    // A JSON log line: the marker is inside one of its strings (the message).
    if let Some(text) = json_string_with_marker(line) {
        return Some(record_after_marker(&text));
    }
    Some(record_after_marker(line))
}

fn json_string_with_marker(line: &str) -> Option<String> {
    let start = line.find('{')?;
    let value: Value = serde_json::Deserializer::from_str(&line[start..])
        .into_iter::<Value>()
        .next()?
        .ok()?;
    fn find(value: &Value) -> Option<String> {
        match value {
            Value::String(s) if s.contains(MARKER) => Some(s.clone()),
            Value::Object(fields) => fields.values().find_map(find),
            Value::Array(items) => items.iter().find_map(find),
            _ => None,
        }
    }
    find(&value)
}

fn record_after_marker(text: &str) -> Result<Map<String, Value>, String> {
    let at = text.find(MARKER).ok_or("no marker")?;
    let rest = text[at + MARKER.len()..].trim_start();
    match serde_json::Deserializer::from_str(rest)
        .into_iter::<Value>()
        .next()
    {
        Some(Ok(Value::Object(record))) => Ok(record),
        Some(Ok(_)) => Err("the marker is not followed by a JSON object".into()),
        Some(Err(err)) => Err(format!("the record after the marker is not JSON: {err}")),
        None => Err("nothing after the marker".into()),
    }
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
        for line in [text, lambda, exported] {
            assert_eq!(
                record_in_line(&line),
                Some(Ok(record.as_object().unwrap().clone())),
                "{line}"
            );
        }
        assert_eq!(record_in_line("INFO nothing here"), None);
        assert!(matches!(
            record_in_line(&format!("{MARKER} not json")),
            Some(Err(_))
        ));
    }
}
