//! `gateway-admin evaluate`: the command line of an offline experiment.
//!
//! ```text
//! gateway-admin evaluate (--dataset FILE | --phoenix-dataset NAME) --model GROUP [--model GROUP …]
//!     [--eval SPEC …] [--judge GROUP] [--min EVALUATOR=SCORE …] [--concurrency N]
//!     [--results FILE] [--key KEY] [--phoenix URL | --no-phoenix] [--experiment NAME]
//!     [--dataset-name NAME] [--max-tokens N] [--temperature T] [--config FILE]
//! ```
//!
//! The config is `--config` or `GATEWAY_CONFIG`, loaded as the functions load it; the gateway
//! is built from it as the functions build it (Bedrock, keys, usage records, guardrails), with
//! traces sent to the Phoenix that takes the experiment. The key is `--key`, else
//! `GATEWAY_EVAL_KEY`, else the config's master key. Phoenix is `--phoenix`, else the config's
//! collector when `arize_phoenix` tracing is on; without one the run is local only.
//! The results file (default `evaluation-results/<dataset>--<models>.jsonl`) makes a run
//! resumable: delete it to start over. Progress goes to stderr, the tables to stdout. Exit
//! status: 0, 1 (the run could not be done), 2 (a score fell under its `--min`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::report::{self, Threshold};
use super::runner::{self, Progress, RunOptions};
use super::{Dataset, EvalError, Evaluator, PhoenixClient, ResultsFile};
use crate::chat::InferenceParams;
use crate::config::{self, GatewayConfig, CONFIG_PATH_VAR};
use crate::env::Environment;
use crate::gateway::Gateway;
use crate::observability::{PhoenixExporter, Telemetry, TraceSettings};

/// The variable holding the key an evaluation runs with (when `--key` is not given).
pub const EVAL_KEY_VAR: &str = "GATEWAY_EVAL_KEY";

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// A score fell under its threshold.
    BelowThreshold,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Passed => 0,
            Outcome::BelowThreshold => 2,
        }
    }
}

/// What to run: the command line's options (also filled in by `scheduled`).
#[derive(Debug, Default)]
pub(super) struct Args {
    pub(super) dataset: Option<PathBuf>,
    pub(super) phoenix_dataset: Option<String>,
    pub(super) dataset_name: Option<String>,
    pub(super) models: Vec<String>,
    pub(super) evals: Vec<String>,
    pub(super) judge: Option<String>,
    pub(super) mins: Vec<Threshold>,
    pub(super) concurrency: Option<usize>,
    pub(super) results: Option<PathBuf>,
    pub(super) key: Option<String>,
    /// Without a key: run as this service principal (the scheduled run) instead of failing.
    pub(super) service: Option<String>,
    pub(super) phoenix: Option<String>,
    pub(super) no_phoenix: bool,
    pub(super) experiment: Option<String>,
    pub(super) max_tokens: Option<u32>,
    pub(super) temperature: Option<f32>,
    pub(super) config: Option<PathBuf>,
}

/// A finished run: its summaries and what it was recorded as.
pub(super) struct Finished {
    pub(super) summaries: Vec<report::ModelSummary>,
    pub(super) dataset_name: String,
    pub(super) experiment_name: String,
    pub(super) results_path: PathBuf,
    /// Phoenix's base URL when the experiment was recorded there.
    pub(super) phoenix: Option<String>,
}

pub const USAGE: &str = "usage: gateway-admin evaluate (--dataset FILE | --phoenix-dataset NAME) \
--model GROUP [--model GROUP ...] [--eval SPEC ...] [--judge GROUP] [--min EVALUATOR=SCORE ...] \
[--concurrency N] [--results FILE] [--key KEY] [--phoenix URL | --no-phoenix] [--experiment NAME] \
[--dataset-name NAME] [--max-tokens N] [--temperature T] [--config FILE]";

fn parse(args: &[String]) -> Result<Args, EvalError> {
    let mut out = Args::default();
    let mut it = args.iter();
    let usage = |why: String| EvalError::Usage(format!("{why}\n{USAGE}"));
    while let Some(flag) = it.next() {
        if flag == "--no-phoenix" {
            out.no_phoenix = true;
            continue;
        }
        let value = it
            .next()
            .ok_or_else(|| usage(format!("{flag} needs a value")))?
            .clone();
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| usage(format!("{flag}: {v:?} is not a number")))
        };
        match flag.as_str() {
            "--dataset" => out.dataset = Some(value.into()),
            "--phoenix-dataset" => out.phoenix_dataset = Some(value),
            "--dataset-name" => out.dataset_name = Some(value),
            "--model" => out.models.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned),
            ),
            "--eval" => out.evals.push(value),
            "--judge" => out.judge = Some(value),
            "--min" => out.mins.push(Threshold::parse(&value).ok_or_else(|| {
                usage(format!(
                    "--min {value:?}: expected EVALUATOR=SCORE (0 to 1)"
                ))
            })?),
            "--concurrency" => {
                out.concurrency = Some(usize::try_from(number(&value)?).unwrap_or(usize::MAX))
            }
            "--results" => out.results = Some(value.into()),
            "--key" => out.key = Some(value),
            "--phoenix" => out.phoenix = Some(value),
            "--experiment" => out.experiment = Some(value),
            "--max-tokens" => {
                out.max_tokens = Some(u32::try_from(number(&value)?).unwrap_or(u32::MAX))
            }
            "--temperature" => {
                out.temperature = Some(
                    value
                        .parse()
                        .map_err(|_| usage(format!("--temperature {value:?}")))?,
                )
            }
            "--config" => out.config = Some(value.into()),
            other => return Err(usage(format!("unknown option {other:?}"))),
        }
    }
    if out.dataset.is_some() == out.phoenix_dataset.is_some() {
        return Err(usage(
            "name one dataset: --dataset FILE or --phoenix-dataset NAME".into(),
        ));
    }
    if out.models.is_empty() {
        return Err(usage("name at least one --model".into()));
    }
    if out.evals.is_empty() {
        out.evals.push("contains".into());
    }
    Ok(out)
}

/// Runs the command: the tables to `out`, progress to `progress`.
pub async fn run(
    env: &Environment,
    args: &[String],
    out: &mut (dyn Write + Send),
    progress: Arc<dyn Fn(&str) + Send + Sync>,
) -> Result<Outcome, EvalError> {
    let args = parse(args)?;
    let mins = args.mins.clone();
    let finished = experiment(env, args, progress).await?;
    let write = |e: std::io::Error| EvalError::Results(e.to_string());
    out.write_all(report::render(&finished.summaries).as_bytes())
        .map_err(write)?;
    if let Some(base) = &finished.phoenix {
        writeln!(
            out,
            "Phoenix: {base}/datasets (dataset {:?}, experiments {}-<model>)",
            finished.dataset_name, finished.experiment_name
        )
        .map_err(write)?;
    }
    writeln!(out, "results: {}", finished.results_path.display()).map_err(write)?;
    let failing = report::below(&finished.summaries, &mins);
    for (model, evaluator, mean, min) in &failing {
        let mean = mean.map_or_else(|| "no score".to_owned(), |m| format!("{m:.3}"));
        writeln!(out, "BELOW THRESHOLD: {model} {evaluator} {mean} < {min}").map_err(write)?;
    }
    Ok(if failing.is_empty() {
        Outcome::Passed
    } else {
        Outcome::BelowThreshold
    })
}

/// Runs an experiment as `args` describe: every example through the gateway per model,
/// scored, recorded in Phoenix when there is one; progress lines to `progress`.
pub(super) async fn experiment(
    env: &Environment,
    args: Args,
    progress: Arc<dyn Fn(&str) + Send + Sync>,
) -> Result<Finished, EvalError> {
    let evaluators = args
        .evals
        .iter()
        .map(|spec| Evaluator::parse(spec))
        .collect::<Result<Vec<_>, _>>()?;
    let config = match &args.config {
        Some(path) => config::load(path, env),
        None => GatewayConfig::from_environment(env),
    }
    .map_err(|e| EvalError::Usage(format!("config ({CONFIG_PATH_VAR}): {e}")))?;
    let trace_settings = trace_settings(&config, env, &args).await?;
    let phoenix = match &trace_settings {
        Some(settings) => Some(PhoenixClient::new(
            &settings.endpoint,
            settings.api_key.clone(),
            Duration::from_secs(30),
        )?),
        None => None,
    };
    let gateway = build_gateway(&config, env, trace_settings).await?;
    let key = args
        .key
        .clone()
        .or_else(|| env.get(EVAL_KEY_VAR).map(str::to_owned))
        .or_else(|| config.master_key.as_ref().map(|k| k.expose().clone()));
    let principal = match (key, &args.service) {
        (None, Some(service)) => crate::keys::Principal::service(service, None),
        (key, _) => runner::principal(&gateway, key.as_deref()).await?,
    };

    let mut dataset = match (&args.dataset, &args.phoenix_dataset, &phoenix) {
        (Some(path), _, _) => Dataset::from_file(path)?,
        (None, Some(name), Some(client)) => client.load_dataset(name).await?,
        _ => {
            return Err(EvalError::Usage(
                "--phoenix-dataset needs a Phoenix (--phoenix URL)".into(),
            ))
        }
    };
    if let Some(name) = &args.dataset_name {
        dataset.name.clone_from(name);
    }
    let results_path = args.results.clone().unwrap_or_else(|| {
        Path::new("evaluation-results").join(format!(
            "{}--{}.jsonl",
            dataset.name,
            args.models.join("+")
        ))
    });
    let results = ResultsFile::open(&results_path)?;
    let already = results.previous.len();
    if already > 0 {
        progress(&format!(
            "resuming {}: {already} answers already done (delete the file to start over)",
            results_path.display()
        ));
    }
    let options = RunOptions {
        models: args.models.clone(),
        evaluators: evaluators.clone(),
        judge_model: args.judge.clone(),
        concurrency: args.concurrency.unwrap_or(4),
        experiment_name: args
            .experiment
            .clone()
            .unwrap_or_else(|| dataset.name.clone()),
        params: InferenceParams {
            max_tokens: args.max_tokens,
            temperature: args.temperature,
            ..InferenceParams::default()
        },
    };
    let report_progress = {
        let progress = Arc::clone(&progress);
        move |p: Progress<'_>| {
            let status = match &p.result.error {
                None => "ok".to_owned(),
                Some(err) => format!("failed: {err}"),
            };
            progress(&format!(
                "[{}/{}] {} {} {} ms {status}",
                p.done, p.total, p.result.model, p.result.example_id, p.result.latency_ms
            ));
        }
    };
    let outcome = runner::run(
        &gateway,
        principal,
        &dataset,
        &options,
        phoenix.as_ref(),
        &results,
        &report_progress,
    )
    .await;
    // Usage records and traces of the answers and judges, before the process ends.
    gateway.after_response().flush().await;
    let all = outcome?;
    let names: Vec<String> = evaluators.iter().map(Evaluator::name).collect();
    Ok(Finished {
        summaries: report::summarize(&options.models, &names, &all),
        dataset_name: dataset.name.clone(),
        experiment_name: options.experiment_name.clone(),
        results_path,
        phoenix: phoenix.as_ref().map(|c| c.base_url().to_owned()),
    })
}

/// Where traces (and the experiment) go: `--phoenix`, else the config's tracing, else nowhere.
async fn trace_settings(
    config: &GatewayConfig,
    env: &Environment,
    args: &Args,
) -> Result<Option<TraceSettings>, EvalError> {
    if args.no_phoenix {
        return Ok(None);
    }
    let configured =
        TraceSettings::from_config(config, env).map_err(|e| EvalError::Usage(e.to_string()))?;
    let configured = match configured {
        Some(settings) => Some(
            settings
                .with_secret_api_key(env)
                .await
                .map_err(|e| EvalError::Phoenix(format!("API key: {e}")))?,
        ),
        None => None,
    };
    Ok(match (&args.phoenix, configured) {
        (Some(url), configured) => {
            let base = url.trim().trim_end_matches('/');
            let base = base.strip_suffix("/v1/traces").unwrap_or(base);
            // Without the config's tracing: the environment's project, switches and API key
            // (its secret too, as the functions read it).
            let mut settings = match configured {
                Some(settings) => settings,
                None => TraceSettings::from_env(env)
                    .map_err(|e| EvalError::Usage(e.to_string()))?
                    .with_secret_api_key(env)
                    .await
                    .map_err(|e| EvalError::Phoenix(format!("API key: {e}")))?,
            };
            settings.endpoint = format!("{base}/v1/traces");
            Some(settings)
        }
        (None, configured) => configured,
    }
    // The operator names the experiments, and each one's spans go to its own project: every
    // project is allowed here (callers of the deployed gateway stay bound by the config's list).
    .map(|settings| TraceSettings {
        allowed_projects: vec!["*".to_owned()],
        ..settings
    }))
}

/// The gateway as `Gateway::from_config` builds it, its traces going where `traces` says.
async fn build_gateway(
    config: &GatewayConfig,
    env: &Environment,
    traces: Option<TraceSettings>,
) -> Result<Gateway, EvalError> {
    let init = |e: String| EvalError::Usage(format!("the gateway could not start: {e}"));
    let (providers, guardrails) = crate::providers::bedrock::providers_and_guardrails(config, env)
        .await
        .map_err(|e| init(e.to_string()))?;
    let keys = crate::keys::from_environment(config, env)
        .await
        .map_err(|e| init(e.to_string()))?;
    let usage = crate::usage::sink_from_environment(&config.usage, env)
        .await
        .map_err(|e| init(e.to_string()))?;
    let telemetry = match traces {
        Some(settings) => Telemetry {
            phoenix: Some(Arc::new(
                PhoenixExporter::new(settings).map_err(|e| init(e.to_string()))?,
            )),
            metrics: None,
        },
        None => Telemetry::off(),
    };
    Gateway::builder(config, providers)
        .configured_guardrails(guardrails)
        .keys(keys)
        .usage_sink(usage)
        .telemetry(telemetry)
        .build()
        .await
        .map_err(|e| init(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn arguments_are_checked() {
        let ok = parse(&args(
            "--dataset d.jsonl --model a,b --model c --min exact=0.5",
        ))
        .unwrap();
        assert_eq!(ok.models, ["a", "b", "c"]);
        assert_eq!(ok.evals, ["contains"]);
        for bad in [
            "--model a",
            "--dataset d --phoenix-dataset p --model a",
            "--dataset d",
            "--dataset d --model a --min exact",
            "--dataset d --model a --bogus 1",
            "--dataset d --model a --concurrency many",
            "--dataset",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
    }
}
