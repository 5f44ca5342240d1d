//! Exports a finished request's spans to Arize Phoenix over OTLP/HTTP (protobuf), one
//! exporter per project (`openinference.project.name` is a resource attribute), sharing one
//! HTTP client. Called from the after-response queue's drain task only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry::KeyValue;
use opentelemetry_http::HttpClient;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use opentelemetry_sdk::Resource;

use super::settings::{TelemetryInitError, TraceSettings};
use super::spans::{self, Hide};
use super::RequestTrace;

/// Projects beyond this many share the default project's exporter (a bound on memory for
/// requests that each name a new project).
pub const MAX_PROJECTS: usize = 64;

pub struct PhoenixExporter {
    settings: TraceSettings,
    client: Arc<dyn HttpClient>,
    exporters: Mutex<HashMap<String, Arc<opentelemetry_otlp::SpanExporter>>>,
}

impl PhoenixExporter {
    pub fn new(settings: TraceSettings) -> Result<PhoenixExporter, TelemetryInitError> {
        // http:// and https:// (native roots; the AWS SDK's rustls and aws-lc-rs).
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| TelemetryInitError::Exporter(format!("TLS roots: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = opentelemetry_http::hyper::HyperClient::new(connector, settings.timeout, None);
        let exporter = PhoenixExporter {
            settings,
            client: Arc::new(client),
            exporters: Mutex::new(HashMap::new()),
        };
        // Built once now so a bad endpoint fails at start.
        exporter.exporter(None)?;
        Ok(exporter)
    }

    pub fn settings(&self) -> &TraceSettings {
        &self.settings
    }

    fn hide(&self) -> Hide {
        Hide {
            inputs: self.settings.hide_inputs,
            outputs: self.settings.hide_outputs,
        }
    }

    /// Builds and sends the spans of `traces`, grouped by project; the first error, if any.
    pub async fn export(&self, traces: &[RequestTrace]) -> Result<usize, String> {
        let mut by_project: Vec<(Option<&str>, Vec<SpanData>)> = Vec::new();
        for trace in traces {
            let project = Some(self.settings.project_for(trace.project()));
            let spans = spans::build(trace, self.hide());
            match by_project.iter_mut().find(|(p, _)| *p == project) {
                Some((_, batch)) => batch.extend(spans),
                None => by_project.push((project, spans)),
            }
        }
        let mut sent = 0;
        let mut first_error = None;
        for (project, batch) in by_project {
            let count = batch.len();
            let exporter = self.exporter(project).map_err(|e| e.to_string())?;
            match exporter.export(batch).await {
                Ok(()) => sent += count,
                Err(err) => {
                    first_error.get_or_insert(err.to_string());
                }
            }
        }
        match first_error {
            None => Ok(sent),
            Some(err) => Err(err),
        }
    }

    /// The exporter for `project` (the default one for `None`).
    fn exporter(
        &self,
        project: Option<&str>,
    ) -> Result<Arc<opentelemetry_otlp::SpanExporter>, TelemetryInitError> {
        let mut map = self
            .exporters
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let name = project.unwrap_or(&self.settings.project);
        let name = if map.len() >= MAX_PROJECTS && !map.contains_key(name) {
            self.settings.project.as_str()
        } else {
            name
        };
        if let Some(exporter) = map.get(name) {
            return Ok(Arc::clone(exporter));
        }
        let exporter = Arc::new(self.build_exporter(name)?);
        map.insert(name.to_owned(), Arc::clone(&exporter));
        Ok(exporter)
    }

    fn build_exporter(
        &self,
        project: &str,
    ) -> Result<opentelemetry_otlp::SpanExporter, TelemetryInitError> {
        let mut headers = HashMap::new();
        if let Some(key) = &self.settings.api_key {
            headers.insert(
                "authorization".to_owned(),
                format!("Bearer {}", key.expose()),
            );
            headers.insert("api_key".to_owned(), key.expose().clone());
        }
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(self.settings.endpoint.clone())
            .with_timeout(self.settings.timeout)
            .with_shared_http_client(Arc::clone(&self.client))
            .with_headers(headers)
            .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled())
            .build()
            .map_err(|e| TelemetryInitError::Exporter(e.to_string()))?;
        let resource = Resource::builder_empty()
            .with_service_name("llm-gateway")
            .with_attributes([KeyValue::new(
                "openinference.project.name",
                project.to_owned(),
            )])
            .build();
        exporter.set_resource(&resource);
        Ok(exporter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Environment;

    #[test]
    fn https_collectors_build_and_the_key_is_not_shown() {
        let env = Environment::from_pairs([
            (
                "PHOENIX_COLLECTOR_HTTP_ENDPOINT",
                "https://collector.invalid/v1/traces",
            ),
            ("PHOENIX_API_KEY", "phx-secret"),
        ]);
        let exporter = PhoenixExporter::new(TraceSettings::from_env(&env).unwrap()).unwrap();
        assert!(!format!("{:?}", exporter.settings()).contains("phx-secret"));
    }
}
