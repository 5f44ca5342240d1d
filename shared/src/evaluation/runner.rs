//! Runs a dataset through the gateway's own pipeline (`Gateway::chat`: the same keys,
//! limits, routing, guardrails, usage records and traces as production) against each model
//! group, scores every answer, records runs and evaluations in Phoenix, and appends each
//! finished example to the results file.
//!
//! At most `concurrency` examples are in flight at once (over all models); the judges of an
//! answer run after it, inside the same slot. Examples the results file already holds are
//! skipped, so a run that was interrupted resumes where it stopped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use futures_util::stream::{self, StreamExt};
use serde_json::json;

use super::dataset::{Dataset, Example, PhoenixDataset};
use super::evaluators::{Evaluator, Score};
use super::judge::{self, JudgeCriterion};
use super::phoenix_client::{PhoenixClient, Run};
use super::results::{ExampleResult, ExperimentLine, ResultsFile};
use super::EvalError;
use crate::chat::{ChatRequest, ContentBlock, InferenceParams, Message, Role};
use crate::gateway::{Answer, Gateway, RequestContext};
use crate::keys::{Caller, Principal};
use crate::observability::TraceParent;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Model groups of the config to compare.
    pub models: Vec<String>,
    pub evaluators: Vec<Evaluator>,
    /// The model group that judges (required when a `judge:` evaluator is chosen).
    pub judge_model: Option<String>,
    pub concurrency: usize,
    /// Prefix of the Phoenix experiments' names (`<prefix>-<model>`).
    pub experiment_name: String,
    /// Inference parameters of the answers (the judge always runs at temperature 0).
    pub params: InferenceParams,
}

/// One finished example, for a progress line.
pub struct Progress<'a> {
    pub done: usize,
    pub total: usize,
    pub result: &'a ExampleResult,
}

/// Where a model's answers go in Phoenix.
#[derive(Clone)]
struct Target {
    experiment_id: String,
    project: Option<String>,
}

struct Shared<'a> {
    gateway: &'a Gateway,
    principal: Principal,
    options: &'a RunOptions,
    phoenix: Option<&'a PhoenixClient>,
    results: &'a ResultsFile,
    done: AtomicUsize,
    total: usize,
}

/// Runs what the results file does not hold yet; returns every result (earlier and new).
pub async fn run(
    gateway: &Gateway,
    principal: Principal,
    dataset: &Dataset,
    options: &RunOptions,
    phoenix: Option<&PhoenixClient>,
    results: &ResultsFile,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<Vec<ExampleResult>, EvalError> {
    check_models(gateway, options)?;
    let phoenix_dataset = match phoenix {
        Some(client) => Some(client.ensure_dataset(dataset).await?),
        None => None,
    };
    let mut targets = Vec::new();
    for model in &options.models {
        let target = match (phoenix, &phoenix_dataset) {
            (Some(client), Some(ds)) => {
                Some(experiment_for(client, ds, model, dataset, options, results).await?)
            }
            _ => None,
        };
        targets.push(target);
    }
    let done = results.done();
    let mut work = Vec::new();
    for (model, target) in options.models.iter().zip(&targets) {
        for (i, example) in dataset.examples.iter().enumerate() {
            if done.contains(&(model.clone(), example.id.clone())) {
                continue;
            }
            let phoenix_example = phoenix_dataset
                .as_ref()
                .and_then(|d| d.example_ids.get(i))
                .cloned();
            work.push((model.clone(), i, phoenix_example, target.clone()));
        }
    }
    let shared = Shared {
        gateway,
        principal,
        options,
        phoenix,
        results,
        done: AtomicUsize::new(0),
        total: work.len(),
    };
    let shared = &shared;
    let examples = &dataset.examples;
    let new: Vec<Result<ExampleResult, EvalError>> = stream::iter(work)
        .map(|(model, index, phoenix_example, target)| async move {
            let example = examples
                .get(index)
                .ok_or_else(|| EvalError::Dataset(format!("no example {index}")))?;
            let result = one(shared, &model, example, phoenix_example, target).await?;
            let done = shared.done.fetch_add(1, Ordering::Relaxed) + 1;
            progress(Progress {
                done,
                total: shared.total,
                result: &result,
            });
            Ok(result)
        })
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    let mut all = results.previous.clone();
    for result in new {
        all.push(result?);
    }
    Ok(all)
}

fn check_models(gateway: &Gateway, options: &RunOptions) -> Result<(), EvalError> {
    let known: Vec<&str> = gateway.model_names().collect();
    let wanted = options.models.iter().chain(options.judge_model.iter());
    for model in wanted {
        if !known.contains(&model.as_str()) {
            return Err(EvalError::Usage(format!(
                "model group {model:?} is not in the config (known: {})",
                known.join(", ")
            )));
        }
    }
    if options.models.is_empty() {
        return Err(EvalError::Usage(
            "name at least one model group (--model)".into(),
        ));
    }
    let judged = options
        .evaluators
        .iter()
        .any(|e| matches!(e, Evaluator::Judge(_)));
    if judged && options.judge_model.is_none() {
        return Err(EvalError::Usage(
            "a judge: evaluator needs --judge MODEL_GROUP".into(),
        ));
    }
    Ok(())
}

/// The model's experiment: the one the results file remembers for this dataset, else a new one.
async fn experiment_for(
    client: &PhoenixClient,
    ds: &PhoenixDataset,
    model: &str,
    dataset: &Dataset,
    options: &RunOptions,
    results: &ResultsFile,
) -> Result<Target, EvalError> {
    if let Some(line) = results.experiments.get(model) {
        if line.dataset_id == ds.dataset_id {
            return Ok(Target {
                experiment_id: line.experiment_id.clone(),
                project: line.project_name.clone(),
            });
        }
    }
    let evaluators: Vec<String> = options.evaluators.iter().map(Evaluator::name).collect();
    let experiment = client
        .create_experiment(
            ds,
            &format!("{}-{model}", options.experiment_name),
            json!({
                "model": model,
                "dataset": dataset.name,
                "evaluators": evaluators,
                "judge_model": options.judge_model,
                "runner": "gateway-admin evaluate",
            }),
        )
        .await?;
    results.append_experiment(&ExperimentLine {
        model: model.to_owned(),
        dataset_id: ds.dataset_id.clone(),
        experiment_id: experiment.id.clone(),
        project_name: experiment.project_name.clone(),
    })?;
    Ok(Target {
        experiment_id: experiment.id,
        project: experiment.project_name,
    })
}

/// A call through the pipeline: the answer text, or the error a client would have seen.
struct Called {
    request_id: String,
    trace_id: String,
    text: Result<String, String>,
    cost: Option<f64>,
    prompt_tokens: u64,
    completion_tokens: u64,
}

async fn call(
    shared: &Shared<'_>,
    model: &str,
    system: Option<String>,
    text: String,
    params: InferenceParams,
    project: Option<&str>,
) -> Called {
    let (high, low) = uuid::Uuid::new_v4().as_u64_pair();
    let parent = TraceParent {
        trace_id: uuid::Uuid::new_v4().as_u128().max(1),
        parent_span_id: (high ^ low).max(1),
        sampled: true,
    };
    let ctx =
        RequestContext::new(Caller::Api, shared.principal.clone()).with_traceparent(Some(parent));
    let mut metadata = json!({ "tags": ["evaluation"] });
    if let Some(project) = project {
        metadata["project_name"] = json!(project);
    }
    let request = ChatRequest {
        model: model.to_owned(),
        system: system.into_iter().collect(),
        messages: vec![Message {
            role: Role::User,
            content: vec![ContentBlock::Text(text)],
        }],
        params,
        metadata: Some(metadata),
        ..ChatRequest::default()
    };
    let mut called = Called {
        request_id: ctx.request_id.clone(),
        trace_id: format!("{:032x}", parent.trace_id),
        text: Err(String::new()),
        cost: None,
        prompt_tokens: 0,
        completion_tokens: 0,
    };
    called.text = match shared.gateway.chat(&ctx, request).await {
        Ok(Answer::Whole(completion)) => {
            called.cost = completion.cost;
            called.prompt_tokens = u64::from(completion.response.usage.prompt_tokens);
            called.completion_tokens = u64::from(completion.response.usage.completion_tokens);
            Ok(completion.response.content.unwrap_or_default())
        }
        Ok(Answer::Stream(_)) => Err("the pipeline streamed an answer it was asked whole".into()),
        Err(err) => Err(err.to_string()),
    };
    called
}

async fn one(
    shared: &Shared<'_>,
    model: &str,
    example: &Example,
    phoenix_example: Option<String>,
    target: Option<Target>,
) -> Result<ExampleResult, EvalError> {
    let started_at = now();
    let started = Instant::now();
    let project = target.as_ref().and_then(|t| t.project.as_deref());
    let called = call(
        shared,
        model,
        example.system.clone(),
        example.input.clone(),
        shared.options.params.clone(),
        project,
    )
    .await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let finished_at = now();
    let mut scores = Vec::new();
    let mut scored_at = Vec::new();
    if let Ok(answer) = &called.text {
        for evaluator in &shared.options.evaluators {
            let start = now();
            let score = match evaluator {
                Evaluator::Judge(criterion) => {
                    judge(shared, *criterion, example, answer, project).await
                }
                other => other
                    .score_deterministic(example, answer)
                    .unwrap_or_else(|| Score::failed(&other.name(), "not scored".into())),
            };
            scored_at.push((start, now(), evaluator.annotator_kind()));
            scores.push(score);
        }
    }
    let (output, error) = match called.text {
        Ok(text) => (Some(text), None),
        Err(err) => (None, Some(err)),
    };
    let mut result = ExampleResult {
        model: model.to_owned(),
        example_id: example.id.clone(),
        request_id: called.request_id,
        output,
        error,
        latency_ms,
        cost: called.cost,
        prompt_tokens: called.prompt_tokens,
        completion_tokens: called.completion_tokens,
        trace_id: Some(called.trace_id),
        scores,
        phoenix_run_id: None,
        started_at,
        finished_at,
    };
    if let (Some(client), Some(target), Some(example_id)) =
        (shared.phoenix, &target, phoenix_example)
    {
        let run_id = client
            .create_run(
                &target.experiment_id,
                &Run {
                    example_id: &example_id,
                    output: result.output.as_deref(),
                    error: result.error.as_deref(),
                    trace_id: result.trace_id.as_deref(),
                    start_time: &result.started_at,
                    end_time: &result.finished_at,
                },
            )
            .await?;
        for (score, (start, end, kind)) in result.scores.iter().zip(&scored_at) {
            client
                .create_evaluation(&run_id, score, kind, start, end)
                .await?;
        }
        result.phoenix_run_id = Some(run_id);
    }
    shared.results.append_result(&result)?;
    Ok(result)
}

/// One judge call through the gateway; a failed call or an unreadable reply is a failed score.
async fn judge(
    shared: &Shared<'_>,
    criterion: JudgeCriterion,
    example: &Example,
    answer: &str,
    project: Option<&str>,
) -> Score {
    let name = format!("judge:{}", criterion.as_str());
    let Some(judge_model) = shared.options.judge_model.as_deref() else {
        return Score::failed(&name, "no judge model".into());
    };
    let message = match criterion.message(example, answer) {
        Ok(message) => message,
        Err(why) => return Score::failed(&name, why),
    };
    let params = InferenceParams {
        temperature: Some(0.0),
        max_tokens: Some(400),
        ..InferenceParams::default()
    };
    let called = call(
        shared,
        judge_model,
        Some(criterion.instructions()),
        message,
        params,
        project,
    )
    .await;
    let mut score = match called.text {
        Ok(reply) => match judge::parse_reply(&reply) {
            Ok(verdict) => Score {
                evaluator: name,
                score: Some(verdict.score),
                label: verdict.label,
                explanation: verdict.explanation,
                error: None,
                trace_id: None,
            },
            Err(why) => Score::failed(&name, why),
        },
        Err(err) => Score::failed(&name, format!("the judge call failed: {err}")),
    };
    score.trace_id = Some(called.trace_id);
    score
}

/// RFC 3339 UTC with milliseconds, as Phoenix takes times.
fn now() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The principal the runs use: the key's (authenticated like any request), so its limits,
/// allowed models and guardrails apply.
pub async fn principal(gateway: &Gateway, key: Option<&str>) -> Result<Principal, EvalError> {
    gateway
        .authenticate(key)
        .await
        .map_err(|e| EvalError::Usage(format!("the evaluation key was refused: {e}")))
}
