//! `model_list` entries → [`ModelDeployment`]s: provider prefix, credentials, costs, limits.

use std::collections::BTreeSet;
use std::time::Duration;

use super::error::ConfigError;
use super::model::{ModelDeployment, Provider, StaticCredentials};
use super::raw::{RawDeployment, RawLitellmParams, RawModelInfo};
use crate::secret::Secret;

/// Build every deployment, in file order; `model_list` must not be empty.
pub(super) fn deployments(raw: &[RawDeployment]) -> Result<Vec<ModelDeployment>, ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError::invalid(
            "model_list",
            "must list at least one model (model_name + litellm_params.model)",
        ));
    }
    let mut ids = BTreeSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (index, entry) in raw.iter().enumerate() {
        let deployment = deployment(index, entry)?;
        if !ids.insert(deployment.deployment_id.clone()) {
            return Err(ConfigError::invalid(
                format!("model_list[{index}].model_info.id"),
                format!("duplicate deployment id {:?}", deployment.deployment_id),
            ));
        }
        out.push(deployment);
    }
    Ok(out)
}

fn deployment(index: usize, raw: &RawDeployment) -> Result<ModelDeployment, ConfigError> {
    let path = format!("model_list[{index}]");
    if raw.model_name.trim().is_empty() {
        return Err(ConfigError::invalid(
            format!("{path}.model_name"),
            "must not be empty",
        ));
    }
    let params = &raw.litellm_params;
    let info_default = RawModelInfo::default();
    let info = raw.model_info.as_ref().unwrap_or(&info_default);
    let (provider, model_id) = parse_model(&format!("{path}.litellm_params.model"), &params.model)?;
    let deployment_id = match &info.id {
        Some(id) if id.trim().is_empty() => {
            return Err(ConfigError::invalid(
                format!("{path}.model_info.id"),
                "must not be empty",
            ))
        }
        Some(id) => id.clone(),
        None => format!("{}-{index}", raw.model_name),
    };
    let cost = |name: &str, primary: Option<f64>, secondary: Option<f64>| {
        non_negative(&format!("{path}.litellm_params.{name}"), primary)?;
        non_negative(&format!("{path}.model_info.{name}"), secondary)?;
        Ok::<_, ConfigError>(primary.or(secondary))
    };
    let embedding = info.mode.as_deref() == Some("embedding") || is_embedding_model(&model_id);
    Ok(ModelDeployment {
        model_name: raw.model_name.clone(),
        deployment_id,
        provider,
        model_id,
        region: params.aws_region_name.clone(),
        endpoint_url: params.aws_bedrock_runtime_endpoint.clone(),
        credentials: credentials(&format!("{path}.litellm_params"), params)?,
        input_cost_per_token: cost(
            "input_cost_per_token",
            params.input_cost_per_token,
            info.input_cost_per_token,
        )?,
        output_cost_per_token: cost(
            "output_cost_per_token",
            params.output_cost_per_token,
            info.output_cost_per_token,
        )?,
        cache_read_input_token_cost: cost(
            "cache_read_input_token_cost",
            params.cache_read_input_token_cost,
            info.cache_read_input_token_cost,
        )?,
        cache_creation_input_token_cost: cost(
            "cache_creation_input_token_cost",
            params.cache_creation_input_token_cost,
            info.cache_creation_input_token_cost,
        )?,
        rpm: params.rpm,
        tpm: params.tpm,
        weight: match params.weight {
            Some(w) if !(w.is_finite() && w > 0.0) => {
                return Err(ConfigError::invalid(
                    format!("{path}.litellm_params.weight"),
                    format!("must be a positive number, got {w}"),
                ))
            }
            w => w,
        },
        timeout: positive_seconds(&format!("{path}.litellm_params.timeout"), params.timeout)?,
        stream_timeout: positive_seconds(
            &format!("{path}.litellm_params.stream_timeout"),
            params.stream_timeout,
        )?,
        stream_idle_timeout: positive_seconds(
            &format!("{path}.litellm_params.stream_idle_timeout"),
            params.stream_idle_timeout,
        )?,
        max_output_tokens: info.max_output_tokens.or(info.max_tokens),
        max_input_tokens: info.max_input_tokens,
        guardrails: params.guardrails.clone().unwrap_or_default(),
        embedding,
    })
}

/// Bedrock's text embedding models (Titan Text Embeddings, Cohere Embed), which answer
/// InvokeModel embeddings and not Converse, whatever `model_info.mode` says.
pub fn is_embedding_model(model_id: &str) -> bool {
    model_id.contains("titan-embed") || model_id.contains("cohere.embed")
}

/// `bedrock/<id>` or `bedrock/converse/<id>` → (Bedrock, id); anything else is unsupported.
pub(super) fn parse_model(path: &str, model: &str) -> Result<(Provider, String), ConfigError> {
    let expected = format!("expected bedrock/<model id>, got {model:?}");
    let Some((provider, rest)) = model.split_once('/') else {
        return Err(ConfigError::invalid(
            path,
            format!("{expected} (no provider prefix)"),
        ));
    };
    if provider != "bedrock" {
        return Err(ConfigError::invalid(
            path,
            format!("{expected} (provider {provider:?} is not supported; only bedrock is)"),
        ));
    }
    let id = rest.strip_prefix("converse/").unwrap_or(rest);
    // Model ids have no '/', except ARNs; `bedrock/invoke/...` and other LiteLLM routes do.
    if let Some((route, _)) = id.split_once('/').filter(|_| !id.starts_with("arn:")) {
        return Err(ConfigError::invalid(
            path,
            format!(
                "{expected} (the bedrock/{route}/ route is not supported; use bedrock/<model id> \
                 or bedrock/converse/<model id>)"
            ),
        ));
    }
    if id.trim().is_empty() {
        return Err(ConfigError::invalid(
            path,
            format!("{expected} (empty model id)"),
        ));
    }
    Ok((Provider::Bedrock, id.to_owned()))
}

fn credentials(
    path: &str,
    params: &RawLitellmParams,
) -> Result<Option<StaticCredentials>, ConfigError> {
    static_credentials(
        path,
        &params.aws_access_key_id,
        &params.aws_secret_access_key,
        &params.aws_session_token,
    )
}

/// `aws_access_key_id`, `aws_secret_access_key` and `aws_session_token`, all or none.
pub(super) fn static_credentials(
    path: &str,
    access_key_id: &Option<String>,
    secret_access_key: &Option<Secret<String>>,
    session_token: &Option<Secret<String>>,
) -> Result<Option<StaticCredentials>, ConfigError> {
    match (access_key_id, secret_access_key) {
        (Some(id), Some(secret)) => {
            if id.trim().is_empty() || secret.expose().trim().is_empty() {
                return Err(ConfigError::invalid(
                    path,
                    "aws_access_key_id and aws_secret_access_key must not be empty",
                ));
            }
            Ok(Some(StaticCredentials {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
                session_token: session_token.clone(),
            }))
        }
        (None, None) if session_token.is_some() => Err(ConfigError::invalid(
            path,
            "aws_session_token needs aws_access_key_id and aws_secret_access_key",
        )),
        (None, None) => Ok(None),
        _ => Err(ConfigError::invalid(
            path,
            "aws_access_key_id and aws_secret_access_key must be set together",
        )),
    }
}

/// A cost: finite and not negative.
fn non_negative(path: &str, value: Option<f64>) -> Result<(), ConfigError> {
    match value {
        Some(v) if !v.is_finite() || v < 0.0 => Err(ConfigError::invalid(
            path,
            format!("must be a non-negative number, got {v}"),
        )),
        _ => Ok(()),
    }
}

/// A timeout in seconds: finite and greater than zero.
pub(super) fn positive_seconds(
    path: &str,
    value: Option<f64>,
) -> Result<Option<Duration>, ConfigError> {
    let Some(seconds) = value else {
        return Ok(None);
    };
    if seconds.is_nan() || seconds <= 0.0 {
        return Err(ConfigError::invalid(
            path,
            format!("must be greater than 0 seconds, got {seconds}"),
        ));
    }
    Duration::try_from_secs_f64(seconds)
        .map(Some)
        .map_err(|_| ConfigError::invalid(path, format!("{seconds} seconds is out of range")))
}

/// One `model_list` entry given at run time (LiteLLM's `/model/new` body, stored in the
/// table): read as the config reads its entries, `os.environ/` references not resolved.
pub fn runtime_deployment(entry: &serde_json::Value) -> Result<ModelDeployment, ConfigError> {
    let raw: RawDeployment = serde_json::from_value(entry.clone())
        .map_err(|err| ConfigError::invalid("model", err.to_string()))?;
    deployment(0, &raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bedrock_prefixes() {
        let (p, id) = parse_model("m", "bedrock/anthropic.claude-3-haiku-20240307-v1:0").unwrap();
        assert_eq!(p, Provider::Bedrock);
        assert_eq!(id, "anthropic.claude-3-haiku-20240307-v1:0");
        let (_, id) = parse_model("m", "bedrock/converse/us.amazon.nova-lite-v1:0").unwrap();
        assert_eq!(id, "us.amazon.nova-lite-v1:0");
        let arn = "bedrock/arn:aws:bedrock:us-east-1:123:inference-profile/us.x";
        assert_eq!(parse_model("m", arn).unwrap().1, &arn[8..]);
    }

    #[test]
    fn rejects_other_providers_and_routes() {
        let err = parse_model("model_list[1].litellm_params.model", "openai/gpt-4").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with(
            "model_list[1].litellm_params.model: expected bedrock/<model id>, got \"openai/gpt-4\""
        ));
        assert!(
            text.contains("provider \"openai\" is not supported"),
            "{text}"
        );
        assert!(parse_model("m", "gpt-4").is_err());
        assert!(parse_model("m", "bedrock/").is_err());
        assert!(parse_model("m", "bedrock/converse/").is_err());
        assert!(parse_model("m", "bedrock/invoke/anthropic.claude").is_err());
    }

    #[test]
    fn seconds_must_be_positive() {
        assert_eq!(
            positive_seconds("t", Some(1.5)).unwrap(),
            Some(Duration::from_millis(1500))
        );
        assert!(positive_seconds("t", Some(0.0)).is_err());
        assert!(positive_seconds("t", Some(-1.0)).is_err());
        assert!(positive_seconds("t", Some(f64::NAN)).is_err());
        assert!(positive_seconds("t", Some(1e300)).is_err());
        assert_eq!(positive_seconds("t", None).unwrap(), None);
    }
}
