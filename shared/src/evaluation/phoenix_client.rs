//! Phoenix's REST API for datasets and experiments (`/v1/datasets…`, `/v1/experiments…`,
//! `/v1/experiment_evaluations`), over the same hyper client the trace exporter uses.
//!
//! A dataset from disk is uploaded once under its name (an existing dataset of that name with
//! the same example ids is reused, one with other examples is an error rather than a silent
//! mix). Each model gets one experiment on it; each answer is an experiment run linked to the
//! answer's trace, each score an experiment evaluation of that run.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use opentelemetry_http::HttpClient;
use serde_json::{json, Map, Value};

use super::dataset::{example_from_row, Dataset, Example, PhoenixDataset};
use super::evaluators::Score;
use super::EvalError;
use crate::secret::Secret;

/// The metadata key that holds an uploaded example's own id.
const EXAMPLE_ID_KEY: &str = "example_id";

/// A client of one Phoenix.
#[derive(Clone)]
pub struct PhoenixClient {
    base: String,
    api_key: Option<Secret<String>>,
    client: Arc<dyn HttpClient>,
}

/// An experiment as created.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    pub id: String,
    /// The project Phoenix keeps the experiment's traces in.
    pub project_name: Option<String>,
}

/// One experiment run to record.
pub struct Run<'a> {
    pub example_id: &'a str,
    pub output: Option<&'a str>,
    pub error: Option<&'a str>,
    pub trace_id: Option<&'a str>,
    pub start_time: &'a str,
    pub end_time: &'a str,
}

impl PhoenixClient {
    /// `base` is Phoenix's root URL (`http://127.0.0.1:6006`); an OTLP endpoint's
    /// `/v1/traces` is cut off.
    pub fn new(
        base: &str,
        api_key: Option<Secret<String>>,
        timeout: Duration,
    ) -> Result<PhoenixClient, EvalError> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| EvalError::Phoenix(format!("TLS roots: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = opentelemetry_http::hyper::HyperClient::new(connector, timeout, None);
        let base = base.trim().trim_end_matches('/');
        let base = base.strip_suffix("/v1/traces").unwrap_or(base).to_owned();
        Ok(PhoenixClient {
            base,
            api_key,
            client: Arc::new(client),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, EvalError> {
        let url = format!("{}{path}", self.base);
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(&url)
            .header("accept", "application/json");
        if let Some(key) = &self.api_key {
            builder = builder
                .header("authorization", format!("Bearer {}", key.expose()))
                .header("api_key", key.expose().as_str());
        }
        let bytes = match body {
            Some(body) => {
                builder = builder.header("content-type", "application/json");
                Bytes::from(
                    serde_json::to_vec(body).map_err(|e| EvalError::Phoenix(e.to_string()))?,
                )
            }
            None => Bytes::new(),
        };
        let request = builder
            .body(bytes)
            .map_err(|e| EvalError::Phoenix(format!("{method} {path}: {e}")))?;
        let response = self
            .client
            .send_bytes(request)
            .await
            .map_err(|e| EvalError::Phoenix(format!("{method} {path}: {e}")))?;
        let status = response.status();
        let body = response.into_body();
        if !status.is_success() {
            let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
            return Err(EvalError::Phoenix(format!(
                "{method} {path}: {status}: {text}"
            )));
        }
        if body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&body)
            .map_err(|e| EvalError::Phoenix(format!("{method} {path}: {e}")))
    }

    /// The id of the dataset named `name`, if there is one.
    pub async fn dataset_id(&self, name: &str) -> Result<Option<String>, EvalError> {
        let found = self
            .call(
                Method::GET,
                &format!("/v1/datasets?name={}", encode(name)),
                None,
            )
            .await?;
        Ok(found["data"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| d["name"] == name)
            .and_then(|d| d["id"].as_str())
            .map(str::to_owned))
    }

    /// The examples of a dataset's latest version, as Phoenix holds them.
    pub async fn examples(
        &self,
        dataset_id: &str,
    ) -> Result<(Option<String>, Vec<Value>), EvalError> {
        let found = self
            .call(
                Method::GET,
                &format!("/v1/datasets/{dataset_id}/examples"),
                None,
            )
            .await?;
        let version = found["data"]["version_id"].as_str().map(str::to_owned);
        let examples = found["data"]["examples"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok((version, examples))
    }

    /// The dataset named `name`, read from Phoenix. An example's input is its `input` (or
    /// `question`, or its only field), its expected answer its output's `expected` (or
    /// `output`, `answer`, or only field).
    pub async fn load_dataset(&self, name: &str) -> Result<Dataset, EvalError> {
        let id = self
            .dataset_id(name)
            .await?
            .ok_or_else(|| EvalError::Dataset(format!("Phoenix has no dataset named {name:?}")))?;
        let (version_id, rows) = self.examples(&id).await?;
        let mut examples = Vec::new();
        let mut example_ids = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let phoenix_id = row["id"].as_str().unwrap_or_default().to_owned();
            let mut fields = Map::new();
            let input = &row["input"];
            fields.insert(
                "input".into(),
                only_or(input, &["input", "question", "query"]),
            );
            if let Some(ctx) = input.get("context") {
                fields.insert("context".into(), ctx.clone());
            }
            if let Some(sys) = input.get("system") {
                fields.insert("system".into(), sys.clone());
            }
            let expected = only_or(&row["output"], &["expected", "output", "answer"]);
            if !expected.is_null() {
                fields.insert("expected".into(), expected);
            }
            let own_id = row["metadata"][EXAMPLE_ID_KEY].as_str().map(str::to_owned);
            fields.insert(
                "id".into(),
                Value::from(own_id.unwrap_or_else(|| phoenix_id.clone())),
            );
            let example = example_from_row(fields, i + 1)
                .map_err(|e| EvalError::Dataset(format!("{name}: example {phoenix_id}: {e}")))?;
            examples.push(example);
            example_ids.push(phoenix_id);
        }
        if examples.is_empty() {
            return Err(EvalError::Dataset(format!(
                "the Phoenix dataset {name:?} has no examples"
            )));
        }
        Ok(Dataset {
            name: name.to_owned(),
            examples,
            phoenix: Some(PhoenixDataset {
                dataset_id: id,
                version_id,
                example_ids,
            }),
        })
    }

    /// Makes sure Phoenix holds `dataset` (uploading it under its name when it is not there)
    /// and returns Phoenix's ids for it.
    pub async fn ensure_dataset(&self, dataset: &Dataset) -> Result<PhoenixDataset, EvalError> {
        if let Some(known) = &dataset.phoenix {
            return Ok(known.clone());
        }
        if let Some(id) = self.dataset_id(&dataset.name).await? {
            let (version_id, rows) = self.examples(&id).await?;
            return match_examples(&dataset.name, &dataset.examples, id, version_id, &rows);
        }
        let inputs: Vec<Value> = dataset.examples.iter().map(example_input).collect();
        let outputs: Vec<Value> = dataset
            .examples
            .iter()
            .map(|e| json!({ "expected": e.expected }))
            .collect();
        let metadata: Vec<Value> = dataset
            .examples
            .iter()
            .map(|e| {
                let mut m = e.metadata.clone();
                m.insert(EXAMPLE_ID_KEY.into(), Value::from(e.id.clone()));
                Value::Object(m)
            })
            .collect();
        let body = json!({
            "action": "create",
            "name": dataset.name,
            "description": "uploaded by gateway-admin evaluate",
            "inputs": inputs,
            "outputs": outputs,
            "metadata": metadata,
        });
        let created = self
            .call(Method::POST, "/v1/datasets/upload?sync=true", Some(&body))
            .await?;
        let id = created["data"]["dataset_id"]
            .as_str()
            .ok_or_else(|| {
                EvalError::Phoenix(format!("dataset upload: no dataset_id in {created}"))
            })?
            .to_owned();
        let (version_id, rows) = self.examples(&id).await?;
        match_examples(&dataset.name, &dataset.examples, id, version_id, &rows)
    }

    /// A new experiment on `dataset` for `model`.
    pub async fn create_experiment(
        &self,
        dataset: &PhoenixDataset,
        name: &str,
        metadata: Value,
    ) -> Result<Experiment, EvalError> {
        let body = json!({
            "name": name,
            "description": "gateway-admin evaluate: answers through the gateway's own pipeline",
            "metadata": metadata,
            "version_id": dataset.version_id,
            "repetitions": 1,
        });
        let created = self
            .call(
                Method::POST,
                &format!("/v1/datasets/{}/experiments", dataset.dataset_id),
                Some(&body),
            )
            .await?;
        let data = &created["data"];
        Ok(Experiment {
            id: data["id"]
                .as_str()
                .ok_or_else(|| EvalError::Phoenix(format!("experiment: no id in {created}")))?
                .to_owned(),
            project_name: data["project_name"].as_str().map(str::to_owned),
        })
    }

    /// Records one run; its id.
    pub async fn create_run(
        &self,
        experiment_id: &str,
        run: &Run<'_>,
    ) -> Result<String, EvalError> {
        let body = json!({
            "dataset_example_id": run.example_id,
            "output": run.output.map(|o| json!({ "answer": o })).unwrap_or(Value::Null),
            "repetition_number": 1,
            "start_time": run.start_time,
            "end_time": run.end_time,
            "trace_id": run.trace_id,
            "error": run.error,
        });
        let created = self
            .call(
                Method::POST,
                &format!("/v1/experiments/{experiment_id}/runs"),
                Some(&body),
            )
            .await?;
        created["data"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| EvalError::Phoenix(format!("run: no id in {created}")))
    }

    /// Records one evaluation of a run.
    pub async fn create_evaluation(
        &self,
        run_id: &str,
        score: &Score,
        annotator_kind: &str,
        start_time: &str,
        end_time: &str,
    ) -> Result<(), EvalError> {
        let result = score
            .score
            .map(|s| json!({ "score": s, "label": score.label, "explanation": score.explanation }));
        let body = json!({
            "experiment_run_id": run_id,
            "name": score.evaluator,
            "annotator_kind": annotator_kind,
            "start_time": start_time,
            "end_time": end_time,
            "result": result,
            "error": score.error,
            "trace_id": score.trace_id,
        });
        self.call(Method::POST, "/v1/experiment_evaluations", Some(&body))
            .await
            .map(drop)
    }

    /// Annotates a span (the live evaluator's score on a request's trace).
    pub async fn annotate_span(
        &self,
        span_id: &str,
        name: &str,
        score: f64,
        explanation: Option<&str>,
    ) -> Result<(), EvalError> {
        let body = json!({ "data": [{
            "span_id": span_id,
            "name": name,
            "annotator_kind": "LLM",
            "result": { "score": score, "explanation": explanation },
        }]});
        self.call(Method::POST, "/v1/span_annotations?sync=true", Some(&body))
            .await
            .map(drop)
    }
}

fn example_input(e: &Example) -> Value {
    let mut input = Map::new();
    input.insert("input".into(), Value::from(e.input.clone()));
    if let Some(c) = &e.context {
        input.insert("context".into(), Value::from(c.clone()));
    }
    if let Some(s) = &e.system {
        input.insert("system".into(), Value::from(s.clone()));
    }
    Value::Object(input)
}

/// Phoenix's id of each example, found by the example id kept in its metadata.
fn match_examples(
    name: &str,
    examples: &[Example],
    dataset_id: String,
    version_id: Option<String>,
    rows: &[Value],
) -> Result<PhoenixDataset, EvalError> {
    let by_own_id = |own: &str| {
        rows.iter()
            .find(|r| r["metadata"][EXAMPLE_ID_KEY] == own)
            .and_then(|r| r["id"].as_str())
            .map(str::to_owned)
    };
    let example_ids: Option<Vec<String>> = examples.iter().map(|e| by_own_id(&e.id)).collect();
    match example_ids {
        Some(ids) if rows.len() == examples.len() => Ok(PhoenixDataset {
            dataset_id,
            version_id,
            example_ids: ids,
        }),
        _ => Err(EvalError::Dataset(format!(
            "Phoenix already has a dataset named {name:?} with other examples; \
             name this one differently (--dataset-name)"
        ))),
    }
}

/// `value[key]` for the first key present, else the only field of an object, else `value`.
fn only_or(value: &Value, keys: &[&str]) -> Value {
    if let Some(found) = keys.iter().find_map(|k| value.get(*k)) {
        return found.clone();
    }
    match value {
        Value::Object(map) if map.len() == 1 => map.values().next().cloned().unwrap_or(Value::Null),
        Value::Object(_) => Value::Null,
        other => other.clone(),
    }
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_encoded_and_fields_found() {
        assert_eq!(encode("qa sample/1"), "qa%20sample%2F1");
        assert_eq!(
            only_or(&json!({"question": "q"}), &["input", "question"]),
            "q"
        );
        assert_eq!(only_or(&json!({"x": "only"}), &["input"]), "only");
        assert_eq!(only_or(&json!({"x": 1, "y": 2}), &["input"]), Value::Null);
    }
}
