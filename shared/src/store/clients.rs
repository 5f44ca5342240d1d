//! AWS clients for the stores (DynamoDB, Secrets Manager), built once at cold start.
//!
//! Endpoints come from the SDK's standard variables (`AWS_ENDPOINT_URL_DYNAMODB`,
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER`), read from our [`Environment`] snapshot so tests can point
//! each gateway at its own `moto_server` without touching the process environment. Credentials
//! in that snapshot are used as given; otherwise the SDK's default chain finds them (in Lambda,
//! the function's role).
//!
//! Every call has a deadline ([`store_timeouts`]): a store that stops answering (a stalled
//! connection, a black-holed endpoint) fails the call within the operation timeout
//! (`GATEWAY_STORE_TIMEOUT_SECS`, default [`STORE_OPERATION_TIMEOUT`]), so the request path
//! answers its documented fail-closed error (503 `dependency_unavailable`) instead of hanging
//! until Lambda's own timeout.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

use crate::env::Environment;

pub const ENDPOINT_DYNAMODB_VAR: &str = "AWS_ENDPOINT_URL_DYNAMODB";
pub const ENDPOINT_SECRETS_MANAGER_VAR: &str = "AWS_ENDPOINT_URL_SECRETS_MANAGER";
/// Seconds a whole store call may take, retries included (default 1.5).
pub const STORE_TIMEOUT_VAR: &str = "GATEWAY_STORE_TIMEOUT_SECS";

/// Time to open a connection (TCP and TLS) to DynamoDB or Secrets Manager.
pub const STORE_CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);
/// A whole store call, retries included: below the 2 s within which a stalled store must be
/// answered with 503. DynamoDB answers in milliseconds, a page of a query in well under this.
pub const STORE_OPERATION_TIMEOUT: Duration = Duration::from_millis(1500);

/// The deadlines of every DynamoDB and Secrets Manager call: `operation` in all, half of it an
/// attempt (an attempt that times out is retried by the SDK while the operation has time left).
pub fn store_timeouts(operation: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(STORE_CONNECT_TIMEOUT.min(operation))
        .operation_attempt_timeout(operation / 2)
        .operation_timeout(operation)
        .build()
}

/// The operation timeout `env` asks for, else the default (an unreadable value is reported and
/// the default used).
fn operation_timeout(env: &Environment) -> Duration {
    let Some(value) = env.get(STORE_TIMEOUT_VAR) else {
        return STORE_OPERATION_TIMEOUT;
    };
    match value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .and_then(|v| Duration::try_from_secs_f64(v).ok())
    {
        Some(timeout) => timeout,
        None => {
            tracing::error!(
                var = STORE_TIMEOUT_VAR,
                value,
                "not a positive number of seconds; using the default store timeout"
            );
            STORE_OPERATION_TIMEOUT
        }
    }
}

/// The store clients, cheap to clone (each SDK client is an `Arc` inside).
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub secrets_manager: aws_sdk_secretsmanager::Client,
}

impl AwsClients {
    /// Loads the AWS configuration and makes the clients (one-off commands, tests); the
    /// gateway's wiring loads the configuration once and uses [`AwsClients::from_sdk`].
    pub async fn load(env: &Environment) -> AwsClients {
        Self::from_sdk(&load_sdk_config(env).await, env)
    }

    /// The clients from an already loaded configuration, with `env`'s endpoints and the store
    /// deadlines ([`store_timeouts`]).
    pub fn from_sdk(base: &SdkConfig, env: &Environment) -> AwsClients {
        let timeouts = store_timeouts(operation_timeout(env));
        let mut dynamodb =
            aws_sdk_dynamodb::config::Builder::from(base).timeout_config(timeouts.clone());
        if let Some(endpoint) = env.get(ENDPOINT_DYNAMODB_VAR) {
            dynamodb = dynamodb.endpoint_url(endpoint);
        }
        let mut secrets =
            aws_sdk_secretsmanager::config::Builder::from(base).timeout_config(timeouts);
        if let Some(endpoint) = env.get(ENDPOINT_SECRETS_MANAGER_VAR) {
            secrets = secrets.endpoint_url(endpoint);
        }
        AwsClients {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
            secrets_manager: aws_sdk_secretsmanager::Client::from_conf(secrets.build()),
        }
    }
}

/// The AWS configuration for `env` (region, credentials chain): the slow part of making a
/// client, done once at cold start and shared by every client made from it.
pub async fn load_sdk_config(env: &Environment) -> SdkConfig {
    let region = env
        .get("AWS_REGION")
        .or_else(|| env.get("AWS_DEFAULT_REGION"))
        .unwrap_or("us-east-1")
        .to_owned();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region));
    if let (Some(id), Some(secret)) = (
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
    ) {
        loader = loader.credentials_provider(Credentials::new(
            id,
            secret,
            env.get("AWS_SESSION_TOKEN").map(str::to_owned),
            None,
            "environment",
        ));
    }
    loader.load().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_calls_have_a_deadline_below_two_seconds_by_default() {
        let env = Environment::from_pairs([("X", "1")]);
        let timeouts = store_timeouts(operation_timeout(&env));
        assert_eq!(timeouts.operation_timeout(), Some(STORE_OPERATION_TIMEOUT));
        assert_eq!(
            timeouts.operation_attempt_timeout(),
            Some(Duration::from_millis(750))
        );
        assert_eq!(timeouts.connect_timeout(), Some(STORE_CONNECT_TIMEOUT));
        assert!(STORE_OPERATION_TIMEOUT < Duration::from_secs(2));
        let set = Environment::from_pairs([(STORE_TIMEOUT_VAR, "4")]);
        assert_eq!(operation_timeout(&set), Duration::from_secs(4));
        let bad = Environment::from_pairs([(STORE_TIMEOUT_VAR, "-1")]);
        assert_eq!(operation_timeout(&bad), STORE_OPERATION_TIMEOUT);
    }
}
