//! The results file: one JSON line per finished example (and one per experiment created in
//! Phoenix), appended and flushed as each finishes. A run started again with the same file
//! skips the examples it holds and reuses its Phoenix experiments, so an interrupted run
//! resumes where it stopped; a line cut short by the interruption is ignored.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::evaluators::Score;
use super::EvalError;

/// One example answered (or not) by one model, and its scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExampleResult {
    pub model: String,
    pub example_id: String,
    pub request_id: String,
    pub output: Option<String>,
    /// Why the gateway gave no answer (the error it would have answered a client with).
    pub error: Option<String>,
    pub latency_ms: u64,
    pub cost: Option<f64>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// The answer's trace (32 hex digits), as recorded in Phoenix.
    pub trace_id: Option<String>,
    pub scores: Vec<Score>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phoenix_run_id: Option<String>,
    pub started_at: String,
    pub finished_at: String,
}

/// A Phoenix experiment made for one model, remembered for a resumed run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentLine {
    pub model: String,
    pub dataset_id: String,
    pub experiment_id: String,
    pub project_name: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Line {
    Result(Box<ExampleResult>),
    Experiment(ExperimentLine),
}

/// The file, open for appending, and what it held when opened.
pub struct ResultsFile {
    path: PathBuf,
    file: Mutex<std::fs::File>,
    pub previous: Vec<ExampleResult>,
    pub experiments: HashMap<String, ExperimentLine>,
}

impl ResultsFile {
    /// Opens (or creates) `path` and reads the lines it already holds.
    pub fn open(path: &Path) -> Result<ResultsFile, EvalError> {
        let io = |e: std::io::Error| EvalError::Results(format!("{}: {e}", path.display()));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(e)),
        };
        let mut previous = Vec::new();
        let mut experiments = HashMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<Line>(line) {
                Ok(Line::Result(result)) => previous.push(*result),
                Ok(Line::Experiment(exp)) => {
                    experiments.insert(exp.model.clone(), exp);
                }
                // An interrupted write; the example runs again.
                Err(_) => {
                    tracing::warn!(path = %path.display(), "a cut-short line of the results file is ignored")
                }
            }
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        // A cut-short last line must not glue itself to the next one.
        if !text.is_empty() && !text.ends_with('\n') {
            file.write_all(b"\n").map_err(io)?;
        }
        Ok(ResultsFile {
            path: path.to_owned(),
            file: Mutex::new(file),
            previous,
            experiments,
        })
    }

    /// `(model, example id)` pairs already done.
    pub fn done(&self) -> HashSet<(String, String)> {
        self.previous
            .iter()
            .map(|r| (r.model.clone(), r.example_id.clone()))
            .collect()
    }

    pub fn append_result(&self, result: &ExampleResult) -> Result<(), EvalError> {
        self.append(&Line::Result(Box::new(result.clone())))
    }

    pub fn append_experiment(&self, exp: &ExperimentLine) -> Result<(), EvalError> {
        self.append(&Line::Experiment(exp.clone()))
    }

    fn append(&self, line: &Line) -> Result<(), EvalError> {
        let mut text = serde_json::to_string(line)
            .map_err(|e| EvalError::Results(format!("{}: {e}", self.path.display())))?;
        text.push('\n');
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        file.write_all(text.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| EvalError::Results(format!("{}: {e}", self.path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(model: &str, id: &str) -> ExampleResult {
        ExampleResult {
            model: model.into(),
            example_id: id.into(),
            request_id: "r".into(),
            output: Some("x".into()),
            error: None,
            latency_ms: 1,
            cost: None,
            prompt_tokens: 1,
            completion_tokens: 1,
            trace_id: None,
            scores: Vec::new(),
            phoenix_run_id: None,
            started_at: String::new(),
            finished_at: String::new(),
        }
    }

    #[test]
    fn a_reopened_file_knows_what_is_done_and_ignores_a_cut_line() {
        let dir = std::env::temp_dir().join(format!("eval-results-{}", uuid::Uuid::new_v4()));
        let path = dir.join("run.jsonl");
        let file = ResultsFile::open(&path).unwrap();
        file.append_result(&result("m", "a")).unwrap();
        file.append_experiment(&ExperimentLine {
            model: "m".into(),
            dataset_id: "d".into(),
            experiment_id: "e".into(),
            project_name: None,
        })
        .unwrap();
        drop(file);
        let mut raw = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        raw.write_all(b"{\"kind\":\"result\",\"model\":\"m\",\"exa")
            .unwrap();
        drop(raw);
        let file = ResultsFile::open(&path).unwrap();
        assert_eq!(file.previous.len(), 1);
        assert!(file.done().contains(&("m".to_owned(), "a".to_owned())));
        assert_eq!(file.experiments["m"].experiment_id, "e");
        file.append_result(&result("m", "b")).unwrap();
        drop(file);
        assert_eq!(ResultsFile::open(&path).unwrap().previous.len(), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
