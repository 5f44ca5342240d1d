//! The lean signed client (ApplyGuardrail) against the fake Bedrock, which checks SigV4
//! signatures for the test credentials: right keys pass (an ARN id and a session token
//! included), a wrong secret is refused for the lean client and for the SDK alike.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, GuardrailContentBlock, GuardrailContentSource,
    GuardrailTextBlock, Message,
};
use gateway::guardrails::{BedrockGuardrail, Guardrail, GuardrailSource, GuardrailVerdict};
use gateway::providers::bedrock::signed::{SignedCallError, SignedClient, SignedHttp};
use gateway_tests::fake_bedrock::FakeBedrock;

fn signed(fake: &FakeBedrock, secret: &str, token: Option<&str>) -> SignedClient {
    let creds = Credentials::new(
        "test-access-key",
        secret,
        token.map(str::to_owned),
        None,
        "test",
    );
    SignedClient::new(
        SignedHttp::new().unwrap(),
        &fake.endpoint(),
        "us-east-1",
        SharedCredentialsProvider::new(creds),
        Duration::from_secs(5),
    )
}

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn a_correctly_signed_apply_guardrail_passes_and_masks() {
    let fake = FakeBedrock::start().await.unwrap();
    let arn = "arn:aws:bedrock:us-east-1:123456789012:guardrail/gr-abc";
    let guardrail = BedrockGuardrail::new("pii", arn, "1", signed(&fake, "test-secret-key", None));
    let checked = guardrail
        .check(
            GuardrailSource::Output,
            &texts(&["mail me at jane@example.com", "", "nothing here"]),
        )
        .await
        .unwrap();
    match checked.verdict {
        GuardrailVerdict::Masked { texts } => {
            assert_eq!(texts[0], "mail me at {EMAIL}");
            assert_eq!(texts[1], "");
            assert_eq!(texts[2], "nothing here");
        }
        other => panic!("expected a mask, got {other:?}"),
    }
    assert_eq!(checked.entities, ["EMAIL"]);
    // The ARN reached the fake's route decoded, once: the path was encoded and signed right.
    assert_eq!(fake.guardrail_calls(arn, "1"), 1);
    assert_eq!(fake.guardrail_calls_from(arn, "1", "OUTPUT"), 1);

    let with_token = BedrockGuardrail::new(
        "pii",
        "gr1",
        "DRAFT",
        signed(&fake, "test-secret-key", Some("a-session-token")),
    );
    let blocked = with_token
        .check(GuardrailSource::Input, &texts(&["please BLOCKME now"]))
        .await
        .unwrap();
    assert_eq!(blocked.verdict, GuardrailVerdict::Blocked);
    assert_eq!(fake.guardrail_calls("gr1", "DRAFT"), 1);
}

#[tokio::test]
async fn a_wrong_signature_is_refused_for_the_lean_client_and_the_sdk() {
    let fake = FakeBedrock::start().await.unwrap();
    let client = signed(&fake, "not-the-secret", None);
    let err = client
        .post_json(
            "/guardrail/gr1/version/1/apply",
            br#"{"source":"INPUT","content":[{"text":{"text":"hi"}}]}"#.to_vec(),
        )
        .await
        .unwrap_err();
    match err {
        SignedCallError::Service { status, kind, .. } => {
            assert_eq!(status.as_u16(), 403);
            assert_eq!(kind, "InvalidSignatureException");
        }
        other => panic!("expected a 403, got {other}"),
    }
    assert_eq!(
        fake.guardrail_calls("gr1", "1"),
        0,
        "refused before the route"
    );
    // A failed check fails closed, with the reason and no secret in it.
    let guardrail = BedrockGuardrail::new("g", "gr1", "1", client);
    let failed = guardrail
        .check(GuardrailSource::Input, &texts(&["hi"]))
        .await
        .unwrap_err();
    assert!(
        failed.0.contains("InvalidSignatureException"),
        "{}",
        failed.0
    );
    assert!(!failed.0.contains("not-the-secret"));

    let sdk = |secret: &str| {
        aws_sdk_bedrockruntime::Client::from_conf(
            aws_sdk_bedrockruntime::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url(fake.endpoint())
                .credentials_provider(Credentials::new("test", secret, None, None, "t"))
                .retry_config(RetryConfig::disabled())
                .build(),
        )
    };
    let apply = |client: aws_sdk_bedrockruntime::Client| async move {
        client
            .apply_guardrail()
            .guardrail_identifier("gr1")
            .guardrail_version("1")
            .source(GuardrailContentSource::Input)
            .content(GuardrailContentBlock::Text(
                GuardrailTextBlock::builder().text("hi").build().unwrap(),
            ))
            .send()
            .await
    };
    assert!(apply(sdk("test")).await.is_ok());
    let refused = apply(sdk("wrong")).await.unwrap_err();
    assert_eq!(refused.raw_response().unwrap().status().as_u16(), 403);
    let converse = sdk("wrong")
        .converse()
        .model_id("anthropic.claude-3-sonnet-20240229-v1:0")
        .messages(
            Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text("hi".into()))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(converse.raw_response().unwrap().status().as_u16(), 403);
    assert_eq!(
        fake.guardrail_calls("gr1", "1"),
        1,
        "only the signed SDK call"
    );
}
