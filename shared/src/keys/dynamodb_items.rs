//! Keys and teams as DynamoDB items, and back.
//!
//! Key: `pk=KEY#<sha256 hex>`, `sk=KEY`, `gsi1pk=KEYS`, `gsi1sk=<created unix ms, 13
//! digits>#<hash prefix>`, `gsi2pk=TEAMKEYS#<team_id>` when it has a team; attributes named as
//! LiteLLM's key fields (`token` is the hash, `key_name` the short display name, `expires` Unix
//! seconds, `metadata` a JSON string). Team: `pk=TEAM#<team_id>`, `sk=TEAM`, `gsi1pk=TEAMS`,
//! `gsi1sk=<team_id>`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Value};

use super::{KeyField, KeyHash, Team, VirtualKey};

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn key_pk(hash: &KeyHash) -> String {
    format!("KEY#{}", hash.as_str())
}

pub(crate) fn team_pk(team_id: &str) -> String {
    format!("TEAM#{team_id}")
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn list(values: &[String]) -> AttributeValue {
    AttributeValue::L(values.iter().map(|v| s(v.clone())).collect())
}

fn put_opt(item: &mut Item, name: &str, value: Option<AttributeValue>) {
    if let Some(value) = value {
        item.insert(name.to_owned(), value);
    }
}

pub(crate) fn key_item(hash: &KeyHash, key: &VirtualKey) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), s(key_pk(hash)));
    item.insert("sk".into(), s("KEY"));
    item.insert("gsi1pk".into(), s("KEYS"));
    item.insert(
        "gsi1sk".into(),
        s(format!(
            "{:013}#{}",
            key.created_at.saturating_mul(1000),
            hash.prefix()
        )),
    );
    put_opt(
        &mut item,
        "gsi2pk",
        key.team.as_ref().map(|t| s(format!("TEAMKEYS#{t}"))),
    );
    put_opt(
        &mut item,
        "gsi2sk",
        key.team.as_ref().map(|_| s(hash.prefix())),
    );
    item.insert("token".into(), s(hash.as_str()));
    item.insert("key_name".into(), s(key.key_name.clone()));
    put_opt(&mut item, "key_alias", key.alias.clone().map(s));
    put_opt(&mut item, "team_id", key.team.clone().map(s));
    put_opt(&mut item, "user_id", key.user.clone().map(s));
    item.insert("models".into(), list(&key.models));
    put_opt(&mut item, "expires", key.expires_at.map(n));
    item.insert("blocked".into(), AttributeValue::Bool(key.blocked));
    item.insert("created_at".into(), n(key.created_at));
    put_opt(&mut item, "max_budget", key.max_budget.map(n));
    put_opt(
        &mut item,
        "budget_duration",
        key.budget_duration.clone().map(s),
    );
    put_opt(&mut item, "rpm_limit", key.rpm_limit.map(n));
    put_opt(&mut item, "tpm_limit", key.tpm_limit.map(n));
    put_opt(
        &mut item,
        "max_parallel_requests",
        key.max_parallel_requests.map(n),
    );
    item.insert(
        "metadata".into(),
        s(Value::Object(key.metadata.clone()).to_string()),
    );
    item.insert("guardrails".into(), list(&key.guardrails));
    item
}

/// The attributes of a key item that hold `field`.
pub(crate) fn key_attributes(field: KeyField) -> &'static [&'static str] {
    match field {
        KeyField::Team => &["team_id", "gsi2pk", "gsi2sk"],
        KeyField::Alias => &["key_alias"],
        KeyField::User => &["user_id"],
        KeyField::Models => &["models"],
        KeyField::MaxBudget => &["max_budget"],
        KeyField::BudgetDuration => &["budget_duration"],
        KeyField::RpmLimit => &["rpm_limit"],
        KeyField::TpmLimit => &["tpm_limit"],
        KeyField::MaxParallel => &["max_parallel_requests"],
        KeyField::Metadata => &["metadata"],
        KeyField::Guardrails => &["guardrails"],
        KeyField::Blocked => &["blocked"],
        KeyField::Expires => &["expires"],
    }
}

/// The attributes that decide whether and how much a key or team may be used: one that is
/// there but does not parse (a `blocked` that is not a boolean, a budget that is not a number)
/// makes the item refused (fail closed), never unlimited.
const WHOLE_NUMBERS: [&str; 4] = ["expires", "rpm_limit", "tpm_limit", "max_parallel_requests"];

/// The name of the first policy attribute of `item` that does not parse, if any.
fn unparsable(item: &Item) -> Option<&'static str> {
    if item
        .get("blocked")
        .is_some_and(|v| !matches!(v, AttributeValue::Bool(_)))
    {
        return Some("blocked");
    }
    let amount = |v: &AttributeValue| {
        v.as_n()
            .ok()
            .and_then(|n| n.parse::<f64>().ok())
            .is_some_and(|n| n.is_finite() && n >= 0.0)
    };
    if item.get("max_budget").is_some_and(|v| !amount(v)) {
        return Some("max_budget");
    }
    WHOLE_NUMBERS.into_iter().find(|name| {
        item.get(*name)
            .is_some_and(|v| v.as_n().ok().and_then(|n| n.parse::<u64>().ok()).is_none())
    })
}

/// Whether the item is blocked: `blocked: true`, or a policy attribute that does not parse.
fn blocked(item: &Item, what: &'static str) -> bool {
    if let Some(name) = unparsable(item) {
        tracing::error!(
            item = what,
            attribute = name,
            "a stored item's policy attribute does not parse; refusing it"
        );
        return true;
    }
    matches!(item.get("blocked"), Some(AttributeValue::Bool(true)))
}

pub(crate) fn key_from_item(item: &Item) -> (Option<KeyHash>, VirtualKey) {
    let hash = text(item, "token").and_then(|t| KeyHash::parse(&t));
    let key = VirtualKey {
        alias: text(item, "key_alias"),
        team: text(item, "team_id"),
        user: text(item, "user_id"),
        models: texts(item, "models"),
        expires_at: number(item, "expires"),
        blocked: blocked(item, "key"),
        key_name: text(item, "key_name").unwrap_or_default(),
        created_at: number(item, "created_at").unwrap_or(0),
        max_budget: float(item, "max_budget"),
        budget_duration: text(item, "budget_duration"),
        rpm_limit: number(item, "rpm_limit"),
        tpm_limit: number(item, "tpm_limit"),
        max_parallel_requests: number(item, "max_parallel_requests"),
        metadata: json_object(item, "metadata"),
        guardrails: texts(item, "guardrails"),
    };
    (hash, key)
}

pub(crate) fn team_item(team: &Team) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), s(team_pk(&team.team_id)));
    item.insert("sk".into(), s("TEAM"));
    item.insert("gsi1pk".into(), s("TEAMS"));
    item.insert("gsi1sk".into(), s(team.team_id.clone()));
    item.insert("team_id".into(), s(team.team_id.clone()));
    put_opt(&mut item, "team_alias", team.team_alias.clone().map(s));
    item.insert("models".into(), list(&team.models));
    put_opt(&mut item, "max_budget", team.max_budget.map(n));
    put_opt(
        &mut item,
        "budget_duration",
        team.budget_duration.clone().map(s),
    );
    put_opt(&mut item, "rpm_limit", team.rpm_limit.map(n));
    put_opt(&mut item, "tpm_limit", team.tpm_limit.map(n));
    put_opt(
        &mut item,
        "max_parallel_requests",
        team.max_parallel_requests.map(n),
    );
    item.insert(
        "metadata".into(),
        s(Value::Object(team.metadata.clone()).to_string()),
    );
    item.insert("guardrails".into(), list(&team.guardrails));
    item.insert("blocked".into(), AttributeValue::Bool(team.blocked));
    item.insert(
        "members_with_roles".into(),
        s(Value::Array(team.members_with_roles.clone()).to_string()),
    );
    item.insert("created_at".into(), n(team.created_at));
    item
}

pub(crate) fn team_from_item(item: &Item) -> Team {
    Team {
        team_id: text(item, "team_id").unwrap_or_default(),
        team_alias: text(item, "team_alias"),
        models: texts(item, "models"),
        max_budget: float(item, "max_budget"),
        budget_duration: text(item, "budget_duration"),
        rpm_limit: number(item, "rpm_limit"),
        tpm_limit: number(item, "tpm_limit"),
        max_parallel_requests: number(item, "max_parallel_requests"),
        metadata: json_object(item, "metadata"),
        guardrails: texts(item, "guardrails"),
        blocked: blocked(item, "team"),
        members_with_roles: text(item, "members_with_roles")
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default(),
        created_at: number(item, "created_at").unwrap_or(0),
    }
}

pub(crate) fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn texts(item: &Item, name: &str) -> Vec<String> {
    item.get(name)
        .and_then(|v| v.as_l().ok())
        .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
        .unwrap_or_default()
}

pub(crate) fn number(item: &Item, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

pub(crate) fn float(item: &Item, name: &str) -> Option<f64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn json_object(item: &Item, name: &str) -> Map<String, Value> {
    text(item, name)
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_teams_round_trip() {
        let hash = KeyHash::of("sk-x");
        let key = VirtualKey {
            alias: Some("ci".into()),
            team: Some("t1".into()),
            models: vec!["m".into()],
            expires_at: Some(5),
            key_name: "sk-...ab".into(),
            created_at: 1_700_000_000,
            max_budget: Some(0.25),
            budget_duration: Some("30d".into()),
            rpm_limit: Some(3),
            max_parallel_requests: Some(2),
            metadata: serde_json::json!({"a": 1}).as_object().cloned().unwrap(),
            guardrails: vec!["g".into()],
            ..VirtualKey::default()
        };
        let item = key_item(&hash, &key);
        assert_eq!(
            text(&item, "gsi1sk").unwrap(),
            format!("1700000000000#{}", hash.prefix())
        );
        assert_eq!(text(&item, "gsi2pk").unwrap(), "TEAMKEYS#t1");
        assert_eq!(key_from_item(&item), (Some(hash), key));
        let team = Team {
            team_id: "t1".into(),
            max_budget: Some(1.5),
            max_parallel_requests: Some(4),
            members_with_roles: vec![serde_json::json!({"role": "admin", "user_id": "u"})],
            ..Team::default()
        };
        assert_eq!(team_from_item(&team_item(&team)), team);
    }

    #[test]
    fn items_whose_policy_does_not_parse_are_refused() {
        let hash = KeyHash::of("sk-x");
        let good = key_item(&hash, &VirtualKey::default());
        assert!(!key_from_item(&good).1.blocked);
        let broken = [
            ("blocked", s("false")),
            ("blocked", n(0)),
            ("max_budget", s("ten")),
            ("max_budget", AttributeValue::N("NaN".into())),
            ("max_budget", AttributeValue::N("-1".into())),
            ("rpm_limit", AttributeValue::N("lots".into())),
            ("rpm_limit", AttributeValue::N("1.5".into())),
            ("tpm_limit", s("100")),
            ("expires", s("never")),
        ];
        for (name, value) in broken {
            let mut item = good.clone();
            item.insert(name.to_owned(), value.clone());
            assert!(key_from_item(&item).1.blocked, "key {name}: {value:?}");
            let mut team = team_item(&Team::default());
            team.insert(name.to_owned(), value.clone());
            assert!(team_from_item(&team).blocked, "team {name}: {value:?}");
        }
    }
}
