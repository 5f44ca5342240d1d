//! What the counters need from a usage record, read from its JSON form (so a record replayed
//! from a log line counts exactly like one written at once), and the record's item keys.
//!
//! Item layout (the usage half of the one table; see `store/`):
//! - record: `pk=REQ#<request_id>`, `sk=REQ`, `gsi1pk=USAGE_KEY#<key_id>`,
//!   `gsi2pk=USAGE_TEAM#<team or none>`, both sort keys `<started_at_ms, 13 digits>#<request_id>`,
//!   `expires_at` = start + `usage.retention_days`, and every field of the record.
//! - aggregates: `pk=AGG#TEAM#<team or none>` with `sk=DAY#<yyyy-mm-dd>#<model>` and
//!   `sk=MONTH#<yyyy-mm>#<model>`; `pk=AGG#KEY#<key_id>` with `sk=DAY#<yyyy-mm-dd>`,
//!   `MONTH#<yyyy-mm>` and `TOTAL`. Counters: `requests`, `errors`, `prompt_tokens`,
//!   `completion_tokens`, `total_tokens`, `cost_usd`, `unpriced_requests`; plain attributes
//!   `team`, `key_id`, `model`, `period`. Aggregates never expire.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::calendar;

/// The team name used in keys when a record has none.
pub const NO_TEAM: &str = "none";

/// The fields of a record that keys and counters use; other fields are carried as they are.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Billed {
    pub request_id: String,
    pub started_at_ms: u64,
    #[serde(default)]
    pub key_id: String,
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub outcome: Option<String>,
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default)]
    pub cost_usd: Option<f64>,
}

/// One aggregate item a record adds to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateKey {
    pub pk: String,
    pub sk: String,
    pub team: Option<String>,
    pub key_id: Option<String>,
    pub model: Option<String>,
    /// `YYYY-MM-DD`, `YYYY-MM`, or `total`.
    pub period: String,
}

impl Billed {
    pub fn from_json(object: &Map<String, Value>) -> Result<Billed, String> {
        Billed::deserialize(Value::Object(object.clone())).map_err(|e| e.to_string())
    }

    pub fn team_or_none(&self) -> &str {
        self.team.as_deref().unwrap_or(NO_TEAM)
    }

    pub fn failed(&self) -> bool {
        self.outcome.as_deref().is_some_and(|o| o != "success")
    }

    pub fn pk(&self) -> String {
        format!("REQ#{}", self.request_id)
    }

    /// The sort key of both indexes: time first, so a range of them is a time range.
    pub fn time_sort_key(&self) -> String {
        format!("{:013}#{}", self.started_at_ms, self.request_id)
    }

    pub fn gsi1pk(&self) -> String {
        format!("USAGE_KEY#{}", self.key_id)
    }

    pub fn gsi2pk(&self) -> String {
        format!("USAGE_TEAM#{}", self.team_or_none())
    }

    /// The five aggregates: team × day × model, team × month × model, key × day, key × month,
    /// key total.
    pub fn aggregates(&self) -> Vec<AggregateKey> {
        let (day, month) = (
            calendar::day(self.started_at_ms),
            calendar::month(self.started_at_ms),
        );
        let team = self.team_or_none().to_owned();
        let team_pk = format!("AGG#TEAM#{team}");
        let key_pk = format!("AGG#KEY#{}", self.key_id);
        let by_team = |prefix: &str, period: &str| AggregateKey {
            pk: team_pk.clone(),
            sk: format!("{prefix}#{period}#{}", self.model),
            team: Some(team.clone()),
            key_id: None,
            model: Some(self.model.clone()),
            period: period.to_owned(),
        };
        let by_key = |sk: String, period: &str| AggregateKey {
            pk: key_pk.clone(),
            sk,
            team: None,
            key_id: Some(self.key_id.clone()),
            model: None,
            period: period.to_owned(),
        };
        vec![
            by_team("DAY", &day),
            by_team("MONTH", &month),
            by_key(format!("DAY#{day}"), &day),
            by_key(format!("MONTH#{month}"), &month),
            by_key("TOTAL".to_owned(), "total"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::UsageRecord;

    #[test]
    fn keys_follow_the_documented_layout() {
        let record = UsageRecord {
            request_id: "chatcmpl-1".into(),
            started_at_ms: 1_796_182_607_123,
            key_id: "abc123def456".into(),
            model: "claude".into(),
            ..UsageRecord::default()
        };
        let Value::Object(json) = serde_json::to_value(&record).unwrap() else {
            unreachable!()
        };
        let billed = Billed::from_json(&json).unwrap();
        assert_eq!(billed.pk(), "REQ#chatcmpl-1");
        assert_eq!(billed.time_sort_key(), "1796182607123#chatcmpl-1");
        assert_eq!(billed.gsi2pk(), "USAGE_TEAM#none");
        assert!(!billed.failed());
        let keys: Vec<_> = billed
            .aggregates()
            .into_iter()
            .map(|a| format!("{} {}", a.pk, a.sk))
            .collect();
        assert_eq!(
            keys,
            [
                "AGG#TEAM#none DAY#2026-12-02#claude",
                "AGG#TEAM#none MONTH#2026-12#claude",
                "AGG#KEY#abc123def456 DAY#2026-12-02",
                "AGG#KEY#abc123def456 MONTH#2026-12",
                "AGG#KEY#abc123def456 TOTAL",
            ]
        );
    }
}
