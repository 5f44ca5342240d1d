//! Answer quality, measured: offline experiments over a dataset through the gateway's own
//! pipeline (`gateway-admin evaluate`), recorded as Phoenix datasets, experiments, runs and
//! evaluations.
//!
//! - `dataset`: examples from JSONL/CSV on disk (or Phoenix, `phoenix_client`);
//! - `evaluators`: what a run scores (deterministic checks, `json_schema`'s subset, and the
//!   LLM judges of `judge`, whose prompt templates are documented there);
//! - `runner`: every example through `Gateway::chat` per model group, bounded concurrency,
//!   resumable through the `results` file;
//! - `online`: the live quality score, judged after the response on a sample of live traffic;
//! - `scheduled`: the same experiment on an EventBridge schedule in AWS, its scores as EMF metrics;
//! - `report`: one table per model (scores with 95% intervals, cost, latency, failures) and
//!   the thresholds that make the command fail.

pub mod cli;
pub mod dataset;
pub mod evaluators;
pub mod json_schema;
pub mod judge;
pub mod online;
pub mod phoenix_client;
pub mod report;
pub mod results;
pub mod runner;
pub mod scheduled;

pub use dataset::{Dataset, Example};
pub use evaluators::{Evaluator, Score};
pub use phoenix_client::PhoenixClient;
pub use report::{below, render, summarize, Threshold};
pub use results::{ExampleResult, ResultsFile};
pub use runner::{run, Progress, RunOptions};

/// Why an evaluation could not run (a failed answer or judge is a result, not an error).
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{0}")]
    Usage(String),
    #[error("dataset: {0}")]
    Dataset(String),
    #[error("results file: {0}")]
    Results(String),
    #[error("Phoenix: {0}")]
    Phoenix(String),
}
