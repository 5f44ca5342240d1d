//! Startup warnings: unknown keys and LiteLLM settings the gateway does not apply (yet).
//!
//! Nothing is silently ignored: every such key is named by its full path. Warnings never contain
//! values, except a routing strategy name or a retry count, which are not secrets.

use serde_yaml_ng::Value;

use super::raw::{Extra, RawConfig};
use crate::secret::Secret;

/// LiteLLM `litellm_params` keys that exist for Bedrock but are not supported here.
const KNOWN_LITELLM_PARAMS: &[&str] = &[
    "api_base",
    "api_key",
    "aws_profile_name",
    "aws_role_name",
    "aws_session_name",
    "aws_web_identity_token",
    "aws_sts_endpoint",
    "max_retries",
    "top_p",
    "stop",
    "tags",
];

/// LiteLLM `general_settings` keys that are known but not supported here.
const KNOWN_GENERAL_SETTINGS: &[&str] = &[
    "alerting_threshold",
    "allowed_routes",
    "background_health_checks",
    "custom_auth",
    "database_connection_pool_limit",
    "enforce_user_param",
    "global_max_parallel_requests",
    "health_check_interval",
    "max_parallel_requests",
    "proxy_batch_write_at",
    "public_routes",
    "store_model_in_db",
];

/// Every warning for `raw`, section by section (unknown keys of a map in name order).
pub(super) fn collect(raw: &RawConfig) -> Vec<String> {
    let mut w = Warnings::default();
    w.unknown("", &raw.extra, &[]);
    for (index, deployment) in raw.model_list.iter().flatten().enumerate() {
        let path = format!("model_list[{index}]");
        let params = &deployment.litellm_params;
        w.unknown(&path, &deployment.extra, &[]);
        let params_path = format!("{path}.litellm_params");
        w.unknown(&params_path, &params.extra, KNOWN_LITELLM_PARAMS);
        if let Some(info) = &deployment.model_info {
            w.unknown(&format!("{path}.model_info"), &info.extra, &[]);
        }
        let defaults = [
            ("max_tokens", params.max_tokens.is_some()),
            ("temperature", params.temperature.is_some()),
        ];
        for (name, set) in defaults {
            if set {
                w.push(format!(
                    "{params_path}.{name} (a default request parameter) is not supported yet; ignored"
                ));
            }
        }
    }
    if let Some(router) = &raw.router_settings {
        w.unknown("router_settings", &router.extra, &[]);
        let aliases = router
            .model_group_alias
            .as_ref()
            .is_some_and(|m| !m.is_empty());
        w.unsupported("router_settings.model_group_alias", aliases);
    }
    if let Some(l) = &raw.litellm_settings {
        w.unknown("litellm_settings", &l.extra, &[]);
        w.unsupported("litellm_settings.set_verbose", l.set_verbose == Some(true));
        for (path, value) in [
            ("litellm_settings.callbacks", l.callbacks.as_ref()),
            (
                "litellm_settings.success_callback",
                l.success_callback.as_ref(),
            ),
        ] {
            for name in super::callbacks::unsupported(value) {
                w.push(format!("{path}: `{name}` is not supported; ignored"));
            }
        }
        w.unsupported(
            "litellm_settings.failure_callback",
            present(l.failure_callback.as_ref()),
        );
        w.unsupported("litellm_settings.json_logs", l.json_logs == Some(true));
    }
    if let Some(g) = &raw.general_settings {
        w.unknown("general_settings", &g.extra, KNOWN_GENERAL_SETTINGS);
        w.unsupported("general_settings.database_url", g.database_url.is_some());
        w.unsupported("general_settings.alerting", present(g.alerting.as_ref()));
        w.unsupported(
            "general_settings.disable_spend_logs",
            g.disable_spend_logs == Some(true),
        );
    }
    for (index, guardrail) in raw.guardrails.iter().flatten().enumerate() {
        // Unknown keys in a guardrail are errors (`settings::guardrails`), not warnings.
        let path = format!("guardrails[{index}]");
        let p = &guardrail.litellm_params;
        if p.fail_open == Some(true) {
            w.push(format!(
                "{path} ({:?}) fails open: when ApplyGuardrail fails, text passes unchecked",
                guardrail.guardrail_name
            ));
        }
    }
    w.0
}

/// LiteLLM only warns about a master key without the `sk-` prefix; so do we (without the key).
pub(super) fn master_key(source: &str, key: &Secret<String>) -> Option<String> {
    (!key.expose().starts_with("sk-")).then(|| {
        format!("{source} does not start with \"sk-\"; LiteLLM expects master keys to start with \"sk-\"")
    })
}

fn present(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Sequence(items)) => !items.is_empty(),
        Some(Value::Mapping(map)) => !map.is_empty(),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

#[derive(Default)]
struct Warnings(Vec<String>);

impl Warnings {
    fn push(&mut self, warning: String) {
        self.0.push(warning);
    }

    fn unknown(&mut self, path: &str, extra: &Extra, known_unsupported: &[&str]) {
        for key in extra.keys() {
            let full = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if known_unsupported.contains(&key.as_str()) {
                self.push(format!("{full} is not supported yet; ignored"));
            } else {
                self.push(format!("{full} is not a known setting; ignored"));
            }
        }
    }

    fn unsupported(&mut self, path: &str, set: bool) {
        if set {
            self.push(format!("{path} is not supported yet; ignored"));
        }
    }
}
