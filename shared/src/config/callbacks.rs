//! `litellm_settings.callbacks` (and `success_callback`): LiteLLM's names for integrations.
//! The gateway implements `arize_phoenix` (traces); other names get a start-up warning.

use serde_yaml_ng::Value;

use super::raw::RawConfig;

/// The callback names the gateway implements.
pub const SUPPORTED: &[&str] = &["arize_phoenix"];

/// The names in a callbacks value: a list of strings, or one string.
fn names(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(name)) => vec![name.trim().to_owned()],
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(|s| s.trim().to_owned())
            .collect(),
        _ => Vec::new(),
    }
}

/// The supported callbacks the config names, once each.
pub(super) fn supported(raw: &RawConfig) -> Vec<String> {
    let Some(l) = &raw.litellm_settings else {
        return Vec::new();
    };
    let mut out: Vec<String> = names(l.callbacks.as_ref())
        .into_iter()
        .chain(names(l.success_callback.as_ref()))
        .filter(|name| SUPPORTED.contains(&name.as_str()))
        .collect();
    out.dedup();
    out
}

/// The entries of a callbacks value the gateway does not implement (non-strings shown as YAML).
pub(super) fn unsupported(value: Option<&Value>) -> Vec<String> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(_) | Value::Sequence(_)) => {
            let mut out: Vec<String> = names(value)
                .into_iter()
                .filter(|name| !name.is_empty() && !SUPPORTED.contains(&name.as_str()))
                .collect();
            if let Some(Value::Sequence(items)) = value {
                out.extend(
                    items
                        .iter()
                        .filter(|v| v.as_str().is_none())
                        .map(|v| format!("{v:?}")),
                );
            }
            out
        }
        Some(other) => vec![format!("{other:?}")],
    }
}

#[cfg(test)]
mod tests {
    use crate::config::from_yaml_str;
    use crate::env::Environment;

    #[test]
    fn arize_phoenix_is_taken_and_others_warned() {
        let yaml = r#"
model_list:
  - model_name: m
    litellm_params: {model: bedrock/anthropic.claude-3-haiku-20240307-v1:0, aws_region_name: us-east-1}
litellm_settings:
  callbacks: ["arize_phoenix", "langfuse"]
"#;
        let config = from_yaml_str(yaml, &Environment::default()).unwrap();
        assert_eq!(config.callbacks, vec!["arize_phoenix"]);
        assert!(
            config
                .warnings
                .iter()
                .any(|w| w.contains("`langfuse` is not supported")),
            "{:?}",
            config.warnings
        );
        assert!(!config.warnings.iter().any(|w| w.contains("arize_phoenix")));
    }
}
