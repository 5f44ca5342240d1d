//! The scheduled experiment (template.yaml's `ScheduledEvaluationFunction`): on each EventBridge
//! scheduled event, the Phoenix dataset `GATEWAY_EVAL_DATASET` runs through the gateway against
//! the model groups `GATEWAY_EVAL_MODELS`, scored by `GATEWAY_EVAL_EVALUATORS` (judged by
//! `GATEWAY_EVAL_JUDGE`), exactly as `gateway-admin evaluate --phoenix-dataset` runs it (`cli`),
//! and each model's mean score per evaluator is published as the EMF metric `EvaluationScore`
//! (dimension sets `[]`, the drop alarm's, and `[Model, Evaluator]`, the dashboard's).
//!
//! The experiment is named `<dataset>-<event time>` (Phoenix shows `<that>-<model>` per model).
//! The runs use `GATEWAY_EVAL_KEY` when set (its limits and allowed models apply), else the
//! service principal `scheduled-evaluation` (no team). The results file is in the temporary
//! folder, named after the event, so a retried event resumes; it is removed after a run.

use std::sync::Arc;

use serde_json::{json, Value};

use super::cli::{self, Args};
use super::report::ModelSummary;
use super::EvalError;
use crate::env::Environment;
use crate::observability::settings::{PHOENIX_COLLECTOR_ENDPOINT, PHOENIX_COLLECTOR_HTTP_ENDPOINT};
use crate::observability::EmfMetrics;

/// The Phoenix dataset the schedule runs (by name).
pub const DATASET_VAR: &str = "GATEWAY_EVAL_DATASET";
/// Comma-separated model groups of the config.
pub const MODELS_VAR: &str = "GATEWAY_EVAL_MODELS";
/// Space-separated evaluator specs, as `--eval` takes them (default `contains`).
pub const EVALUATORS_VAR: &str = "GATEWAY_EVAL_EVALUATORS";
/// The model group of the `judge:` evaluators (optional).
pub const JUDGE_VAR: &str = "GATEWAY_EVAL_JUDGE";
/// The metric of each model's mean score per evaluator.
pub const METRIC_NAME: &str = "EvaluationScore";
/// Who the runs are when no evaluation key is set.
pub const SERVICE: &str = "scheduled-evaluation";

/// Runs the experiment for one scheduled `event`; metric lines to `metrics` (when on). The
/// returned summary is the invocation's result.
pub async fn handle(
    env: &Environment,
    event: &Value,
    metrics: Option<&EmfMetrics>,
) -> Result<Value, EvalError> {
    if event["detail-type"] != "Scheduled Event" {
        return Err(EvalError::Usage(format!(
            "not an EventBridge scheduled event (detail-type {}): this function only runs \
             the scheduled experiment",
            event["detail-type"]
        )));
    }
    let set = |name: &str| {
        env.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let dataset =
        set(DATASET_VAR).ok_or_else(|| EvalError::Usage(format!("{DATASET_VAR} is not set")))?;
    let phoenix = set(PHOENIX_COLLECTOR_HTTP_ENDPOINT)
        .or_else(|| set(PHOENIX_COLLECTOR_ENDPOINT))
        .ok_or_else(|| {
            EvalError::Usage(format!(
                "the dataset {dataset:?} is in Phoenix: set {PHOENIX_COLLECTOR_HTTP_ENDPOINT}"
            ))
        })?;
    let models: Vec<String> = set(MODELS_VAR)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .collect();
    let evals: Vec<String> = set(EVALUATORS_VAR)
        .unwrap_or_else(|| "contains".to_owned())
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let time = event["time"].as_str().unwrap_or("now").to_owned();
    let id: String = event["id"]
        .as_str()
        .unwrap_or("event")
        .chars()
        .chain(['-'])
        .chain(dataset.chars())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let results = std::env::temp_dir().join(format!("scheduled-evaluation-{id}.jsonl"));
    let args = Args {
        phoenix_dataset: Some(dataset.clone()),
        models,
        evals,
        judge: set(JUDGE_VAR),
        results: Some(results.clone()),
        service: Some(SERVICE.to_owned()),
        phoenix: Some(phoenix),
        experiment: Some(format!("{dataset}-{time}")),
        ..Args::default()
    };
    if args.models.is_empty() {
        return Err(EvalError::Usage(format!(
            "{MODELS_VAR} names no model group"
        )));
    }
    let progress: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(|line: &str| {
        tracing::info!(target: "scheduled_evaluation", "{line}");
    });
    let finished = cli::experiment(env, args, progress).await?;
    if let Some(metrics) = metrics {
        for line in metric_lines(
            metrics.namespace(),
            &finished.experiment_name,
            &dataset,
            &finished.summaries,
        ) {
            metrics.write_document(&line);
        }
    }
    if let Err(err) = std::fs::remove_file(&results) {
        tracing::warn!(path = %results.display(), error = %err, "results file not removed");
    }
    Ok(json!({
        "dataset": dataset,
        "experiment": finished.experiment_name,
        "phoenix": finished.phoenix,
        "models": finished.summaries.iter().map(|s| json!({
            "model": s.model,
            "examples": s.examples,
            "failed": s.failed,
            "cost_usd": s.cost,
            "scores": s.evaluators.iter().map(|e| (e.evaluator.clone(), json!(e.mean))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
    }))
}

/// One EMF line per model and evaluator that has a score.
pub fn metric_lines(
    namespace: &str,
    experiment: &str,
    dataset: &str,
    summaries: &[ModelSummary],
) -> Vec<Value> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    summaries
        .iter()
        .flat_map(|s| s.evaluators.iter().map(move |e| (s, e)))
        .filter_map(|(s, e)| {
            let mean = e.mean?;
            Some(json!({
                "_aws": {
                    "Timestamp": now,
                    "CloudWatchMetrics": [{
                        "Namespace": namespace,
                        "Dimensions": [[], ["Model", "Evaluator"]],
                        "Metrics": [{"Name": METRIC_NAME, "Unit": "None"}],
                    }]
                },
                "Model": s.model,
                "Evaluator": e.evaluator,
                "Dataset": dataset,
                "Experiment": experiment,
                "Scored": e.scored,
                "Failed": e.failed,
                "Examples": s.examples,
                "FailedExamples": s.failed,
                METRIC_NAME: mean,
            }))
        })
        .collect()
}
