//! Cross-references: every model group named by fallbacks or by `lex.model` must exist, and
//! every guardrail a deployment names must be in the `guardrails` list.

use super::error::ConfigError;
use super::model::GatewayConfig;
use super::raw::{RawConfig, RawFallbacks};

/// The wildcard LiteLLM accepts as a fallback source ("any group").
const ANY_GROUP: &str = "*";

/// Every `model_list[i].litellm_params.guardrails` name is a configured guardrail.
pub(super) fn guardrail_names(config: &GatewayConfig) -> Result<(), ConfigError> {
    for (index, deployment) in config.model_list.iter().enumerate() {
        for (at, name) in deployment.guardrails.iter().enumerate() {
            if !config.guardrails.iter().any(|g| g.name == *name) {
                return Err(ConfigError::invalid(
                    format!("model_list[{index}].litellm_params.guardrails[{at}]"),
                    format!("no guardrail named {name:?} in the guardrails list"),
                ));
            }
        }
    }
    Ok(())
}

/// Check every reference to a model group in `raw` against `groups`.
pub(super) fn references(raw: &RawConfig, groups: &[&str]) -> Result<(), ConfigError> {
    if let Some(router) = &raw.router_settings {
        fallbacks(
            "router_settings.fallbacks",
            router.fallbacks.as_ref(),
            groups,
        )?;
        fallbacks(
            "router_settings.context_window_fallbacks",
            router.context_window_fallbacks.as_ref(),
            groups,
        )?;
        fallbacks(
            "router_settings.content_policy_fallbacks",
            router.content_policy_fallbacks.as_ref(),
            groups,
        )?;
    }
    let defaults = raw
        .router_settings
        .as_ref()
        .and_then(|r| r.default_fallbacks.as_ref());
    for (index, target) in defaults.into_iter().flatten().enumerate() {
        group(
            &format!("router_settings.default_fallbacks[{index}]"),
            target,
            groups,
        )?;
    }
    if let Some(litellm) = &raw.litellm_settings {
        fallbacks(
            "litellm_settings.fallbacks",
            litellm.fallbacks.as_ref(),
            groups,
        )?;
        fallbacks(
            "litellm_settings.context_window_fallbacks",
            litellm.context_window_fallbacks.as_ref(),
            groups,
        )?;
        fallbacks(
            "litellm_settings.content_policy_fallbacks",
            litellm.content_policy_fallbacks.as_ref(),
            groups,
        )?;
    }
    if let Some(model) = raw.lex.as_ref().and_then(|lex| lex.model.as_deref()) {
        group("lex.model", model, groups)?;
    }
    Ok(())
}

fn fallbacks(path: &str, raw: Option<&RawFallbacks>, groups: &[&str]) -> Result<(), ConfigError> {
    for (index, map) in raw.into_iter().flatten().enumerate() {
        for (source, targets) in map {
            let path = format!("{path}[{index}].{source}");
            if source != ANY_GROUP {
                group(&path, source, groups)?;
            }
            for (t, target) in targets.iter().enumerate() {
                group(&format!("{path}[{t}]"), target, groups)?;
            }
        }
    }
    Ok(())
}

fn group(path: &str, name: &str, groups: &[&str]) -> Result<(), ConfigError> {
    if groups.contains(&name) {
        return Ok(());
    }
    Err(ConfigError::invalid(
        path,
        format!(
            "model group {name:?} is not a model_name in model_list (known: {})",
            groups.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(yaml: &str) -> RawConfig {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn accepts_known_groups_and_wildcard() {
        let cfg = raw("router_settings:\n  fallbacks: [{a: [b]}, {'*': [a]}]\nlex:\n  model: b\n");
        references(&cfg, &["a", "b"]).unwrap();
    }

    #[test]
    fn rejects_unknown_fallback_target() {
        let cfg = raw("litellm_settings:\n  fallbacks: [{a: [b, c]}]\n");
        let err = references(&cfg, &["a", "b"]).unwrap_err().to_string();
        assert!(
            err.starts_with("litellm_settings.fallbacks[0].a[1]: model group \"c\""),
            "{err}"
        );
    }

    #[test]
    fn rejects_unknown_lex_model() {
        let err = references(&raw("lex:\n  model: zz\n"), &["a"])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("lex.model: model group \"zz\""), "{err}");
    }
}
