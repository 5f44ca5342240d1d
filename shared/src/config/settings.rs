//! The non-model sections → typed settings: router (with `litellm_settings` fallbacks),
//! guardrails, our `lex` section, and the master key.

use std::collections::BTreeSet;

use serde_yaml_ng::Value;

use super::deployments::positive_seconds;
use super::deployments::static_credentials;
use super::error::ConfigError;
use super::model::{
    GuardrailMode, GuardrailSettings, LexSettings, RetryPolicy, RouterSettings, RoutingStrategy,
    UsageSettings, UsageSinkKind, DEFAULT_MAX_FALLBACKS, DEFAULT_STREAM_IDLE_TIMEOUT,
};
use super::raw::{RawConfig, RawFallbacks, RawGuardrail, RawLex, RawUsage};
use crate::env::Environment;
use crate::secret::Secret;

/// The variable LiteLLM reads the master key from when the config does not set one.
pub const MASTER_KEY_VAR: &str = "LITELLM_MASTER_KEY";

/// `router_settings`, falling back to `litellm_settings` for retries, timeout and fallbacks.
pub(super) fn router(raw: &RawConfig) -> Result<RouterSettings, ConfigError> {
    let router = raw.router_settings.as_ref();
    let litellm = raw.litellm_settings.as_ref();
    let routing_strategy = match router.and_then(|r| r.routing_strategy.as_deref()) {
        None => RoutingStrategy::default(),
        Some(name) => RoutingStrategy::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = RoutingStrategy::ALL.iter().map(|s| s.as_str()).collect();
            ConfigError::invalid(
                "router_settings.routing_strategy",
                format!(
                    "unknown routing strategy {name:?}; expected one of {}",
                    known.join(", ")
                ),
            )
        })?,
    };
    let timeout = match router.and_then(|r| r.timeout) {
        Some(t) => positive_seconds("router_settings.timeout", Some(t))?,
        None => positive_seconds(
            "litellm_settings.request_timeout",
            litellm.and_then(|l| l.request_timeout),
        )?,
    };
    let cooldown_time = match router.and_then(|r| r.cooldown_time) {
        Some(t) if t.is_finite() && t >= 0.0 => std::time::Duration::try_from_secs_f64(t).ok(),
        Some(t) => {
            return Err(ConfigError::invalid(
                "router_settings.cooldown_time",
                format!("must be a non-negative number of seconds, got {t}"),
            ))
        }
        None => None,
    };
    let stream_timeout = positive_seconds(
        "router_settings.stream_timeout",
        router.and_then(|r| r.stream_timeout),
    )?;
    let stream_idle_timeout = positive_seconds(
        "router_settings.stream_idle_timeout",
        router.and_then(|r| r.stream_idle_timeout),
    )?
    .unwrap_or(DEFAULT_STREAM_IDLE_TIMEOUT);
    let pick = |r: Option<&RawFallbacks>, l: Option<&RawFallbacks>| flatten(r.or(l));
    Ok(RouterSettings {
        routing_strategy,
        num_retries: router
            .and_then(|r| r.num_retries)
            .or(litellm.and_then(|l| l.num_retries))
            .unwrap_or(0),
        timeout,
        stream_timeout,
        stream_idle_timeout,
        fallbacks: pick(
            router.and_then(|r| r.fallbacks.as_ref()),
            litellm.and_then(|l| l.fallbacks.as_ref()),
        ),
        context_window_fallbacks: pick(
            router.and_then(|r| r.context_window_fallbacks.as_ref()),
            litellm.and_then(|l| l.context_window_fallbacks.as_ref()),
        ),
        content_policy_fallbacks: pick(
            router.and_then(|r| r.content_policy_fallbacks.as_ref()),
            litellm.and_then(|l| l.content_policy_fallbacks.as_ref()),
        ),
        allowed_fails: router.and_then(|r| r.allowed_fails),
        cooldown_time,
        retry_after: match router.and_then(|r| r.retry_after) {
            Some(t) if t.is_finite() && t >= 0.0 => std::time::Duration::try_from_secs_f64(t).ok(),
            Some(t) => {
                return Err(ConfigError::invalid(
                    "router_settings.retry_after",
                    format!("must be a non-negative number of seconds, got {t}"),
                ))
            }
            None => None,
        },
        retry_policy: retry_policy(router.and_then(|r| r.retry_policy.as_ref()))?,
        default_fallbacks: router
            .and_then(|r| r.default_fallbacks.clone())
            .unwrap_or_default(),
        max_fallbacks: router
            .and_then(|r| r.max_fallbacks)
            .unwrap_or(DEFAULT_MAX_FALLBACKS),
        drop_params: Default::default(),
    })
}

/// `retry_policy`, by LiteLLM's key names; an unknown key is an error naming the known ones.
fn retry_policy(
    raw: Option<&std::collections::BTreeMap<String, u32>>,
) -> Result<RetryPolicy, ConfigError> {
    let mut policy = RetryPolicy::default();
    for (key, &n) in raw.into_iter().flatten() {
        let slot = match key.as_str() {
            "BadRequestErrorRetries" => &mut policy.bad_request,
            "AuthenticationErrorRetries" => &mut policy.authentication,
            "TimeoutErrorRetries" => &mut policy.timeout,
            "RateLimitErrorRetries" => &mut policy.rate_limit,
            "ContentPolicyViolationErrorRetries" => &mut policy.content_policy,
            "InternalServerErrorRetries" => &mut policy.internal_server,
            other => {
                return Err(ConfigError::invalid(
                    format!("router_settings.retry_policy.{other}"),
                    format!(
                        "unknown key; expected one of {}",
                        RetryPolicy::KEYS.join(", ")
                    ),
                ))
            }
        };
        *slot = Some(n);
    }
    Ok(policy)
}

fn flatten(raw: Option<&RawFallbacks>) -> Vec<(String, Vec<String>)> {
    raw.into_iter()
        .flatten()
        .flat_map(|map| map.iter().map(|(k, v)| (k.clone(), v.clone())))
        .collect()
}

/// The `guardrails` list; only Bedrock guardrails are accepted.
pub(super) fn guardrails(raw: &[RawGuardrail]) -> Result<Vec<GuardrailSettings>, ConfigError> {
    let mut names = BTreeSet::new();
    raw.iter()
        .enumerate()
        .map(|(index, g)| {
            let path = format!("guardrails[{index}]");
            if g.guardrail_name.trim().is_empty() || !names.insert(g.guardrail_name.as_str()) {
                return Err(ConfigError::invalid(
                    format!("{path}.guardrail_name"),
                    format!("must be non-empty and unique, got {:?}", g.guardrail_name),
                ));
            }
            let p = &g.litellm_params;
            // A misspelt safety setting must not be silently ignored.
            for (at, extra) in [
                (path.clone(), &g.extra),
                (format!("{path}.litellm_params"), &p.extra),
            ] {
                if let Some(key) = extra.keys().next() {
                    return Err(ConfigError::invalid(
                        format!("{at}.{key}"),
                        "unknown guardrail setting",
                    ));
                }
            }
            if p.guardrail != "bedrock" {
                return Err(ConfigError::invalid(
                    format!("{path}.litellm_params.guardrail"),
                    format!(
                        "guardrail {:?} is not supported; only bedrock is",
                        p.guardrail
                    ),
                ));
            }
            let required = |name: &str, value: &Option<String>| match value {
                Some(v) if !v.trim().is_empty() => Ok(v.clone()),
                _ => Err(ConfigError::invalid(
                    format!("{path}.litellm_params.{name}"),
                    "is required for a bedrock guardrail",
                )),
            };
            Ok(GuardrailSettings {
                name: g.guardrail_name.clone(),
                guardrail_id: required("guardrailIdentifier", &p.guardrail_identifier)?,
                version: required("guardrailVersion", &p.guardrail_version)?,
                modes: modes(&format!("{path}.litellm_params.mode"), p.mode.as_ref())?,
                default_on: p.default_on.unwrap_or(false),
                mask_request_content: p.mask_request_content.unwrap_or(false),
                mask_response_content: p.mask_response_content.unwrap_or(false),
                disable_exception_on_block: p.disable_exception_on_block.unwrap_or(false),
                fail_open: p.fail_open.unwrap_or(false),
                region: p.aws_region_name.clone(),
                endpoint_url: p.aws_bedrock_runtime_endpoint.clone(),
                credentials: static_credentials(
                    &format!("{path}.litellm_params"),
                    &p.aws_access_key_id,
                    &p.aws_secret_access_key,
                    &p.aws_session_token,
                )?,
            })
        })
        .collect()
}

fn modes(path: &str, raw: Option<&Value>) -> Result<Vec<GuardrailMode>, ConfigError> {
    let expected = "expected pre_call, post_call or during_call (or a list of them)";
    let parse = |path: &str, value: &Value| {
        value
            .as_str()
            .and_then(GuardrailMode::from_name)
            .ok_or_else(|| ConfigError::invalid(path, expected))
    };
    match raw {
        Some(Value::Sequence(items)) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, item)| parse(&format!("{path}[{i}]"), item))
            .collect(),
        Some(value @ Value::String(_)) => Ok(vec![parse(path, value)?]),
        _ => Err(ConfigError::invalid(path, expected)),
    }
}

/// Our `lex` section, with defaults.
pub(super) fn lex(raw: Option<&RawLex>) -> LexSettings {
    let defaults = LexSettings::default();
    let Some(raw) = raw else {
        return defaults;
    };
    LexSettings {
        model: raw.model.clone(),
        default_team: raw.default_team.clone(),
        teams: raw.teams.clone().unwrap_or_default(),
        max_history_turns: raw.max_history_turns.unwrap_or(defaults.max_history_turns),
        max_history_bytes: raw.max_history_bytes.unwrap_or(defaults.max_history_bytes),
    }
}

/// The master key and where it came from (for messages): the config, else `LITELLM_MASTER_KEY`.
pub(super) fn master_key(
    raw: &RawConfig,
    env: &Environment,
) -> Result<Option<(Secret<String>, String)>, ConfigError> {
    let from_file = raw
        .general_settings
        .as_ref()
        .and_then(|g| g.master_key.clone())
        .map(|key| (key, String::from("general_settings.master_key")));
    let found = from_file.or_else(|| {
        env.get(MASTER_KEY_VAR).map(|key| {
            (
                Secret::new(key.to_owned()),
                format!("{MASTER_KEY_VAR} (environment)"),
            )
        })
    });
    match found {
        Some((key, source)) if key.expose().trim().is_empty() => {
            Err(ConfigError::invalid(source, "is set but empty"))
        }
        other => Ok(other),
    }
}

/// Our `usage` section, with defaults.
pub(super) fn usage(raw: Option<&RawUsage>) -> Result<UsageSettings, ConfigError> {
    let defaults = UsageSettings::default();
    let Some(raw) = raw else {
        return Ok(defaults);
    };
    let path = raw.path.as_deref().filter(|p| !p.trim().is_empty());
    let sink = match (raw.sink.as_deref().unwrap_or("log"), path) {
        ("log", _) => UsageSinkKind::Log,
        ("memory", _) => UsageSinkKind::Memory,
        ("file", Some(path)) => UsageSinkKind::File(path.into()),
        ("file", None) => {
            return Err(ConfigError::invalid(
                "usage.path",
                "is required for `sink: file`",
            ))
        }
        (other, _) => {
            return Err(ConfigError::invalid(
                "usage.sink",
                format!("expected log, memory or file, got {other:?}"),
            ))
        }
    };
    let queue_capacity = match raw.queue_capacity {
        Some(0) => {
            return Err(ConfigError::invalid(
                "usage.queue_capacity",
                "must be at least 1",
            ))
        }
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None => defaults.queue_capacity,
    };
    let retention_days = match raw.retention_days {
        Some(days) if (1..=UsageSettings::MAX_RETENTION_DAYS).contains(&days) => days,
        Some(days) => {
            return Err(ConfigError::invalid(
                "usage.retention_days",
                format!(
                    "must be between 1 and {}, got {days}",
                    UsageSettings::MAX_RETENTION_DAYS
                ),
            ))
        }
        None => defaults.retention_days,
    };
    let write_attempts = match raw.write_attempts {
        Some(n) if (1..=UsageSettings::MAX_WRITE_ATTEMPTS).contains(&n) => n,
        Some(n) => {
            return Err(ConfigError::invalid(
                "usage.write_attempts",
                format!(
                    "must be between 1 and {}, got {n}",
                    UsageSettings::MAX_WRITE_ATTEMPTS
                ),
            ))
        }
        None => defaults.write_attempts,
    };
    let deadline_margin = match raw.deadline_margin_ms.map(std::time::Duration::from_millis) {
        Some(margin) if margin <= UsageSettings::MAX_DEADLINE_MARGIN => margin,
        Some(_) => {
            return Err(ConfigError::invalid(
                "usage.deadline_margin_ms",
                format!(
                    "must be at most {} ms",
                    UsageSettings::MAX_DEADLINE_MARGIN.as_millis()
                ),
            ))
        }
        None => defaults.deadline_margin,
    };
    Ok(UsageSettings {
        deadline_margin,
        sink,
        queue_capacity,
        simulated_latency: simulated_latency(raw.simulated_latency_ms)?,
        retention_days,
        write_attempts,
        keep_records: raw.keep_records.map_or(defaults.keep_records, |n| {
            usize::try_from(n).unwrap_or(usize::MAX)
        }),
    })
}

/// `usage.simulated_latency_ms`, a benchmark knob: refused by builds without the `bench-knobs`
/// feature, so a deployed gateway can never be slowed by config.
fn simulated_latency(ms: Option<u64>) -> Result<Option<std::time::Duration>, ConfigError> {
    match ms {
        Some(_) if !cfg!(feature = "bench-knobs") => Err(ConfigError::invalid(
            "usage.simulated_latency_ms",
            "is a benchmark knob: this build has no `bench-knobs` feature",
        )),
        ms => Ok(ms.map(std::time::Duration::from_millis)),
    }
}
