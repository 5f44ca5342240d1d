//! Telemetry switches read once at start: the Phoenix collector, project and content hiding,
//! and the EMF metrics namespace.

use std::time::Duration;

use crate::config::GatewayConfig;
use crate::env::Environment;

/// `litellm_settings.callbacks` entry that switches tracing on (LiteLLM's name).
pub const PHOENIX_CALLBACK: &str = "arize_phoenix";
/// The collector's OTLP/HTTP traces URL (`/v1/traces` is added when the path lacks it).
pub const PHOENIX_COLLECTOR_HTTP_ENDPOINT: &str = "PHOENIX_COLLECTOR_HTTP_ENDPOINT";
/// The collector's base URL, used when the HTTP endpoint is unset.
pub const PHOENIX_COLLECTOR_ENDPOINT: &str = "PHOENIX_COLLECTOR_ENDPOINT";
/// Sent as `authorization: Bearer` and `api_key` headers (Phoenix Cloud, secured Phoenix).
pub const PHOENIX_API_KEY: &str = "PHOENIX_API_KEY";
/// A Secrets Manager secret holding the API key (plain, or JSON `api_key`/`PHOENIX_API_KEY`),
/// read once at start-up when [`PHOENIX_API_KEY`] is unset: what the SAM template sets, so the
/// key is not in the function's environment.
pub const PHOENIX_API_KEY_SECRET_ID: &str = "PHOENIX_API_KEY_SECRET_ID";
/// The default project (`openinference.project.name`); `metadata.project_name` overrides it
/// when the config's `telemetry.phoenix_projects` lists the name.
pub const PHOENIX_PROJECT_NAME: &str = "PHOENIX_PROJECT_NAME";
/// OpenInference's switches: no input (or output) content on any span.
pub const OPENINFERENCE_HIDE_INPUTS: &str = "OPENINFERENCE_HIDE_INPUTS";
pub const OPENINFERENCE_HIDE_OUTPUTS: &str = "OPENINFERENCE_HIDE_OUTPUTS";
/// Export timeout in milliseconds (default 5000).
pub const PHOENIX_EXPORT_TIMEOUT_MS: &str = "PHOENIX_EXPORT_TIMEOUT_MS";
/// `emf` or `off`; default `emf` in Lambda, `off` elsewhere.
pub const GATEWAY_METRICS: &str = "GATEWAY_METRICS";
/// The CloudWatch namespace of the EMF metrics (default [`DEFAULT_METRICS_NAMESPACE`]).
pub const GATEWAY_METRICS_NAMESPACE: &str = "GATEWAY_METRICS_NAMESPACE";

pub const DEFAULT_PHOENIX_ENDPOINT: &str = "http://127.0.0.1:6006/v1/traces";
pub const DEFAULT_PROJECT: &str = "default";
pub const DEFAULT_METRICS_NAMESPACE: &str = "LLMGateway";

#[derive(Debug, thiserror::Error)]
pub enum TelemetryInitError {
    #[error("{var}: {message}")]
    Invalid { var: &'static str, message: String },
    #[error("the Phoenix exporter could not be built: {0}")]
    Exporter(String),
}

/// Where and how spans go.
#[derive(Clone)]
pub struct TraceSettings {
    /// The full OTLP/HTTP traces URL.
    pub endpoint: String,
    pub api_key: Option<crate::secret::Secret<String>>,
    pub project: String,
    /// The projects a request may name (`telemetry.phoenix_projects`: exact names, or a
    /// prefix ending in `*`); any other name means the default project.
    pub allowed_projects: Vec<String>,
    pub hide_inputs: bool,
    pub hide_outputs: bool,
    pub timeout: Duration,
}

impl std::fmt::Debug for TraceSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceSettings")
            .field("endpoint", &self.endpoint)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("project", &self.project)
            .field("allowed_projects", &self.allowed_projects)
            .field("hide_inputs", &self.hide_inputs)
            .field("hide_outputs", &self.hide_outputs)
            .finish()
    }
}

impl TraceSettings {
    /// The API key from [`PHOENIX_API_KEY_SECRET_ID`] when none was given directly.
    pub async fn with_secret_api_key(
        mut self,
        env: &Environment,
    ) -> Result<TraceSettings, crate::store::SecretReadError> {
        let id = env
            .get(PHOENIX_API_KEY_SECRET_ID)
            .map(str::trim)
            .filter(|v| !v.is_empty());
        if let (None, Some(id)) = (&self.api_key, id) {
            let key = crate::store::read_secret(env, id, &["api_key", PHOENIX_API_KEY]).await?;
            self.api_key = Some(key);
        }
        Ok(self)
    }

    /// `None` unless the config's callbacks name [`PHOENIX_CALLBACK`], or when the endpoint
    /// variables are present but both empty: a deployment switches traces off that way (the
    /// template always sets `PHOENIX_COLLECTOR_HTTP_ENDPOINT`, empty without a collector).
    pub fn from_config(
        config: &GatewayConfig,
        env: &Environment,
    ) -> Result<Option<TraceSettings>, TelemetryInitError> {
        if !config.callbacks.iter().any(|c| c == PHOENIX_CALLBACK) {
            return Ok(None);
        }
        let empty = |name| env.get(name).map(|v| v.trim().is_empty());
        let switched_off = matches!(
            (
                empty(PHOENIX_COLLECTOR_HTTP_ENDPOINT),
                empty(PHOENIX_COLLECTOR_ENDPOINT),
            ),
            (Some(true), None | Some(true)) | (None, Some(true))
        );
        if switched_off {
            tracing::info!("traces off: the Phoenix collector endpoint is set empty");
            return Ok(None);
        }
        Self::from_env(env).map(|settings| {
            Some(TraceSettings {
                allowed_projects: config.phoenix_projects.clone(),
                ..settings
            })
        })
    }

    /// The project a request's spans go to: the one it names when the allow-list has it,
    /// else the default.
    pub fn project_for<'a>(&'a self, requested: Option<&'a str>) -> &'a str {
        let allowed = |name: &str| {
            self.allowed_projects
                .iter()
                .any(|entry| match entry.strip_suffix('*') {
                    Some(prefix) => name.starts_with(prefix),
                    None => entry == name,
                })
        };
        requested
            .filter(|name| allowed(name))
            .unwrap_or(&self.project)
    }

    pub fn from_env(env: &Environment) -> Result<TraceSettings, TelemetryInitError> {
        let set = |name| env.get(name).map(str::trim).filter(|v| !v.is_empty());
        let endpoint = match (
            set(PHOENIX_COLLECTOR_HTTP_ENDPOINT),
            set(PHOENIX_COLLECTOR_ENDPOINT),
        ) {
            (Some(url), _) => traces_url(PHOENIX_COLLECTOR_HTTP_ENDPOINT, url)?,
            (None, Some(url)) => traces_url(PHOENIX_COLLECTOR_ENDPOINT, url)?,
            (None, None) => DEFAULT_PHOENIX_ENDPOINT.to_owned(),
        };
        let timeout = match set(PHOENIX_EXPORT_TIMEOUT_MS) {
            None => Duration::from_secs(5),
            Some(ms) => {
                Duration::from_millis(ms.parse().map_err(|_| TelemetryInitError::Invalid {
                    var: PHOENIX_EXPORT_TIMEOUT_MS,
                    message: format!("`{ms}` is not a number of milliseconds"),
                })?)
            }
        };
        Ok(TraceSettings {
            endpoint,
            api_key: set(PHOENIX_API_KEY).map(|k| crate::secret::Secret::new(k.to_owned())),
            project: set(PHOENIX_PROJECT_NAME)
                .unwrap_or(DEFAULT_PROJECT)
                .to_owned(),
            allowed_projects: Vec::new(),
            hide_inputs: flag(env, OPENINFERENCE_HIDE_INPUTS),
            hide_outputs: flag(env, OPENINFERENCE_HIDE_OUTPUTS),
            timeout,
        })
    }
}

/// EMF metrics switches.
#[derive(Debug, Clone)]
pub struct MetricsSettings {
    pub namespace: String,
}

impl MetricsSettings {
    /// `None` when metrics are off.
    pub fn from_env(env: &Environment) -> Option<MetricsSettings> {
        let in_lambda = env.get("AWS_LAMBDA_RUNTIME_API").is_some();
        let on = match env.get(GATEWAY_METRICS).map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("emf") || v == "1" || v == "true" => true,
            Some(v) if v.eq_ignore_ascii_case("off") || v == "0" || v == "false" => false,
            _ => in_lambda,
        };
        on.then(|| MetricsSettings {
            namespace: env
                .get(GATEWAY_METRICS_NAMESPACE)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .unwrap_or(DEFAULT_METRICS_NAMESPACE)
                .to_owned(),
        })
    }
}

fn flag(env: &Environment, name: &str) -> bool {
    env.get(name)
        .map(str::trim)
        .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// `url` as a traces URL: `/v1/traces` added unless the path already ends with it.
fn traces_url(var: &'static str, url: &str) -> Result<String, TelemetryInitError> {
    let uri: http::Uri = url.parse().map_err(|e| TelemetryInitError::Invalid {
        var,
        message: format!("not a URL: {e}"),
    })?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(TelemetryInitError::Invalid {
            var,
            message: "must start with http:// or https://".into(),
        });
    }
    let base = url.trim_end_matches('/');
    Ok(if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_get_the_traces_path_once() {
        let env = Environment::from_pairs([(PHOENIX_COLLECTOR_ENDPOINT, "http://127.0.0.1:6006/")]);
        let s = TraceSettings::from_env(&env).unwrap();
        assert_eq!(s.endpoint, "http://127.0.0.1:6006/v1/traces");
        let env = Environment::from_pairs([
            (
                PHOENIX_COLLECTOR_HTTP_ENDPOINT,
                "https://x.example/v1/traces",
            ),
            (PHOENIX_COLLECTOR_ENDPOINT, "http://ignored"),
            (PHOENIX_PROJECT_NAME, "gw"),
            (OPENINFERENCE_HIDE_INPUTS, "true"),
        ]);
        let s = TraceSettings::from_env(&env).unwrap();
        assert_eq!(s.endpoint, "https://x.example/v1/traces");
        assert_eq!(s.project, "gw");
        assert!(s.hide_inputs && !s.hide_outputs);
        let bad = Environment::from_pairs([(PHOENIX_COLLECTOR_ENDPOINT, "ftp://x")]);
        assert!(TraceSettings::from_env(&bad).is_err());
    }

    #[test]
    fn an_endpoint_set_empty_switches_configured_traces_off() {
        let config = crate::config::from_yaml_str(
            "model_list:\n  - model_name: m\n    litellm_params:\n      model: bedrock/anthropic.claude-3-haiku-20240307-v1:0\nlitellm_settings:\n  callbacks: [\"arize_phoenix\"]\n",
            &Environment::default(),
        )
        .unwrap();
        let off = Environment::from_pairs([(PHOENIX_COLLECTOR_HTTP_ENDPOINT, " ")]);
        assert!(TraceSettings::from_config(&config, &off).unwrap().is_none());
        let on =
            Environment::from_pairs([(PHOENIX_COLLECTOR_HTTP_ENDPOINT, "http://127.0.0.1:6006")]);
        assert!(TraceSettings::from_config(&config, &on).unwrap().is_some());
        // Not set at all: the default collector, as LiteLLM does.
        assert!(TraceSettings::from_config(&config, &Environment::default())
            .unwrap()
            .is_some());
    }

    #[test]
    fn metrics_default_on_in_lambda_only() {
        assert!(MetricsSettings::from_env(&Environment::default()).is_none());
        let lambda = Environment::from_pairs([("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")]);
        assert_eq!(
            MetricsSettings::from_env(&lambda).unwrap().namespace,
            DEFAULT_METRICS_NAMESPACE
        );
        let off = Environment::from_pairs([
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            (GATEWAY_METRICS, "off"),
        ]);
        assert!(MetricsSettings::from_env(&off).is_none());
        let local =
            Environment::from_pairs([(GATEWAY_METRICS, "emf"), (GATEWAY_METRICS_NAMESPACE, "N")]);
        assert_eq!(MetricsSettings::from_env(&local).unwrap().namespace, "N");
    }

    #[test]
    fn a_caller_named_project_outside_the_allow_list_goes_to_the_default_project() {
        let yaml = "model_list:\n  - model_name: m\n    litellm_params: {model: bedrock/x.y-v1}\n\
                    litellm_settings: {callbacks: [arize_phoenix]}\n\
                    telemetry:\n  phoenix_projects: [support, \"team-*\"]\n";
        let config = crate::config::from_yaml_str(yaml, &Environment::default()).unwrap();
        let env = Environment::from_pairs([(PHOENIX_PROJECT_NAME, "gw")]);
        let s = TraceSettings::from_config(&config, &env).unwrap().unwrap();
        assert_eq!(s.project_for(Some("support")), "support");
        assert_eq!(s.project_for(Some("team-a")), "team-a");
        assert_eq!(s.project_for(Some("billing")), "gw");
        assert_eq!(s.project_for(Some("support2")), "gw");
        assert_eq!(s.project_for(None), "gw");
        let none = TraceSettings::from_env(&env).unwrap();
        assert_eq!(
            none.project_for(Some("support")),
            "gw",
            "no list: nothing allowed"
        );
        let typo = yaml.replace("phoenix_projects", "phoenix_project");
        assert!(crate::config::from_yaml_str(&typo, &Environment::default()).is_err());
    }
}
