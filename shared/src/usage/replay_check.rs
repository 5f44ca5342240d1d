//! What `replay-usage` accepts from a fallback log line: a record the gateway could have
//! written. Known fields only, each well typed, ids and names present and within the record's
//! caps, costs and token counts non-negative and finite. A forged line (a caller's text that
//! found its way into a log) cannot add fields, cut a team's spend or bloat the table.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::record::{MAX_FIELD_CHARS, MAX_LIST_ITEMS, MAX_LIST_ITEM_CHARS};

/// The record's fields and types, as [`super::UsageRecord`] serializes them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Replayed {
    request_id: String,
    started_at_ms: u64,
    caller: Caller,
    key_id: String,
    key_alias: Option<String>,
    team: Option<String>,
    user: Option<String>,
    session_id: Option<String>,
    model: String,
    deployment_id: Option<String>,
    provider_model: Option<String>,
    streamed: bool,
    prompt_tokens: u32,
    completion_tokens: u32,
    total_tokens: u32,
    cache_read_tokens: Option<u32>,
    cache_write_tokens: Option<u32>,
    reasoning_tokens: Option<u32>,
    cost_usd: Option<f64>,
    usage_estimated: bool,
    latency_ms: u64,
    time_to_first_token_ms: Option<u64>,
    finish_reason: Option<String>,
    outcome: super::Outcome,
    error_type: Option<String>,
    attempts: u32,
    retries: u32,
    fallbacks: Vec<String>,
    guardrails: Vec<String>,
    guardrail_entities: Vec<String>,
    cache_hit: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Caller {
    #[default]
    Api,
    Lex,
}

/// `Ok` when `record` passes; else why not (a short reason, no record content beyond a
/// field's name).
pub fn check(record: &Map<String, Value>) -> Result<(), String> {
    let r = Replayed::deserialize(Value::Object(record.clone())).map_err(|e| e.to_string())?;
    for (name, value) in [
        ("request_id", &r.request_id),
        ("key_id", &r.key_id),
        ("model", &r.model),
    ] {
        if value.is_empty() {
            return Err(format!("`{name}` is missing or empty"));
        }
    }
    let optional = [
        ("key_alias", &r.key_alias),
        ("team", &r.team),
        ("user", &r.user),
        ("session_id", &r.session_id),
        ("deployment_id", &r.deployment_id),
        ("provider_model", &r.provider_model),
        ("finish_reason", &r.finish_reason),
        ("error_type", &r.error_type),
    ];
    let strings = [
        ("request_id", Some(&r.request_id)),
        ("key_id", Some(&r.key_id)),
        ("model", Some(&r.model)),
    ]
    .into_iter()
    .chain(optional.into_iter().map(|(n, v)| (n, v.as_ref())));
    for (name, value) in strings {
        if value.is_some_and(|v| v.chars().count() > MAX_FIELD_CHARS) {
            return Err(format!(
                "`{name}` is longer than {MAX_FIELD_CHARS} characters"
            ));
        }
    }
    for (name, list) in [
        ("fallbacks", &r.fallbacks),
        ("guardrails", &r.guardrails),
        ("guardrail_entities", &r.guardrail_entities),
    ] {
        if list.len() > MAX_LIST_ITEMS
            || list
                .iter()
                .any(|item| item.chars().count() > MAX_LIST_ITEM_CHARS)
        {
            return Err(format!("`{name}` is longer than a record's list"));
        }
    }
    if r.cost_usd.is_some_and(|c| !c.is_finite() || c < 0.0) {
        return Err("`cost_usd` is negative or not finite".into());
    }
    Ok(())
}

/// The most scopes a settlement names (a key and its team).
const MAX_SETTLEMENT_SCOPES: usize = 2;

/// A settlement's line as `replay-usage` accepts it: known fields only, a request id within the
/// record's caps, one or two scopes, costs and limits finite and non-negative.
pub fn check_settlement(line: &Map<String, Value>) -> Result<crate::keys::Settlement, String> {
    let settlement: crate::keys::Settlement =
        serde_json::from_value(Value::Object(line.clone())).map_err(|e| e.to_string())?;
    let plan = &settlement.plan;
    if plan.request_id.is_empty() || plan.request_id.chars().count() > MAX_FIELD_CHARS {
        return Err("request_id is empty or too long".into());
    }
    if plan.scopes.is_empty() || plan.scopes.len() > MAX_SETTLEMENT_SCOPES {
        return Err("a settlement names one or two scopes".into());
    }
    let amounts = [settlement.cost, plan.cost].into_iter().chain(
        plan.scopes
            .iter()
            .filter_map(|s| s.budget.as_ref().map(|b| b.max)),
    );
    if amounts.into_iter().any(|x| !x.is_finite() || x < 0.0) {
        return Err("a cost or budget is negative or not finite".into());
    }
    let names = plan.scopes.iter().map(|s| match &s.scope {
        crate::keys::limits::Scope::Key(id)
        | crate::keys::limits::Scope::Team(id)
        | crate::keys::limits::Scope::User(id) => id,
    });
    if names
        .into_iter()
        .any(|id| id.is_empty() || id.chars().count() > MAX_FIELD_CHARS)
    {
        return Err("a scope's id is empty or too long".into());
    }
    Ok(settlement)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::{Outcome, UsageRecord};
    use serde_json::json;

    fn full() -> Map<String, Value> {
        let record = UsageRecord {
            request_id: "r1".into(),
            started_at_ms: 1,
            caller: "lex",
            key_id: "k".into(),
            key_alias: Some("a".into()),
            team: Some("t".into()),
            user: Some("u".into()),
            session_id: Some("s".into()),
            model: "m".into(),
            deployment_id: Some("d".into()),
            provider_model: Some("p".into()),
            streamed: true,
            prompt_tokens: 2,
            completion_tokens: 3,
            total_tokens: 5,
            cache_read_tokens: Some(1),
            cache_write_tokens: Some(1),
            reasoning_tokens: Some(1),
            cost_usd: Some(0.5),
            usage_estimated: true,
            latency_ms: 9,
            time_to_first_token_ms: Some(4),
            finish_reason: Some("stop"),
            outcome: Outcome::ClientClosed,
            error_type: Some("x"),
            attempts: 2,
            retries: 1,
            fallbacks: vec!["f".into()],
            guardrails: vec!["g:NONE".into()],
            guardrail_entities: vec!["EMAIL".into()],
            cache_hit: Some(true),
        };
        match serde_json::to_value(record).unwrap() {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn every_record_the_gateway_writes_passes() {
        assert_eq!(check(&full()), Ok(()));
        let minimal = serde_json::to_value(UsageRecord {
            request_id: "r".into(),
            caller: "api",
            key_id: "k".into(),
            model: "m".into(),
            ..UsageRecord::default()
        })
        .unwrap();
        assert_eq!(check(minimal.as_object().unwrap()), Ok(()));
    }

    #[test]
    fn forged_records_are_refused_with_a_reason() {
        let with = |field: &str, value: Value| {
            let mut record = full();
            record.insert(field.to_owned(), value);
            check(&record).unwrap_err()
        };
        assert!(with("cost_usd", json!(-100.0)).contains("cost_usd"));
        assert!(with("prompt_tokens", json!(-5)).contains("invalid value"));
        assert!(with("total_tokens", json!(1.5)).contains("invalid type"));
        assert!(with("admin", json!(true)).contains("unknown field `admin`"));
        assert!(with("team", json!(7)).contains("invalid type"));
        assert!(with("caller", json!("root")).contains("unknown variant"));
        assert!(with("request_id", json!("")).contains("request_id"));
        assert!(with("user", json!("u".repeat(MAX_FIELD_CHARS + 1))).contains("user"));
        assert!(with("fallbacks", json!(vec!["f"; MAX_LIST_ITEMS + 1])).contains("fallbacks"));
    }
}
