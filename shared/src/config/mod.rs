//! Configuration: a LiteLLM proxy `config.yaml`, loaded unchanged, plus our own `lex` section.
//!
//! Pipeline: parse YAML → resolve `os.environ/NAME` ([`resolve`]) → deserialize the serde
//! mirror ([`raw`], type errors carry the field path) → build typed settings ([`deployments`],
//! [`settings`]) → check cross-references ([`validate`]) → collect [`warnings`] for everything
//! unknown or not applied yet. Read once, at cold start.

mod cache;
mod callbacks;
mod deployments;
mod drop_params;
mod error;
mod evaluation;
mod fallbacks;
mod lenient;
mod lifecycle;
mod model;
mod raw;
mod resolve;
mod settings;
mod validate;
mod warnings;

#[cfg(test)]
mod fixture_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod rule_tests;

use std::path::Path;

use serde_yaml_ng::Value;

pub use cache::{CacheKind, CacheSettings};
pub use deployments::runtime_deployment;
pub use drop_params::{DropParams, GroupDrops};
pub use error::ConfigError;
pub use evaluation::{EvaluationSettings, OnlineEvaluatorSettings};
pub use fallbacks::FallbackKind;
pub use lifecycle::{today_utc, END_OF_LIFE_NOTICE_DAYS};
pub use model::{
    GatewayConfig, GuardrailMode, GuardrailSettings, LexSettings, ModelDeployment, Provider,
    RetryPolicy, RouterSettings, RoutingStrategy, StaticCredentials, UsageSettings, UsageSinkKind,
    DEFAULT_MAX_FALLBACKS, DEFAULT_STREAM_IDLE_TIMEOUT,
};
pub use settings::MASTER_KEY_VAR;

use crate::env::Environment;

/// The variable naming the config file.
pub const CONFIG_PATH_VAR: &str = "GATEWAY_CONFIG";

/// Load and validate the config file at `path`.
pub fn load(path: &Path, env: &Environment) -> Result<GatewayConfig, ConfigError> {
    let yaml = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    from_yaml_str(&yaml, env)
}

/// Parse and validate a config from YAML text.
pub fn from_yaml_str(yaml: &str, env: &Environment) -> Result<GatewayConfig, ConfigError> {
    let mut value: Value = serde_yaml_ng::from_str(yaml).map_err(|e| ConfigError::Yaml {
        path: String::new(),
        message: e.to_string(),
    })?;
    value.apply_merge().map_err(|e| ConfigError::Yaml {
        path: String::new(),
        message: e.to_string(),
    })?;
    let resolved = resolve::resolve(value, env)?;
    build(resolved.root, env).map_err(|e| e.scrubbed(&resolved.env_values))
}

impl GatewayConfig {
    /// Load the file named by `GATEWAY_CONFIG`; an error if the variable is unset or empty.
    pub fn from_environment(env: &Environment) -> Result<GatewayConfig, ConfigError> {
        match env.get(CONFIG_PATH_VAR).filter(|p| !p.trim().is_empty()) {
            Some(path) => load(Path::new(path), env),
            None => Err(ConfigError::MissingEnv {
                path: String::from("config file location"),
                var: String::from(CONFIG_PATH_VAR),
            }),
        }
    }
}

fn build(root: serde_yaml_ng::Mapping, env: &Environment) -> Result<GatewayConfig, ConfigError> {
    let raw: raw::RawConfig =
        serde_path_to_error::deserialize(Value::Mapping(root)).map_err(|e| {
            let path = e.path().to_string();
            ConfigError::Yaml {
                path: if path == "." {
                    String::from("(root)")
                } else {
                    path
                },
                message: e.into_inner().to_string(),
            }
        })?;
    let model_list = deployments::deployments(raw.model_list.as_deref().unwrap_or_default())?;
    let mut router = settings::router(&raw)?;
    router.drop_params = drop_params::settings(&raw);
    let guardrails = settings::guardrails(raw.guardrails.as_deref().unwrap_or_default())?;
    let lex = settings::lex(raw.lex.as_ref());
    let usage = settings::usage(raw.usage.as_ref())?;
    let master_key = settings::master_key(&raw, env)?;
    let litellm = raw.litellm_settings.as_ref();
    let (cache, cache_warnings) = cache::settings(
        litellm.and_then(|l| l.cache),
        litellm.and_then(|l| l.cache_params.as_ref()),
    )?;
    let mut config = GatewayConfig {
        model_list,
        router,
        guardrails,
        master_key: None,
        lex,
        usage,
        evaluation: Default::default(),
        callbacks: callbacks::supported(&raw),
        phoenix_projects: raw
            .telemetry
            .as_ref()
            .and_then(|t| t.phoenix_projects.clone())
            .unwrap_or_default(),
        cache,
        warnings: Vec::new(),
        access_groups: access_groups(&raw),
    };
    validate::references(&raw, &config.model_groups())?;
    validate::guardrail_names(&config)?;
    config.evaluation = evaluation::settings(raw.evaluation.as_ref(), &config.model_groups())?;
    config.warnings = warnings::collect(&raw);
    config.warnings.extend(cache_warnings);
    if let Some((key, source)) = master_key {
        config.warnings.extend(warnings::master_key(&source, &key));
        config.master_key = Some(key);
    }
    Ok(config)
}

/// `model_info.access_groups` of every deployment: group name to model groups, no repeats.
fn access_groups(raw: &raw::RawConfig) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut groups: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for deployment in raw.model_list.iter().flatten() {
        let names = deployment
            .model_info
            .as_ref()
            .and_then(|info| info.access_groups.as_ref());
        for name in names.into_iter().flatten() {
            let members = groups.entry(name.clone()).or_default();
            if !members.contains(&deployment.model_name) {
                members.push(deployment.model_name.clone());
            }
        }
    }
    groups
}
