//! Cold-start warm-up: during a Lambda function's init, one free `CountTokens` call per Bedrock
//! client resolves the credentials and opens the TLS connection, so the first user request does
//! not pay for them. Bounded in time; its answer (even an error) is ignored.
//!
//! Only in Lambda, only for clients that reach AWS's own endpoint (no `aws_bedrock_runtime_endpoint`
//! and no `AWS_ENDPOINT_URL*` override), and not when `GATEWAY_BEDROCK_WARM_UP=off`: a local
//! gateway or a test against the fake Bedrock never makes the call.

use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseTokensRequest, CountTokensInput, Message,
};
use aws_sdk_bedrockruntime::Client;
use futures_util::future::join_all;

use crate::config::ModelDeployment;
use crate::env::Environment;

/// `off` switches the warm-up off.
pub const WARM_UP_VAR: &str = "GATEWAY_BEDROCK_WARM_UP";

/// The longest the warm-up may add to init.
pub const WARM_UP_TIMEOUT: Duration = Duration::from_millis(1500);

/// Whether this process should warm its Bedrock clients up.
pub fn wanted(env: &Environment) -> bool {
    env.get("AWS_LAMBDA_RUNTIME_API").is_some()
        && env.get(WARM_UP_VAR) != Some("off")
        && env.get("AWS_ENDPOINT_URL").is_none()
        && env.get("AWS_ENDPOINT_URL_BEDROCK_RUNTIME").is_none()
}

/// Whether a deployment's client talks to AWS's own endpoint (the only ones worth warming).
pub fn reaches_aws(deployment: &ModelDeployment) -> bool {
    deployment.endpoint_url.is_none()
}

/// What the warm-up did, for the init log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmUp {
    pub calls: usize,
    /// Calls that got any HTTP answer (an error answer too) before the timeout.
    pub answered: usize,
    pub elapsed: Duration,
}

/// One `CountTokens` per `(client, model id)`, concurrently, all within `timeout`.
pub async fn warm_up(targets: Vec<(Client, String)>, timeout: Duration) -> WarmUp {
    let started = Instant::now();
    let calls = targets.len();
    let answered = tokio::time::timeout(
        timeout,
        join_all(
            targets
                .into_iter()
                .map(|(client, model_id)| one(client, model_id)),
        ),
    )
    .await
    .map(|results| results.into_iter().filter(|answered| *answered).count())
    .unwrap_or(0);
    WarmUp {
        calls,
        answered,
        elapsed: started.elapsed(),
    }
}

async fn one(client: Client, model_id: String) -> bool {
    let Ok(message) = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text("hi".to_owned()))
        .build()
    else {
        return false;
    };
    let input =
        CountTokensInput::Converse(ConverseTokensRequest::builder().messages(message).build());
    match client
        .count_tokens()
        .model_id(model_id)
        .input(input)
        .send()
        .await
    {
        Ok(_) => true,
        // A service error (access denied, a model without CountTokens) still opened the connection.
        Err(err) => err.raw_response().is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_in_lambda_without_endpoint_overrides() {
        let lambda = [("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")];
        assert!(wanted(&Environment::from_pairs(lambda)));
        assert!(!wanted(&Environment::from_pairs([(
            "AWS_REGION",
            "us-east-1"
        )])));
        for (name, value) in [
            (WARM_UP_VAR, "off"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:1"),
        ] {
            let env = Environment::from_pairs([lambda[0], (name, value)]);
            assert!(!wanted(&env), "{name}");
        }
    }
}
