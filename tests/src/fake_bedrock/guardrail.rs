//! ApplyGuardrail: deterministic blocked-word and PII (email, phone) policy, answered in Bedrock's shape.

use serde_json::{json, Value};

use super::answer::BLOCKED_MESSAGE;
use super::state::State;
use super::validate::union;

/// Answers an ApplyGuardrail request body, or returns a ValidationException message.
pub(crate) fn apply(body: &Value, state: &State) -> Result<Value, String> {
    match body.get("source").and_then(Value::as_str) {
        Some("INPUT" | "OUTPUT") => {}
        other => return Err(format!("source must be INPUT or OUTPUT, got {other:?}.")),
    }
    let blocks = match body.get("content") {
        Some(Value::Array(c)) if !c.is_empty() => c,
        _ => {
            return Err("content must be a non-empty list of GuardrailContentBlock objects.".into())
        }
    };
    let mut texts = Vec::with_capacity(blocks.len());
    for (i, block) in blocks.iter().enumerate() {
        let at = format!("content.{i}");
        match union(block, "GuardrailContentBlock", &at)? {
            ("text", text) => match text.get("text").and_then(Value::as_str) {
                Some(t) => texts.push(t),
                None => return Err(format!("{at}.text.text must be a string.")),
            },
            ("image", _) => {}
            (other, _) => {
                return Err(format!(
                    "{at}: unknown GuardrailContentBlock member {other:?}."
                ))
            }
        }
    }
    let chars: usize = texts.iter().map(|t| t.chars().count()).sum();
    let units = texts
        .iter()
        .map(|t| t.len().div_ceil(1000))
        .sum::<usize>()
        .max(1);
    let usage = json!({
        "topicPolicyUnits": units, "contentPolicyUnits": units, "wordPolicyUnits": units,
        "sensitiveInformationPolicyUnits": units, "sensitiveInformationPolicyFreeUnits": 0,
        "contextualGroundingPolicyUnits": 0,
    });
    let coverage = json!({"textCharacters": {"guarded": chars, "total": chars}});
    if texts.iter().any(|t| state.is_blocked(t)) {
        let filter = json!({"type": "VIOLENCE", "confidence": "HIGH", "filterStrength": "HIGH", "action": "BLOCKED", "detected": true});
        return Ok(json!({
            "action": "GUARDRAIL_INTERVENED",
            "actionReason": "Guardrail blocked.",
            "outputs": [{"text": BLOCKED_MESSAGE}],
            "assessments": [{"contentPolicy": {"filters": [filter]}}],
            "usage": usage,
            "guardrailCoverage": coverage,
        }));
    }
    let mut entities = Vec::new();
    let outputs: Vec<Value> = texts
        .iter()
        .map(|text| {
            let masked = mask(text, find_emails, "EMAIL", &mut entities);
            let masked = mask(&masked, find_phones, "PHONE", &mut entities);
            json!({"text": masked})
        })
        .collect();
    if entities.is_empty() {
        return Ok(
            json!({"action": "NONE", "outputs": [], "assessments": [], "usage": usage, "guardrailCoverage": coverage}),
        );
    }
    Ok(json!({
        "action": "GUARDRAIL_INTERVENED",
        "actionReason": "Guardrail masked.",
        "outputs": outputs,
        "assessments": [{"sensitiveInformationPolicy": {"piiEntities": entities, "regexes": []}}],
        "usage": usage,
        "guardrailCoverage": coverage,
    }))
}

/// Replaces every range `find` reports by `{KIND}`, recording a piiEntities entry for each.
fn mask(
    text: &str,
    find: fn(&str) -> Vec<(usize, usize)>,
    kind: &str,
    entities: &mut Vec<Value>,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in find(text) {
        out.push_str(&text[at..start]);
        out.push('{');
        out.push_str(kind);
        out.push('}');
        entities.push(json!({"match": &text[start..end], "type": kind, "action": "ANONYMIZED", "detected": true}));
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-".contains(&b)
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
}

/// Byte ranges of `local@domain.tld` addresses (tld: 2+ ASCII letters).
fn find_emails(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let (mut found, mut floor) = (Vec::new(), 0);
    for (at, _) in text.match_indices('@') {
        if at < floor {
            continue;
        }
        let mut start = at;
        while start > floor && is_local(bytes[start - 1]) {
            start -= 1;
        }
        while start < at && bytes[start] == b'.' {
            start += 1;
        }
        let mut end = at + 1;
        while end < bytes.len() && is_domain(bytes[end]) {
            end += 1;
        }
        while end > at + 1 && matches!(bytes[end - 1], b'.' | b'-') {
            end -= 1;
        }
        let domain = &text[at + 1..end];
        let tld_ok = domain.rsplit_once('.').is_some_and(|(host, tld)| {
            !host.is_empty() && tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic())
        });
        if start < at && tld_ok {
            found.push((start, end));
            floor = end;
        }
    }
    found
}

/// Byte ranges of phone numbers: runs of 10–15 digits separated by at most 2 of ` -.()`,
/// optionally starting with `+` or `(`, not glued to letters or other digits.
fn find_phones(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let next_is_digit = bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        let starts =
            bytes[i].is_ascii_digit() || (matches!(bytes[i], b'+' | b'(') && next_is_digit);
        let left_ok = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if !(starts && left_ok) {
            i += 1;
            continue;
        }
        let (mut j, mut digits, mut seps, mut end) =
            (i + 1, usize::from(bytes[i].is_ascii_digit()), 0, i + 1);
        while j < bytes.len() {
            match bytes[j] {
                b'0'..=b'9' => (digits, seps, end) = (digits + 1, 0, j + 1),
                b' ' | b'-' | b'.' | b'(' | b')' if seps < 2 => seps += 1,
                _ => break,
            }
            j += 1;
        }
        let right_ok = !bytes.get(end).is_some_and(u8::is_ascii_alphanumeric);
        if (10..=15).contains(&digits) && right_ok {
            found.push((i, end));
        }
        i = end.max(i + 1);
    }
    found
}
