//! CloudWatch Embedded Metric Format: one JSON line per request on stdout (Lambda ships it to
//! CloudWatch Logs, which extracts the metrics). Dimension sets: none (totals, for the error-rate
//! alarm), `Model`, and `Team` — the names `template.yaml`'s dashboard and alarms query.

use std::io::Write;
use std::sync::{Mutex, PoisonError};

use serde_json::{json, Value};

use super::settings::MetricsSettings;
use crate::usage::{Outcome, UsageRecord};

pub struct EmfMetrics {
    settings: MetricsSettings,
    out: Mutex<Box<dyn Write + Send>>,
}

impl EmfMetrics {
    pub fn stdout(settings: MetricsSettings) -> EmfMetrics {
        Self::to_writer(settings, Box::new(std::io::stdout()))
    }

    /// Lines go to `out` (tests pass a buffer).
    pub fn to_writer(settings: MetricsSettings, out: Box<dyn Write + Send>) -> EmfMetrics {
        EmfMetrics {
            settings,
            out: Mutex::new(out),
        }
    }

    /// Writes `record`'s line; a failed write is logged, never raised.
    pub fn write(&self, record: &UsageRecord) {
        let mut line = line(&self.settings.namespace, record).to_string();
        line.push('\n');
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(err) = out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
            tracing::warn!(request_id = %record.request_id, error = %err, "EMF metrics line not written");
        }
    }
}

impl EmfMetrics {
    pub fn namespace(&self) -> &str {
        &self.settings.namespace
    }

    /// Writes another EMF document (the online evaluator's quality score); a failed write is
    /// logged, never raised.
    pub fn write_document(&self, doc: &Value) {
        let mut line = doc.to_string();
        line.push('\n');
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(err) = out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
            tracing::warn!(error = %err, "EMF metrics line not written");
        }
    }
}

/// The EMF document for one request.
pub fn line(namespace: &str, r: &UsageRecord) -> Value {
    let interventions = r
        .guardrails
        .iter()
        .filter(|g| !g.ends_with(":none"))
        .count();
    let mut metrics = vec![
        json!({"Name": "Requests", "Unit": "Count"}),
        json!({"Name": "Latency", "Unit": "Milliseconds"}),
        json!({"Name": "PromptTokens", "Unit": "Count"}),
        json!({"Name": "CompletionTokens", "Unit": "Count"}),
        json!({"Name": "Errors", "Unit": "Count"}),
        json!({"Name": "GuardrailInterventions", "Unit": "Count"}),
        json!({"Name": "Fallbacks", "Unit": "Count"}),
    ];
    let mut doc = json!({
        "Model": r.model,
        "Team": r.team.as_deref().unwrap_or("none"),
        "request_id": r.request_id,
        "Requests": 1,
        "Latency": r.latency_ms,
        "PromptTokens": r.prompt_tokens,
        "CompletionTokens": r.completion_tokens,
        "Errors": u8::from(r.outcome == Outcome::Failure),
        "GuardrailInterventions": interventions,
        "Fallbacks": r.fallbacks.len(),
    });
    if let Some(ttft) = r.time_to_first_token_ms {
        metrics.push(json!({"Name": "TimeToFirstToken", "Unit": "Milliseconds"}));
        doc["TimeToFirstToken"] = json!(ttft);
    }
    if let Some(hit) = r.cache_hit {
        metrics.push(json!({"Name": "CacheHit", "Unit": "Count"}));
        doc["CacheHit"] = json!(u8::from(hit));
    }
    if let Some(cost) = r.cost_usd {
        metrics.push(json!({"Name": "Cost", "Unit": "None"}));
        doc["Cost"] = json!(cost);
    }
    doc["_aws"] = json!({
        "Timestamp": r.started_at_ms,
        "CloudWatchMetrics": [{
            "Namespace": namespace,
            "Dimensions": [[], ["Model"], ["Team"]],
            "Metrics": metrics,
        }]
    });
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_every_metric_it_carries() {
        let record = UsageRecord {
            request_id: "r".into(),
            model: "m".into(),
            team: Some("t".into()),
            latency_ms: 12,
            prompt_tokens: 3,
            completion_tokens: 4,
            cost_usd: Some(0.5),
            time_to_first_token_ms: Some(5),
            fallbacks: vec!["b".into()],
            guardrails: vec!["g:none".into(), "w:masked".into()],
            outcome: Outcome::Failure,
            ..UsageRecord::default()
        };
        let doc = line("NS", &record);
        let cw = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "NS");
        assert_eq!(cw["Dimensions"], json!([[], ["Model"], ["Team"]]));
        for metric in cw["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(doc[name].is_number(), "{name} missing");
        }
        assert_eq!(doc["GuardrailInterventions"], 1);
        assert_eq!(doc["Errors"], 1);
        assert_eq!(doc["Fallbacks"], 1);
        assert_eq!(doc["TimeToFirstToken"], 5);
        assert_eq!(doc["Team"], "t");
        assert_eq!(doc["Model"], "m");
        assert!(doc.get("CacheHit").is_none(), "no cache, no CacheHit");
    }

    #[test]
    fn a_cache_lookup_counts_as_a_hit_or_not() {
        for (hit, count) in [(true, 1), (false, 0)] {
            let record = UsageRecord {
                cache_hit: Some(hit),
                ..UsageRecord::default()
            };
            let doc = line("NS", &record);
            assert_eq!(doc["CacheHit"], count);
            let metrics = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"].to_string();
            assert!(metrics.contains("CacheHit"), "{metrics}");
        }
    }
}
