//! Keys and teams as LiteLLM's admin API shows them (`/key/info`'s `info`, `/team/info`'s
//! `team_info`). A key is shown by its hash (`token`) and short name (`key_name`), never itself.

use chrono::{DateTime, SecondsFormat};
use serde_json::{json, Map, Value};

use crate::keys::{KeyHash, Team, VirtualKey};

/// Unix seconds as ISO 8601 (`2026-12-02T03:40:00Z`).
pub(crate) fn iso(secs: u64) -> Value {
    i64::try_from(secs)
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .map_or(Value::Null, |t| {
            Value::String(t.to_rfc3339_opts(SecondsFormat::Secs, true))
        })
}

pub(crate) fn key_info(hash: &KeyHash, key: &VirtualKey, spend: f64, now: u64) -> Value {
    let reset = key.limits().budget_period.map(|p| p.end(now));
    json!({
        "token": hash.as_str(),
        "key_name": key.key_name,
        "key_alias": key.alias,
        "spend": spend,
        "expires": key.expires_at.map(iso),
        "models": key.models,
        "max_budget": key.max_budget,
        "budget_duration": key.budget_duration,
        "budget_reset_at": reset.map(iso),
        "rpm_limit": key.rpm_limit,
        "tpm_limit": key.tpm_limit,
        "max_parallel_requests": key.max_parallel_requests,
        "team_id": key.team,
        "user_id": key.user,
        "metadata": key.metadata,
        "guardrails": key.guardrails,
        "blocked": key.blocked,
        "created_at": iso(key.created_at),
    })
}

/// The fields LiteLLM's `/key/generate` answers with beyond the key's info (`token_id`,
/// `updated_at`, and the request's own fields echoed, as LiteLLM's response model does), so a
/// script that reads them finds them. Fields this gateway does not keep are echoed as given or
/// empty: `max_parallel_requests` as given.
pub(crate) fn generated_extras(
    view: &mut Map<String, Value>,
    body: &Map<String, Value>,
    hash: &KeyHash,
    now: u64,
) {
    view.insert("token_id".into(), Value::String(hash.as_str().to_owned()));
    view.insert("updated_at".into(), iso(now));
    view.insert("created_by".into(), Value::Null);
    view.insert("updated_by".into(), Value::Null);
    for (name, empty) in [
        ("duration", Value::Null),
        ("soft_budget", Value::Null),
        ("budget_id", Value::Null),
        ("tags", Value::Null),
        ("aliases", json!({})),
        ("config", json!({})),
        ("permissions", json!({})),
        ("model_max_budget", json!({})),
        ("model_rpm_limit", Value::Null),
        ("model_tpm_limit", Value::Null),
        ("allowed_cache_controls", json!([])),
    ] {
        let given = body.get(name).cloned().unwrap_or(empty);
        view.entry(name).or_insert(given);
    }
    view.entry("litellm_budget_table").or_insert(Value::Null);
}

pub(crate) fn team_info(team: &Team, spend: f64, now: u64) -> Value {
    let reset = team.budget_period().map(|p| p.end(now));
    json!({
        "team_id": team.team_id,
        "team_alias": team.team_alias,
        "models": team.models,
        "max_budget": team.max_budget,
        "budget_duration": team.budget_duration,
        "budget_reset_at": reset.map(iso),
        "rpm_limit": team.rpm_limit,
        "tpm_limit": team.tpm_limit,
        "max_parallel_requests": team.max_parallel_requests,
        "metadata": team.metadata,
        "guardrails": team.guardrails,
        "blocked": team.blocked,
        "members_with_roles": team.members_with_roles,
        "spend": spend,
        "created_at": iso(team.created_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times() {
        assert_eq!(iso(0), json!("1970-01-01T00:00:00Z"));
        assert_eq!(iso(1_764_646_800), json!("2025-12-02T03:40:00Z"));
    }
}
