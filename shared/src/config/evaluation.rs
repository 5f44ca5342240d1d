//! Our own `evaluation` section (not LiteLLM's): the online evaluator, which judges a sample of
//! live answers after they are sent and records the score on the request's trace (a Phoenix
//! span annotation) and as a metric per model (`evaluation::online`).
//!
//! ```yaml
//! evaluation:
//!   online:
//!     judge_model: claude-3-haiku     # a model group of model_list (required)
//!     sample_rate: 0.05               # share of eligible answers judged (0 to 1, default 0.05)
//!     models: [claude-3-sonnet]       # only these model groups (default: all)
//!     teams: [support]                # only these teams (default: all)
//!     keys: [support-bot]             # only these key aliases or key ids (default: all)
//!     max_per_minute: 60              # judge calls per minute per instance (default 60)
//!     daily_budget_usd: 5             # judge spend per UTC day per instance (default 5)
//! ```
//!
//! The judge's calls run as the service principal `online-evaluator`, with no team: they are
//! recorded like any request but never spend a team's or key's budget; the rate and budget above
//! bound them instead.

use serde::Deserialize;

use super::error::ConfigError;
use super::lenient::{opt_f64, opt_u32};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEvaluation {
    pub online: Option<RawOnline>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOnline {
    pub judge_model: Option<String>,
    #[serde(default, deserialize_with = "opt_f64")]
    pub sample_rate: Option<f64>,
    pub models: Option<Vec<String>>,
    pub teams: Option<Vec<String>>,
    pub keys: Option<Vec<String>>,
    #[serde(default, deserialize_with = "opt_u32")]
    pub max_per_minute: Option<u32>,
    #[serde(default, deserialize_with = "opt_f64")]
    pub daily_budget_usd: Option<f64>,
}

/// The `evaluation` section, typed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvaluationSettings {
    pub online: Option<OnlineEvaluatorSettings>,
}

/// What the online evaluator judges, and its bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct OnlineEvaluatorSettings {
    pub judge_model: String,
    pub sample_rate: f64,
    /// Empty: every model group (and likewise for teams and keys).
    pub models: Vec<String>,
    pub teams: Vec<String>,
    pub keys: Vec<String>,
    pub max_per_minute: u32,
    pub daily_budget_usd: f64,
}

pub const DEFAULT_SAMPLE_RATE: f64 = 0.05;
pub const DEFAULT_MAX_PER_MINUTE: u32 = 60;
pub const DEFAULT_DAILY_BUDGET_USD: f64 = 5.0;

fn invalid(field: &str, message: String) -> ConfigError {
    ConfigError::Invalid {
        path: format!("evaluation.online.{field}"),
        message,
    }
}

/// Typed settings; model names are checked against `groups`.
pub(super) fn settings(
    raw: Option<&RawEvaluation>,
    groups: &[&str],
) -> Result<EvaluationSettings, ConfigError> {
    let Some(online) = raw.and_then(|r| r.online.as_ref()) else {
        return Ok(EvaluationSettings::default());
    };
    let judge_model = online.judge_model.clone().ok_or_else(|| {
        invalid(
            "judge_model",
            "the online evaluator needs a judge model group".into(),
        )
    })?;
    let sample_rate = online.sample_rate.unwrap_or(DEFAULT_SAMPLE_RATE);
    if !(0.0..=1.0).contains(&sample_rate) {
        return Err(invalid(
            "sample_rate",
            format!("{sample_rate} is not between 0 and 1"),
        ));
    }
    let daily_budget_usd = online.daily_budget_usd.unwrap_or(DEFAULT_DAILY_BUDGET_USD);
    if daily_budget_usd.is_nan() || daily_budget_usd < 0.0 {
        return Err(invalid("daily_budget_usd", "must be 0 or more".into()));
    }
    let models = online.models.clone().unwrap_or_default();
    for (field, name) in
        std::iter::once(("judge_model", &judge_model)).chain(models.iter().map(|m| ("models", m)))
    {
        if !groups.contains(&name.as_str()) {
            return Err(invalid(
                field,
                format!("{name:?} is not a model_name of model_list"),
            ));
        }
    }
    Ok(EvaluationSettings {
        online: Some(OnlineEvaluatorSettings {
            judge_model,
            sample_rate,
            models,
            teams: online.teams.clone().unwrap_or_default(),
            keys: online.keys.clone().unwrap_or_default(),
            max_per_minute: online.max_per_minute.unwrap_or(DEFAULT_MAX_PER_MINUTE),
            daily_budget_usd,
        }),
    })
}
