//! AWS clients for the stores (DynamoDB, Secrets Manager), built once at cold start.
//!
//! Endpoints come from the SDK's standard variables (`AWS_ENDPOINT_URL_DYNAMODB`,
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER`), read from our [`Environment`] snapshot so tests can point
//! each gateway at its own `moto_server` without touching the process environment. Credentials
//! in that snapshot are used as given; otherwise the SDK's default chain finds them (in Lambda,
//! the function's role).

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

use crate::env::Environment;

pub const ENDPOINT_DYNAMODB_VAR: &str = "AWS_ENDPOINT_URL_DYNAMODB";
pub const ENDPOINT_SECRETS_MANAGER_VAR: &str = "AWS_ENDPOINT_URL_SECRETS_MANAGER";

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

    /// The clients from an already loaded configuration, with `env`'s endpoints.
    pub fn from_sdk(base: &SdkConfig, env: &Environment) -> AwsClients {
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(base);
        if let Some(endpoint) = env.get(ENDPOINT_DYNAMODB_VAR) {
            dynamodb = dynamodb.endpoint_url(endpoint);
        }
        let mut secrets = aws_sdk_secretsmanager::config::Builder::from(base);
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
