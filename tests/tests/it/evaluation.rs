//! `gateway-admin evaluate` end to end: a dataset run through the gateway's own pipeline
//! against the fake Bedrock (which also plays the judge), scored, and recorded in a real
//! Phoenix: the dataset, one experiment per model, its runs (linked to their traces) and
//! evaluations are read back through Phoenix's REST API. Also the threshold's exit status, a
//! judge answering garbage, a run interrupted and resumed, the live quality score, and the
//! scheduled experiment (an EventBridge scheduled event: EMF scores per model and evaluator).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gateway::env::Environment;
use gateway::evaluation::cli::{self, Outcome};
use gateway::evaluation::ExampleResult;
use gateway_tests::fake_bedrock::FakeBedrock;
use gateway_tests::harness::{config_yaml, HAIKU, SONNET};
use gateway_tests::phoenix::{get, phoenix_url, spans, unique_project};
use serde_json::Value;

/// The judge's Bedrock model id: its own, so the fake counts its calls apart.
const JUDGE: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";

/// A temporary folder with the config (the test config plus a `judge` group) and a dataset.
struct Workspace {
    dir: PathBuf,
}

impl Workspace {
    fn new(fake: &FakeBedrock, dataset: &str) -> Workspace {
        let dir = std::env::temp_dir().join(format!("evaluation-{}", unique_project("ws")));
        std::fs::create_dir_all(&dir).unwrap();
        let endpoint = fake.endpoint();
        let mut yaml = config_yaml(&endpoint);
        let judge = format!(
            r#"
  - model_name: judge
    litellm_params:
      model: bedrock/{JUDGE}
      aws_region_name: us-east-1
      aws_bedrock_runtime_endpoint: {endpoint}
      aws_access_key_id: test-access-key
      aws_secret_access_key: test-secret-key
"#
        );
        let at = yaml.find("general_settings:").unwrap();
        yaml.insert_str(at, judge.trim_start_matches('\n'));
        std::fs::write(dir.join("config.yaml"), yaml).unwrap();
        std::fs::write(dir.join("qa.jsonl"), dataset).unwrap();
        Workspace { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// Runs `evaluate` with `args` (the config and dataset given): its outcome, stdout and
    /// progress lines.
    async fn evaluate(&self, args: &[&str]) -> (Result<Outcome, String>, String, Vec<String>) {
        let mut all = vec![
            "--config".to_owned(),
            self.path("config.yaml"),
            "--dataset".to_owned(),
            self.path("qa.jsonl"),
            "--results".to_owned(),
            self.path("results.jsonl"),
        ];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let progress = {
            let lines = Arc::clone(&lines);
            Arc::new(move |line: &str| lines.lock().unwrap().push(line.to_owned()))
        };
        let mut out = Vec::new();
        let env = Environment::from_pairs([("AWS_REGION", "us-east-1")]);
        let outcome = cli::run(&env, &all, &mut out, progress)
            .await
            .map_err(|e| e.to_string());
        let lines = lines.lock().unwrap().clone();
        (outcome, String::from_utf8(out).unwrap(), lines)
    }

    fn results(&self) -> Vec<ExampleResult> {
        read_results(&self.dir.join("results.jsonl"))
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn read_results(path: &Path) -> Vec<ExampleResult> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["kind"] == "result")
        .map(|v| serde_json::from_value(v).unwrap())
        .collect()
}

/// Three questions: the fake answers "Fake answer to: <question>", so the answer contains the
/// expected one for `capital` and `colour` and not for `sum`.
const QA: &str = r#"{"id":"capital","question":"Is the capital of France Paris?","answer":"Paris"}
{"id":"sum","question":"What is two plus two?","answer":"4"}
{"id":"colour","question":"Name a colour, for example blue","answer":"blue"}
"#;

fn phoenix_json(path: &str) -> Value {
    let (status, body) = get(phoenix_url(), path);
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

async fn phoenix_json_async(path: String) -> Value {
    tokio::task::spawn_blocking(move || phoenix_json(&path))
        .await
        .unwrap()
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_experiment_per_model_lands_in_phoenix_with_its_runs_scores_and_traces() {
    let fake = FakeBedrock::start().await.unwrap();
    let ws = Workspace::new(&fake, QA);
    let name = unique_project("qa");
    let phoenix = phoenix_url().to_owned();
    let (outcome, table, progress) = ws
        .evaluate(&[
            "--phoenix",
            &phoenix,
            "--dataset-name",
            &name,
            "--model",
            "claude-3-sonnet,claude-3-haiku",
            "--eval",
            "contains",
            "--eval",
            "judge:correctness",
            "--judge",
            "judge",
            "--concurrency",
            "3",
        ])
        .await;
    assert_eq!(outcome, Ok(Outcome::Passed), "{table}");
    assert_eq!(
        progress.iter().filter(|l| l.starts_with('[')).count(),
        6,
        "{progress:?}"
    );
    // Through the pipeline: each model answered each question once, the judge each answer.
    assert_eq!(fake.calls(SONNET), 3);
    assert_eq!(fake.calls(HAIKU), 3);
    assert_eq!(fake.calls(JUDGE), 6);
    for model in ["claude-3-sonnet", "claude-3-haiku"] {
        assert!(
            table.contains(&format!("model {model}: 3 examples, 0 failed")),
            "{table}"
        );
    }
    assert!(table.contains("judge:correctness"), "{table}");
    assert!(table.contains("0.667"), "{table}");

    // The dataset, uploaded from disk.
    let datasets = phoenix_json_async(format!("/v1/datasets?name={name}")).await;
    let dataset_id = datasets["data"][0]["id"]
        .as_str()
        .expect("the dataset")
        .to_owned();
    let examples = phoenix_json_async(format!("/v1/datasets/{dataset_id}/examples")).await;
    let examples = examples["data"]["examples"].as_array().unwrap().clone();
    assert_eq!(examples.len(), 3);
    let paris = examples
        .iter()
        .find(|e| e["metadata"]["example_id"] == "capital")
        .expect("the capital example");
    assert_eq!(paris["input"]["input"], "Is the capital of France Paris?");
    assert_eq!(paris["output"]["expected"], "Paris");

    // One experiment per model, three runs each, two evaluations per run.
    let experiments = phoenix_json_async(format!("/v1/datasets/{dataset_id}/experiments")).await;
    let experiments = experiments["data"].as_array().unwrap().clone();
    assert_eq!(experiments.len(), 2, "{experiments:?}");
    let mut models: Vec<&str> = experiments
        .iter()
        .map(|e| e["metadata"]["model"].as_str().unwrap())
        .collect();
    models.sort_unstable();
    assert_eq!(models, ["claude-3-haiku", "claude-3-sonnet"]);
    for experiment in &experiments {
        let id = experiment["id"].as_str().unwrap();
        let runs = phoenix_json_async(format!("/v1/experiments/{id}/runs")).await;
        let runs = runs["data"].as_array().unwrap().clone();
        assert_eq!(runs.len(), 3, "{runs:?}");
        for run in &runs {
            assert!(run["output"]["answer"]
                .as_str()
                .unwrap()
                .starts_with("Fake answer to:"));
            assert_eq!(run["trace_id"].as_str().map(str::len), Some(32), "{run}");
        }
        let full = phoenix_json_async(format!("/v1/experiments/{id}/json")).await;
        let rows = full.as_array().expect("the experiment's runs").clone();
        assert_eq!(rows.len(), 3);
        let mut contains = Vec::new();
        let mut correctness = Vec::new();
        for row in &rows {
            let annotations = row["annotations"].as_array().expect("annotations");
            assert_eq!(annotations.len(), 2, "{row}");
            for a in annotations {
                let score = a["score"].as_f64().expect("a score");
                match a["name"].as_str().unwrap() {
                    "contains" => contains.push(score),
                    "judge:correctness" => correctness.push(score),
                    other => panic!("unexpected evaluation {other}"),
                }
            }
        }
        assert!((mean(&contains) - 2.0 / 3.0).abs() < 1e-9, "{contains:?}");
        assert!(
            (mean(&correctness) - 2.0 / 3.0).abs() < 1e-9,
            "{correctness:?}"
        );

        // Each run's trace is in the experiment's project: the gateway's spans of that answer.
        let project = experiment["project_name"]
            .as_str()
            .expect("a project")
            .to_owned();
        let trace_ids: Vec<String> = runs
            .iter()
            .map(|r| r["trace_id"].as_str().unwrap().to_owned())
            .collect();
        let mut found = Vec::new();
        for _ in 0..50 {
            let p = project.clone();
            found = tokio::task::spawn_blocking(move || spans(&p))
                .await
                .unwrap();
            let traced = trace_ids
                .iter()
                .all(|t| found.iter().any(|s| s["context"]["trace_id"] == t.as_str()));
            if traced {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for t in &trace_ids {
            assert!(
                found.iter().any(|s| s["context"]["trace_id"] == t.as_str()),
                "no span of trace {t} in {project}"
            );
        }
    }
}

#[tokio::test]
async fn a_score_under_its_minimum_fails_the_run_and_a_rerun_repeats_nothing() {
    let fake = FakeBedrock::start().await.unwrap();
    let ws = Workspace::new(&fake, QA);
    let base = [
        "--no-phoenix",
        "--model",
        "claude-3-haiku",
        "--eval",
        "contains",
        "--eval",
        "exact",
    ];
    let strict: Vec<&str> = base
        .iter()
        .copied()
        .chain(["--min", "contains=0.9"])
        .collect();
    let (outcome, table, _) = ws.evaluate(&strict).await;
    assert_eq!(outcome, Ok(Outcome::BelowThreshold), "{table}");
    assert_eq!(Outcome::BelowThreshold.exit_code(), 2);
    assert!(
        table.contains("BELOW THRESHOLD: claude-3-haiku contains 0.667 < 0.9"),
        "{table}"
    );
    assert_eq!(fake.calls(HAIKU), 3);

    // The same run with a lower bar passes, from the results file: no model is called again.
    let lenient: Vec<&str> = base
        .iter()
        .copied()
        .chain(["--min", "contains=0.6"])
        .collect();
    let (outcome, table, progress) = ws.evaluate(&lenient).await;
    assert_eq!(outcome, Ok(Outcome::Passed), "{table}");
    assert!(
        progress[0].contains("3 answers already done"),
        "{progress:?}"
    );
    assert_eq!(fake.calls(HAIKU), 3);
    // `exact` never matches the fake's answers; an evaluator with no score fails its minimum.
    let exact: Vec<&str> = base.iter().copied().chain(["--min", "exact=0.1"]).collect();
    assert_eq!(ws.evaluate(&exact).await.0, Ok(Outcome::BelowThreshold));
    let unknown_model = ["--no-phoenix", "--model", "gpt-nope"];
    let err = ws.evaluate(&unknown_model).await.0.unwrap_err();
    assert!(err.contains("gpt-nope"), "{err}");
}

#[tokio::test]
async fn a_judge_answering_garbage_is_a_recorded_failure_not_a_crash() {
    let fake = FakeBedrock::start().await.unwrap();
    let ws = Workspace::new(
        &fake,
        "{\"id\":\"odd\",\"question\":\"JUDGE_GARBAGE: rate me\",\"answer\":\"x\"}\n\
         {\"id\":\"fine\",\"question\":\"Say blue\",\"answer\":\"blue\"}\n",
    );
    let (outcome, table, _) = ws
        .evaluate(&[
            "--no-phoenix",
            "--model",
            "claude-3-sonnet",
            "--eval",
            "judge:correctness",
            "--judge",
            "judge",
            "--min",
            "judge:correctness=1",
        ])
        .await;
    // The garbage reply is left out of the mean (1.0 from the other answer), not scored 0.
    assert_eq!(outcome, Ok(Outcome::Passed), "{table}");
    let results = ws.results();
    let odd = results.iter().find(|r| r.example_id == "odd").unwrap();
    let score = &odd.scores[0];
    assert_eq!(score.score, None);
    assert!(
        score
            .error
            .as_deref()
            .unwrap()
            .contains("no score in the judge's reply"),
        "{score:?}"
    );
    let fine = results.iter().find(|r| r.example_id == "fine").unwrap();
    assert_eq!(fine.scores[0].score, Some(1.0));
    let row = table
        .lines()
        .find(|l| l.contains("judge:correctness"))
        .unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells.last(), Some(&"1"), "one failed evaluation: {table}");
    assert_eq!(fake.calls(JUDGE), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_resumes_without_repeating_finished_examples() {
    let fake = FakeBedrock::start().await.unwrap();
    let dataset: String = (1..=5)
        .map(|i| format!("{{\"id\":\"q{i}\",\"question\":\"Question number {i}\",\"answer\":\"number {i}\"}}\n"))
        .collect();
    let ws = Arc::new(Workspace::new(&fake, &dataset));
    let name = unique_project("resume");
    let phoenix = phoenix_url().to_owned();
    let args: Vec<String> = [
        "--phoenix",
        phoenix.as_str(),
        "--dataset-name",
        name.as_str(),
        "--model",
        "claude-3-sonnet",
        "--concurrency",
        "1",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    // Slow answers, and the run is stopped (its task dropped, as Ctrl-C would) after two.
    fake.set_latency(Duration::from_millis(300), Duration::ZERO);
    let first = {
        let ws = Arc::clone(&ws);
        let args = args.clone();
        tokio::spawn(async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            ws.evaluate(&refs).await
        })
    };
    for _ in 0..200 {
        if ws.results().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.abort();
    let _ = first.await;
    let finished: Vec<String> = ws.results().iter().map(|r| r.example_id.clone()).collect();
    assert_eq!(finished.len(), 2, "{finished:?}");
    let calls_before = fake.calls(SONNET);

    fake.set_latency(Duration::ZERO, Duration::ZERO);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (outcome, table, progress) = ws.evaluate(&refs).await;
    assert_eq!(outcome, Ok(Outcome::Passed), "{table}");
    assert!(
        progress[0].contains("2 answers already done"),
        "{progress:?}"
    );
    assert_eq!(
        fake.calls(SONNET) - calls_before,
        3,
        "only the unfinished examples ran again"
    );
    let mut ids: Vec<String> = ws.results().iter().map(|r| r.example_id.clone()).collect();
    ids.sort();
    assert_eq!(ids, ["q1", "q2", "q3", "q4", "q5"]);
    assert!(
        table.contains("model claude-3-sonnet: 5 examples, 0 failed"),
        "{table}"
    );

    // The resumed run went on with the same experiment: five runs, none twice.
    let datasets = phoenix_json_async(format!("/v1/datasets?name={name}")).await;
    let dataset_id = datasets["data"][0]["id"].as_str().unwrap().to_owned();
    let experiments = phoenix_json_async(format!("/v1/datasets/{dataset_id}/experiments")).await;
    let experiments = experiments["data"].as_array().unwrap().clone();
    assert_eq!(experiments.len(), 1);
    let id = experiments[0]["id"].as_str().unwrap();
    let runs = phoenix_json_async(format!("/v1/experiments/{id}/runs")).await;
    let mut examples: Vec<String> = runs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["dataset_example_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(examples.len(), 5);
    examples.sort();
    examples.dedup();
    assert_eq!(examples.len(), 5);
}

// ---- The online evaluator: live answers judged after the response. ----

mod live {
    use super::*;
    use gateway::evaluation::online::{self, ANNOTATION_NAME, METRIC_NAME};
    use gateway::observability::settings::MetricsSettings;
    use gateway::observability::{EmfMetrics, PhoenixExporter, Telemetry, TraceSettings};
    use gateway_tests::captured::Captured;
    use gateway_tests::fake_bedrock::Fault;
    use gateway_tests::harness::{load_config, test_env, TestGateway};
    use serde_json::json;

    /// The test config with a `judge` group and an online evaluator judging every
    /// `claude-3-sonnet` answer (and no `claude-3-haiku` one).
    fn yaml(endpoint: &str) -> String {
        let mut yaml = config_yaml(endpoint);
        let at = yaml.find("general_settings:").unwrap();
        yaml.insert_str(
            at,
            &format!(
                "  - model_name: judge\n    litellm_params:\n      model: bedrock/{JUDGE}\n      \
                 aws_region_name: us-east-1\n      aws_bedrock_runtime_endpoint: {endpoint}\n      \
                 aws_access_key_id: test-access-key\n      aws_secret_access_key: test-secret-key\n"
            ),
        );
        yaml.push_str("lex:\n  model: claude-3-sonnet\n");
        yaml.push_str(
            "evaluation:\n  online:\n    judge_model: judge\n    sample_rate: 1\n    \
             models: [claude-3-sonnet]\n",
        );
        yaml
    }

    /// A gateway tracing to the real Phoenix (its own project), metrics into a buffer, and the
    /// online evaluator the config describes, built as `Gateway::from_config` builds it.
    async fn gateway(fake: FakeBedrock, project: &str) -> (TestGateway, Captured) {
        let yaml = yaml(&fake.endpoint());
        let config = load_config(&yaml);
        let env = Environment::from_pairs([
            ("PHOENIX_COLLECTOR_ENDPOINT", phoenix_url()),
            ("PHOENIX_PROJECT_NAME", project),
        ]);
        let metrics_out = Captured::default();
        let telemetry = Telemetry {
            phoenix: Some(Arc::new(
                PhoenixExporter::new(TraceSettings::from_env(&env).unwrap()).unwrap(),
            )),
            metrics: Some(Arc::new(EmfMetrics::to_writer(
                MetricsSettings {
                    namespace: "Quality".into(),
                },
                Box::new(metrics_out.clone()),
            ))),
        };
        let (providers, guardrails) =
            gateway::providers::bedrock::providers_and_guardrails(&config, &test_env())
                .await
                .unwrap();
        let usage = Arc::new(gateway::usage::MemoryUsageSink::default());
        let live = online::from_config(&config, &providers, &guardrails, &telemetry, usage)
            .await
            .unwrap()
            .expect("the online evaluator is on");
        let gw = TestGateway::customized(fake, &yaml, move |b| {
            b.telemetry(telemetry).live_evaluator(live)
        })
        .await;
        (gw, metrics_out)
    }

    fn ask(model: &str, stream: bool) -> Value {
        json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "How do I reset my VPN password?"}]})
    }

    /// The span annotations of the root spans of `request_ids`, by request id.
    async fn annotations(project: &str, request_ids: &[String]) -> Vec<(String, Vec<Value>)> {
        let mut out = Vec::new();
        for id in request_ids {
            let span = gateway::observability::spans::root_span_id(id).to_string();
            let path = format!("/v1/projects/{project}/span_annotations?span_ids={span}");
            let body = tokio::task::spawn_blocking(move || {
                let (status, body) = get(phoenix_url(), &path);
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                serde_json::from_slice::<Value>(&body).unwrap()
            })
            .await
            .unwrap();
            out.push((
                id.clone(),
                body["data"].as_array().cloned().unwrap_or_default(),
            ));
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sampled_answers_get_a_span_annotation_and_a_metric_unsampled_ones_nothing() {
        let project = unique_project("live-quality");
        let fake = FakeBedrock::start().await.unwrap();
        let (gw, metrics) = gateway(fake, &project).await;
        let whole = gw.chat(ask("claude-3-sonnet", false)).await;
        assert_eq!(whole.status, 200, "{}", whole.text());
        let streamed = gw.chat(ask("claude-3-sonnet", true)).await;
        let chunks = streamed.sse_events();
        let unsampled = gw.chat(ask("claude-3-haiku", false)).await;
        let sampled_ids = vec![
            whole.json()["id"].as_str().unwrap().to_owned(),
            chunks[0]["id"].as_str().unwrap().to_owned(),
        ];
        let unsampled_id = unsampled.json()["id"].as_str().unwrap().to_owned();
        // A Lex turn takes the same pipeline: judged too.
        let config = load_config(&yaml(&gw.fake.endpoint()));
        let lex = gateway::lex::LexFulfillment::new(Arc::clone(&gw.gateway), &config).unwrap();
        let reply = lex
            .handle_json(
                gateway_tests::harness::sample_event("lex-first-turn.json"),
                None,
            )
            .await;
        assert!(reply.to_string().contains("Fake answer to:"), "{reply}");
        gw.gateway.after_response().flush().await;
        let lex_id = gw
            .usage
            .records()
            .iter()
            .find(|r| r.caller == "lex")
            .map(|r| r.request_id.clone())
            .expect("the Lex turn's usage record");
        let mut sampled_ids = sampled_ids;
        sampled_ids.push(lex_id);
        // The queue waits for the judging (and the judge's own records) like any write.
        gw.gateway.after_response().flush().await;
        assert_eq!(gw.fake.calls(JUDGE), 3, "one judge call per sampled answer");
        let judge_request = gw.fake.last_request(JUDGE).unwrap().to_string();
        // The judge sees the question and the answer as the client got it (the calls run
        // concurrently: the last one is the chat's or the Lex turn's).
        let asked = [
            "<question>\\nHow do I reset my VPN password?",
            "<question>\\nWhat are the pillars",
        ]
        .iter()
        .any(|q| judge_request.contains(q));
        assert!(
            asked && judge_request.contains("<answer>\\nFake answer to: "),
            "{judge_request}"
        );

        let found = annotations(&project, &sampled_ids).await;
        for (id, list) in &found {
            assert_eq!(list.len(), 1, "{id}: {list:?}");
            assert_eq!(list[0]["name"], ANNOTATION_NAME);
            assert_eq!(list[0]["annotator_kind"], "LLM");
            assert_eq!(
                list[0]["result"]["score"], 0.75,
                "the fake judge's helpfulness"
            );
        }
        let none = annotations(&project, std::slice::from_ref(&unsampled_id)).await;
        assert!(none[0].1.is_empty(), "{none:?}");

        let lines: Vec<Value> = metrics
            .text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|l: &Value| l.get(METRIC_NAME).is_some())
            .collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        for line in &lines {
            assert_eq!(line["Model"], "claude-3-sonnet");
            assert_eq!(line[METRIC_NAME], 0.75);
            assert_eq!(
                line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
                json!([[], ["Model"]])
            );
            assert!(sampled_ids.contains(&line["request_id"].as_str().unwrap().to_owned()));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_judge_that_never_answers_changes_no_answer() {
        let project = unique_project("live-slow-judge");
        let fake = FakeBedrock::start().await.unwrap();
        fake.set_fault(JUDGE, Fault::Hang);
        let (gw, _) = gateway(fake, &project).await;
        for stream in [false, true] {
            let started = std::time::Instant::now();
            let answer = gw.chat(ask("claude-3-sonnet", stream)).await;
            assert_eq!(answer.status, 200, "{}", answer.text());
            let text = if stream {
                answer
                    .sse_events()
                    .iter()
                    .filter_map(|c| {
                        c["choices"][0]["delta"]["content"]
                            .as_str()
                            .map(str::to_owned)
                    })
                    .collect::<String>()
            } else {
                answer.json()["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            };
            assert_eq!(text, "Fake answer to: How do I reset my VPN password?");
            // The judge hangs for good: the answer cannot have waited for it.
            assert!(started.elapsed() < Duration::from_secs(10));
        }
        for _ in 0..100 {
            if gw.fake.calls(JUDGE) == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            gw.fake.calls(JUDGE),
            2,
            "both answers are being judged, after they were sent"
        );
    }
}

// ---- The scheduled experiment: an EventBridge scheduled event in the function. ----

mod scheduled {
    use super::*;
    use gateway::evaluation::scheduled::{self, METRIC_NAME};
    use gateway::evaluation::{Dataset, PhoenixClient};
    use gateway::observability::settings::MetricsSettings;
    use gateway::observability::EmfMetrics;
    use gateway_tests::captured::Captured;

    /// `events/scheduled-evaluation.json` with its own event id (the results file is named
    /// after it).
    fn event() -> Value {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/scheduled-evaluation.json");
        let mut event: Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(event["detail-type"], "Scheduled Event");
        event["id"] = Value::from(unique_project("event"));
        event
    }

    /// The function's environment as the template sets it, on the test config and Phoenix.
    fn pairs(ws: &Workspace, dataset: &str) -> Vec<(String, String)> {
        [
            ("AWS_REGION", "us-east-1".to_owned()),
            ("GATEWAY_CONFIG", ws.path("config.yaml")),
            ("PHOENIX_COLLECTOR_HTTP_ENDPOINT", phoenix_url().to_owned()),
            (scheduled::DATASET_VAR, dataset.to_owned()),
            (
                scheduled::MODELS_VAR,
                "claude-3-sonnet, claude-3-haiku".to_owned(),
            ),
            (
                scheduled::EVALUATORS_VAR,
                "contains judge:correctness".to_owned(),
            ),
            (scheduled::JUDGE_VAR, "judge".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v))
        .into()
    }

    fn env(ws: &Workspace, dataset: &str) -> Environment {
        Environment::from_pairs(pairs(ws, dataset))
    }

    fn metrics() -> (EmfMetrics, Captured) {
        let out = Captured::default();
        let metrics = EmfMetrics::to_writer(
            MetricsSettings {
                namespace: "Scheduled".into(),
            },
            Box::new(out.clone()),
        );
        (metrics, out)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_scheduled_event_runs_the_phoenix_dataset_and_publishes_a_score_per_model_and_evaluator(
    ) {
        let fake = FakeBedrock::start().await.unwrap();
        let ws = Workspace::new(&fake, QA);
        // The dataset is in Phoenix (uploaded as `evaluate --dataset FILE` uploads it).
        let name = unique_project("scheduled");
        let client = PhoenixClient::new(phoenix_url(), None, Duration::from_secs(30)).unwrap();
        let mut dataset = Dataset::from_file(Path::new(&ws.path("qa.jsonl"))).unwrap();
        dataset.name.clone_from(&name);
        let uploaded = client.ensure_dataset(&dataset).await.unwrap();

        let event = event();
        let (metrics, out) = metrics();
        let summary = scheduled::handle(&env(&ws, &name), &event, Some(&metrics))
            .await
            .unwrap();

        // Every example through the pipeline per model, every answer judged.
        assert_eq!(fake.calls(SONNET), 3);
        assert_eq!(fake.calls(HAIKU), 3);
        assert_eq!(fake.calls(JUDGE), 6);
        let experiment = format!("{name}-2026-12-07T04:00:00Z");
        assert_eq!(summary["experiment"], experiment.as_str(), "{summary}");
        assert_eq!(summary["models"].as_array().unwrap().len(), 2, "{summary}");

        // One EMF line per model and evaluator, with the mean the fake implies.
        let lines: Vec<Value> = out
            .text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4, "{lines:#?}");
        let mut seen = Vec::new();
        for line in &lines {
            let cw = &line["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(cw["Namespace"], "Scheduled");
            assert_eq!(
                cw["Dimensions"],
                serde_json::json!([[], ["Model", "Evaluator"]])
            );
            assert_eq!(cw["Metrics"][0]["Name"], METRIC_NAME);
            let score = line[METRIC_NAME].as_f64().unwrap();
            assert!((score - 2.0 / 3.0).abs() < 1e-9, "{line}");
            assert_eq!(line["Scored"], 3);
            assert_eq!(line["Dataset"], name.as_str());
            seen.push(format!(
                "{} {}",
                line["Model"].as_str().unwrap(),
                line["Evaluator"].as_str().unwrap()
            ));
        }
        seen.sort();
        assert_eq!(
            seen,
            [
                "claude-3-haiku contains",
                "claude-3-haiku judge:correctness",
                "claude-3-sonnet contains",
                "claude-3-sonnet judge:correctness"
            ]
        );

        // The experiments, on the dataset already in Phoenix (not a second upload).
        let datasets = phoenix_json_async(format!("/v1/datasets?name={name}")).await;
        assert_eq!(datasets["data"].as_array().unwrap().len(), 1, "{datasets}");
        let experiments =
            phoenix_json_async(format!("/v1/datasets/{}/experiments", uploaded.dataset_id)).await;
        let experiments = experiments["data"].as_array().unwrap().clone();
        assert_eq!(experiments.len(), 2, "{experiments:?}");
        for e in &experiments {
            let id = e["id"].as_str().unwrap();
            let runs = phoenix_json_async(format!("/v1/experiments/{id}/runs")).await;
            assert_eq!(runs["data"].as_array().unwrap().len(), 3, "{runs}");
            let full = phoenix_json_async(format!("/v1/experiments/{id}/json")).await;
            for row in full.as_array().unwrap() {
                assert_eq!(row["annotations"].as_array().unwrap().len(), 2, "{row}");
            }
        }
        let mut models: Vec<&str> = experiments
            .iter()
            .map(|e| e["metadata"]["model"].as_str().unwrap())
            .collect();
        models.sort_unstable();
        assert_eq!(models, ["claude-3-haiku", "claude-3-sonnet"]);

        // A finished run leaves no results file behind in the function's /tmp.
        let leftovers = std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|f| {
                f.file_name()
                    .to_string_lossy()
                    .contains(event["id"].as_str().unwrap())
            })
            .count();
        assert_eq!(leftovers, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_a_key_the_runs_are_the_scheduled_evaluation_service() {
        // As deployed: the master key is in Secrets Manager, not the config, and no
        // GATEWAY_EVAL_KEY is set (`gateway-admin evaluate` would refuse to run).
        let fake = FakeBedrock::start().await.unwrap();
        let ws = Workspace::new(&fake, QA);
        let config = std::fs::read_to_string(ws.dir.join("config.yaml")).unwrap();
        let at = config.find("general_settings:").unwrap();
        std::fs::write(ws.dir.join("config.yaml"), &config[..at]).unwrap();
        let name = unique_project("keyless");
        let client = PhoenixClient::new(phoenix_url(), None, Duration::from_secs(30)).unwrap();
        let mut dataset = Dataset::from_file(Path::new(&ws.path("qa.jsonl"))).unwrap();
        dataset.name.clone_from(&name);
        client.ensure_dataset(&dataset).await.unwrap();
        let mut pairs = pairs(&ws, &name);
        pairs.retain(|(k, _)| k != scheduled::EVALUATORS_VAR && k != scheduled::MODELS_VAR);
        pairs.push((scheduled::MODELS_VAR.into(), "claude-3-haiku".into()));
        let env = Environment::from_pairs(pairs);
        let (metrics, out) = metrics();
        let summary = scheduled::handle(&env, &event(), Some(&metrics))
            .await
            .unwrap();
        assert_eq!(fake.calls(HAIKU), 3);
        assert_eq!(fake.calls(SONNET), 0);
        // The default evaluator: `contains`.
        assert_eq!(out.text().lines().count(), 1, "{}", out.text());
        assert!(
            out.text().contains("\"Evaluator\":\"contains\""),
            "{}",
            out.text()
        );
        assert_eq!(summary["models"][0]["failed"], 0, "{summary}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_missing_dataset_or_another_event_is_a_clear_error_with_no_model_call_or_metric() {
        let fake = FakeBedrock::start().await.unwrap();
        let ws = Workspace::new(&fake, QA);
        let (metrics, out) = metrics();
        let missing = unique_project("no-such-dataset");
        let err = scheduled::handle(&env(&ws, &missing), &event(), Some(&metrics))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Phoenix has no dataset named") && err.contains(&missing),
            "{err}"
        );

        let lex: Value = serde_json::from_str(
            &std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/lex-first-turn.json"),
            )
            .unwrap(),
        )
        .unwrap();
        let err = scheduled::handle(&env(&ws, &missing), &lex, Some(&metrics))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an EventBridge scheduled event"), "{err}");

        let unset = Environment::from_pairs([("GATEWAY_CONFIG", ws.path("config.yaml"))]);
        let err = scheduled::handle(&unset, &event(), Some(&metrics))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(scheduled::DATASET_VAR), "{err}");

        assert_eq!(
            fake.calls(SONNET) + fake.calls(HAIKU) + fake.calls(JUDGE),
            0
        );
        assert_eq!(out.text(), "");
    }
}
