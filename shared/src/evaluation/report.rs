//! The summary of a run: per model, each evaluator's mean score with a 95% confidence
//! interval, the cost, latency percentiles and failures; printed as one table per model, and
//! checked against the command line's thresholds.
//!
//! The interval is Wilson's score interval when every score is 0 or 1 (pass/fail evaluators),
//! else the normal approximation (mean ± 1.96 · sd / √n), clamped to [0, 1].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::results::ExampleResult;

/// One evaluator's numbers for one model.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluatorSummary {
    pub evaluator: String,
    /// Answers it scored.
    pub scored: usize,
    /// Evaluations that produced no score (a malformed judge reply, a missing expected answer).
    pub failed: usize,
    pub mean: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
}

/// One model's numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSummary {
    pub model: String,
    pub examples: usize,
    /// Examples the gateway could not answer.
    pub failed: usize,
    /// US dollars of the answers (judge calls not included); `None` when no price was known.
    pub cost: Option<f64>,
    pub latency_p50_ms: Option<u64>,
    pub latency_p95_ms: Option<u64>,
    pub evaluators: Vec<EvaluatorSummary>,
}

/// A threshold from the command line: `EVALUATOR=MIN` (for every model).
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub evaluator: String,
    pub min: f64,
}

impl Threshold {
    pub fn parse(spec: &str) -> Option<Threshold> {
        let (evaluator, min) = spec.split_once('=')?;
        let min: f64 = min.trim().parse().ok()?;
        (0.0..=1.0).contains(&min).then(|| Threshold {
            evaluator: evaluator.trim().to_owned(),
            min,
        })
    }
}

/// Summaries per model, in `models`' order, over `results` (the results file's, so a resumed
/// run reports every example).
pub fn summarize(
    models: &[String],
    evaluators: &[String],
    results: &[ExampleResult],
) -> Vec<ModelSummary> {
    models
        .iter()
        .map(|model| {
            let mine: Vec<&ExampleResult> = results.iter().filter(|r| &r.model == model).collect();
            let mut latencies: Vec<u64> = mine
                .iter()
                .filter(|r| r.error.is_none())
                .map(|r| r.latency_ms)
                .collect();
            latencies.sort_unstable();
            let costs: Vec<f64> = mine.iter().filter_map(|r| r.cost).collect();
            let mut by_evaluator: BTreeMap<&str, (Vec<f64>, usize)> = BTreeMap::new();
            for score in mine.iter().flat_map(|r| &r.scores) {
                let entry = by_evaluator.entry(score.evaluator.as_str()).or_default();
                match score.score {
                    Some(s) => entry.0.push(s),
                    None => entry.1 += 1,
                }
            }
            ModelSummary {
                model: model.clone(),
                examples: mine.len(),
                failed: mine.iter().filter(|r| r.error.is_some()).count(),
                cost: (!costs.is_empty()).then(|| costs.iter().sum()),
                latency_p50_ms: percentile(&latencies, 0.50),
                latency_p95_ms: percentile(&latencies, 0.95),
                evaluators: evaluators
                    .iter()
                    .map(|name| {
                        let (scores, failed) =
                            by_evaluator.get(name.as_str()).cloned().unwrap_or_default();
                        let (mean, low, high) = interval(&scores);
                        EvaluatorSummary {
                            evaluator: name.clone(),
                            scored: scores.len(),
                            failed,
                            mean,
                            low,
                            high,
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Mean and 95% interval.
pub fn interval(scores: &[f64]) -> (Option<f64>, Option<f64>, Option<f64>) {
    if scores.is_empty() {
        return (None, None, None);
    }
    let n = scores.len() as f64;
    let mean = scores.iter().sum::<f64>() / n;
    let z = 1.96_f64;
    let binary = scores.iter().all(|s| *s == 0.0 || *s == 1.0);
    let (low, high) = if binary {
        let denom = 1.0 + z * z / n;
        let centre = (mean + z * z / (2.0 * n)) / denom;
        let half = z * ((mean * (1.0 - mean) / n) + z * z / (4.0 * n * n)).sqrt() / denom;
        (centre - half, centre + half)
    } else if scores.len() > 1 {
        let var = scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let half = z * (var / n).sqrt();
        (mean - half, mean + half)
    } else {
        (0.0, 1.0)
    };
    (
        Some(mean),
        Some(low.clamp(0.0, 1.0)),
        Some(high.clamp(0.0, 1.0)),
    )
}

/// The thresholds a summary falls under: `(model, evaluator, mean or None, min)`. An
/// evaluator with no score at all fails its threshold.
pub fn below(
    summaries: &[ModelSummary],
    thresholds: &[Threshold],
) -> Vec<(String, String, Option<f64>, f64)> {
    let mut out = Vec::new();
    for summary in summaries {
        for t in thresholds {
            let mean = summary
                .evaluators
                .iter()
                .find(|e| e.evaluator == t.evaluator)
                .and_then(|e| e.mean);
            if mean.is_none_or(|m| m < t.min) {
                out.push((summary.model.clone(), t.evaluator.clone(), mean, t.min));
            }
        }
    }
    out
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

/// The tables, one per model.
pub fn render(summaries: &[ModelSummary]) -> String {
    let mut out = String::new();
    for s in summaries {
        let _ = writeln!(
            out,
            "model {}: {} examples, {} failed, cost ${}, latency p50 {} ms, p95 {} ms",
            s.model,
            s.examples,
            s.failed,
            fmt_opt(s.cost, 6),
            s.latency_p50_ms
                .map_or_else(|| "-".into(), |v| v.to_string()),
            s.latency_p95_ms
                .map_or_else(|| "-".into(), |v| v.to_string()),
        );
        let _ = writeln!(
            out,
            "  {:<22} {:>6} {:>17} {:>7} {:>7}",
            "evaluator", "score", "95% interval", "scored", "failed"
        );
        for e in &s.evaluators {
            let interval = match (e.low, e.high) {
                (Some(l), Some(h)) => format!("[{l:.3}, {h:.3}]"),
                _ => "-".into(),
            };
            let _ = writeln!(
                out,
                "  {:<22} {:>6} {:>17} {:>7} {:>7}",
                e.evaluator,
                fmt_opt(e.mean, 3),
                interval,
                e.scored,
                e.failed
            );
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_percentiles_and_thresholds() {
        let (mean, low, high) = interval(&[1.0, 1.0, 0.0, 1.0]);
        assert_eq!(mean, Some(0.75));
        let (low, high) = (low.unwrap(), high.unwrap());
        assert!(
            low > 0.2 && low < 0.75 && high > 0.75 && high <= 1.0,
            "{low} {high}"
        );
        let (mean, low, high) = interval(&[0.5, 0.7]);
        assert!((mean.unwrap() - 0.6).abs() < 1e-9);
        assert!(low.unwrap() < 0.6 && high.unwrap() > 0.6);
        assert_eq!(interval(&[]), (None, None, None));
        assert_eq!(percentile(&[10, 20, 30, 40], 0.5), Some(20));
        assert_eq!(percentile(&[10, 20, 30, 40], 0.95), Some(40));
        assert_eq!(Threshold::parse("exact=0.8").unwrap().min, 0.8);
        assert!(Threshold::parse("exact=2").is_none() && Threshold::parse("exact").is_none());
        let summary = ModelSummary {
            model: "m".into(),
            examples: 1,
            failed: 0,
            cost: None,
            latency_p50_ms: None,
            latency_p95_ms: None,
            evaluators: vec![EvaluatorSummary {
                evaluator: "exact".into(),
                scored: 1,
                failed: 0,
                mean: Some(0.5),
                low: None,
                high: None,
            }],
        };
        let t = |e: &str, min| Threshold {
            evaluator: e.into(),
            min,
        };
        assert!(below(std::slice::from_ref(&summary), &[t("exact", 0.5)]).is_empty());
        assert_eq!(
            below(std::slice::from_ref(&summary), &[t("exact", 0.6)]).len(),
            1
        );
        assert_eq!(
            below(&[summary], &[t("json", 0.1)]).len(),
            1,
            "unscored fails"
        );
    }
}
