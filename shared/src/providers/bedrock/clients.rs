//! SDK clients, built once at start-up: one per region, endpoint, credentials and timeout.
//!
//! Every call has a deadline: [`CONNECT_TIMEOUT`] to open a connection, and the deployment's
//! timeout (`timeout` in its `litellm_params`, else `router_settings.timeout`, else
//! [`DEFAULT_CALL_TIMEOUT`]) as both the operation and the attempt timeout (the router does the
//! retries, so there is one attempt). The SDK's operation timeout ends when the answer's headers
//! have arrived: a whole answer is bounded by it, a stream only until its first bytes, so a long
//! legitimate stream is never cut here. Streams are bounded by the pipeline instead
//! (`stream_timeout` for the first event, `stream_idle_timeout` between events, the invocation's
//! deadline overall).

use std::collections::HashMap;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::timeout::TimeoutConfig;
use aws_sdk_bedrockruntime::config::StalledStreamProtectionConfig;
use aws_sdk_bedrockruntime::Client;

use super::signed::{SignedClient, SignedHttp};
use crate::config::{ModelDeployment, StaticCredentials};
use crate::env::Environment;

/// Time to open a connection (TCP and TLS) to Bedrock.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A call's deadline when neither the deployment nor the router sets one: LiteLLM's default
/// `request_timeout`, and Lambda's longest invocation.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(600);

/// The deadlines of a client whose calls may take `timeout` (the default when `None`).
pub fn call_timeouts(timeout: Option<Duration>) -> TimeoutConfig {
    let call = timeout.unwrap_or(DEFAULT_CALL_TIMEOUT);
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_timeout(call)
        .operation_attempt_timeout(call)
        .build()
}

#[derive(Debug, thiserror::Error)]
pub enum ClientInitError {
    #[error("{deployment}: no AWS region: set litellm_params.aws_region_name or AWS_REGION")]
    NoRegion { deployment: String },
    #[error("{user}: no AWS credentials provider is configured")]
    NoCredentials { user: String },
    #[error("HTTP client: {0}")]
    Http(String),
}

/// What makes two deployments' clients differ: region, endpoint, access key id, timeout.
type ClientKey = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<Duration>,
);

/// Where a client goes, and as whom: `None` fields take the defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientPlace<'a> {
    pub region: Option<&'a str>,
    pub endpoint_url: Option<&'a str>,
    pub credentials: Option<&'a StaticCredentials>,
}

/// The shared AWS configuration and the clients made from it.
#[derive(Debug)]
pub struct BedrockClients {
    base: SdkConfig,
    default_region: Option<String>,
    /// `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, else `AWS_ENDPOINT_URL` (what the SDK clients use).
    env_endpoint: Option<String>,
    clients: HashMap<ClientKey, Client>,
    /// The signed clients' one connection pool, made when the first is asked for.
    signed_http: Option<SignedHttp>,
}

impl BedrockClients {
    /// Loads the AWS configuration once (credentials chain, `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`).
    /// The region is passed in, never looked up from instance metadata.
    pub async fn load(env: &Environment) -> Self {
        let base = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(
                default_region(env).unwrap_or_else(|| "us-east-1".to_owned()),
            ))
            .load()
            .await;
        Self::from_sdk(base, env)
    }

    /// The clients from an AWS configuration already loaded (the wiring's, shared with the
    /// stores' clients); `env`'s region is the default for deployments without their own.
    pub fn from_sdk(base: SdkConfig, env: &Environment) -> Self {
        let default_region = default_region(env);
        let env_endpoint = env
            .get("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
            .or_else(|| env.get("AWS_ENDPOINT_URL"))
            .map(str::to_owned);
        BedrockClients {
            base,
            default_region,
            env_endpoint,
            clients: HashMap::new(),
            signed_http: None,
        }
    }

    /// The client for a deployment, shared with every deployment that has the same settings.
    /// Retries are left to the router, so the SDK makes exactly one attempt.
    pub fn client_for(
        &mut self,
        deployment: &ModelDeployment,
        timeout: Option<Duration>,
    ) -> Result<Client, ClientInitError> {
        let place = ClientPlace {
            region: deployment.region.as_deref(),
            endpoint_url: deployment.endpoint_url.as_deref(),
            credentials: deployment.credentials.as_ref(),
        };
        self.client(&deployment.deployment_id, place, timeout)
    }

    /// The client for `place` (`user` names what needs it, for the error), shared with every
    /// deployment and guardrail that has the same settings.
    pub fn client(
        &mut self,
        user: &str,
        place: ClientPlace<'_>,
        timeout: Option<Duration>,
    ) -> Result<Client, ClientInitError> {
        let region = place
            .region
            .map(str::to_owned)
            .or_else(|| self.default_region.clone());
        let Some(region_name) = region.clone() else {
            return Err(ClientInitError::NoRegion {
                deployment: user.to_owned(),
            });
        };
        let key_id = place.credentials.map(|c| c.access_key_id.clone());
        let endpoint_url = place.endpoint_url.map(str::to_owned);
        let key = (region, endpoint_url, key_id, timeout);
        if let Some(client) = self.clients.get(&key) {
            return Ok(client.clone());
        }
        let mut builder = aws_sdk_bedrockruntime::config::Builder::from(&self.base)
            .region(Region::new(region_name))
            .retry_config(RetryConfig::disabled())
            // A model may pause longer than the SDK's 20 s stall grace period between stream
            // events; time limits come from the deployment's timeout and the request's deadline.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .timeout_config(call_timeouts(timeout));
        if let Some(endpoint) = place.endpoint_url {
            builder = builder.endpoint_url(endpoint);
        }
        if let Some(creds) = place.credentials {
            builder = builder.credentials_provider(Credentials::new(
                &creds.access_key_id,
                creds.secret_access_key.expose(),
                creds.session_token.as_ref().map(|t| t.expose().clone()),
                None,
                "litellm_params",
            ));
        }
        let client = Client::from_conf(builder.build());
        self.clients.insert(key, client.clone());
        Ok(client)
    }

    /// A lean signed client (`signed`) for `place`, with the same region, endpoint and
    /// credentials an SDK client for `place` would have; `timeout` bounds each call.
    pub fn signed(
        &mut self,
        user: &str,
        place: ClientPlace<'_>,
        timeout: Duration,
    ) -> Result<SignedClient, ClientInitError> {
        let Some(region) = place
            .region
            .map(str::to_owned)
            .or_else(|| self.default_region.clone())
        else {
            return Err(ClientInitError::NoRegion {
                deployment: user.to_owned(),
            });
        };
        let endpoint = place
            .endpoint_url
            .map(str::to_owned)
            .or_else(|| self.env_endpoint.clone())
            .or_else(|| self.base.endpoint_url().map(str::to_owned))
            .unwrap_or_else(|| format!("https://bedrock-runtime.{region}.amazonaws.com"));
        let credentials =
            match place.credentials {
                Some(creds) => SharedCredentialsProvider::new(Credentials::new(
                    &creds.access_key_id,
                    creds.secret_access_key.expose(),
                    creds.session_token.as_ref().map(|t| t.expose().clone()),
                    None,
                    "litellm_params",
                )),
                None => self.base.credentials_provider().ok_or_else(|| {
                    ClientInitError::NoCredentials {
                        user: user.to_owned(),
                    }
                })?,
            };
        let http = match &self.signed_http {
            Some(http) => http.clone(),
            None => {
                let http = SignedHttp::new().map_err(ClientInitError::Http)?;
                self.signed_http = Some(http.clone());
                http
            }
        };
        Ok(SignedClient::new(
            http,
            &endpoint,
            &region,
            credentials,
            timeout,
        ))
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

/// `AWS_REGION`, else `AWS_DEFAULT_REGION`.
fn default_region(env: &Environment) -> Option<String> {
    env.get("AWS_REGION")
        .or_else(|| env.get("AWS_DEFAULT_REGION"))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_has_a_connect_operation_and_attempt_deadline() {
        let given = call_timeouts(Some(Duration::from_secs(30)));
        assert_eq!(given.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(given.operation_timeout(), Some(Duration::from_secs(30)));
        assert_eq!(
            given.operation_attempt_timeout(),
            Some(Duration::from_secs(30))
        );
        let default = call_timeouts(None);
        assert_eq!(default.operation_timeout(), Some(DEFAULT_CALL_TIMEOUT));
        assert_eq!(
            default.operation_attempt_timeout(),
            Some(DEFAULT_CALL_TIMEOUT)
        );
        // No read timeout: a whole answer's headers come only when the answer is complete.
        assert_eq!(default.read_timeout(), None);
    }
}
