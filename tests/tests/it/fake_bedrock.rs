//! Tests of the fake Bedrock itself, driven by the real `aws-sdk-bedrockruntime`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Test helpers: failing loudly is the point.

use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_bedrockruntime::error::SdkError;
use aws_sdk_bedrockruntime::operation::converse::{ConverseError, ConverseOutput};
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ContentBlockStart, ConversationRole,
    ConverseStreamOutput as Ev, GuardrailAction, GuardrailContentBlock, GuardrailContentSource,
    GuardrailPiiEntityType, GuardrailTextBlock, ImageBlock, ImageFormat, ImageSource,
    InferenceConfiguration, Message, StopReason, SystemContentBlock, Tool, ToolConfiguration,
    ToolInputSchema, ToolResultBlock, ToolResultContentBlock, ToolSpecification, ToolUseBlock,
};
use aws_sdk_bedrockruntime::Client;
use aws_smithy_types::{Blob, Document, Number};
use gateway_tests::fake_bedrock::{FakeBedrock, Fault, BLOCKED_MESSAGE};
use serde_json::{json, Value};

const MODEL: &str = "anthropic.claude-3-sonnet-20240229-v1:0";

fn client(fake: &FakeBedrock) -> Client {
    let config = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(fake.endpoint())
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .build();
    Client::from_conf(config)
}

fn msg(role: ConversationRole, content: Vec<ContentBlock>) -> Message {
    Message::builder()
        .role(role)
        .set_content(Some(content))
        .build()
        .unwrap()
}

fn user(text: &str) -> Message {
    msg(
        ConversationRole::User,
        vec![ContentBlock::Text(text.into())],
    )
}

fn doc(v: Value) -> Document {
    match v {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(b),
        Value::Number(n) => Document::Number(Number::PosInt(n.as_u64().unwrap())),
        Value::String(s) => Document::String(s),
        Value::Array(a) => Document::Array(a.into_iter().map(doc).collect()),
        Value::Object(o) => Document::Object(o.into_iter().map(|(k, v)| (k, doc(v))).collect()),
    }
}

fn weather_tools() -> ToolConfiguration {
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "unit": {"type": "string"}}, "required": ["city", "days"]});
    let spec = ToolSpecification::builder()
        .name("get_weather")
        .description("Weather")
        .input_schema(ToolInputSchema::Json(doc(schema)))
        .build()
        .unwrap();
    ToolConfiguration::builder()
        .tools(Tool::ToolSpec(spec))
        .build()
        .unwrap()
}

fn text_of(out: &ConverseOutput) -> String {
    let message = out.output().unwrap().as_message().unwrap();
    message.content()[0].as_text().unwrap().clone()
}

async fn converse(
    c: &Client,
    model: &str,
    messages: Vec<Message>,
) -> Result<ConverseOutput, ConverseError> {
    let r = c
        .converse()
        .model_id(model)
        .set_messages(Some(messages))
        .send()
        .await;
    r.map_err(SdkError::into_service_error)
}

/// Receives stream events until the end or an error.
async fn collect(
    c: &Client,
    model: &str,
    messages: Vec<Message>,
    tools: Option<ToolConfiguration>,
) -> (
    Vec<Ev>,
    Option<SdkError<ConverseStreamOutputError, aws_smithy_types::event_stream::RawMessage>>,
) {
    let request = c
        .converse_stream()
        .model_id(model)
        .set_messages(Some(messages))
        .set_tool_config(tools);
    let mut out = request.send().await.unwrap();
    let mut events = Vec::new();
    loop {
        match out.stream.recv().await {
            Ok(Some(event)) => events.push(event),
            Ok(None) => return (events, None),
            Err(e) => return (events, Some(e)),
        }
    }
}

#[tokio::test]
async fn converse_answers_text_with_usage_and_records_the_request() {
    let fake = FakeBedrock::start().await.unwrap();
    let c = client(&fake);
    let out = c
        .converse()
        .model_id(MODEL)
        .messages(user("Hello there world"))
        .system(SystemContentBlock::Text("Be brief.".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(text_of(&out), "Fake answer to: Hello there world");
    assert_eq!(out.stop_reason(), &StopReason::EndTurn);
    let usage = out.usage().unwrap();
    assert_eq!(
        (
            usage.input_tokens(),
            usage.output_tokens(),
            usage.total_tokens()
        ),
        (5, 6, 11)
    );
    assert_eq!(
        (
            fake.converse_calls(MODEL),
            fake.stream_calls(MODEL),
            fake.total_calls()
        ),
        (1, 0, 1)
    );
    let last = fake.last_request(MODEL).unwrap();
    assert_eq!(
        last["messages"][0]["content"][0]["text"],
        "Hello there world"
    );
    assert_eq!(last["system"][0]["text"], "Be brief.");
}

#[tokio::test]
async fn converse_applies_limits_images_and_long_answers() {
    let fake = FakeBedrock::start().await.unwrap();
    let c = client(&fake);
    let limited = |max: i32, stop: &str| {
        InferenceConfiguration::builder()
            .max_tokens(max)
            .stop_sequences(stop)
            .build()
    };
    let out = c
        .converse()
        .model_id(MODEL)
        .messages(user("one two three four"))
        .inference_config(limited(3, "zzz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (text_of(&out).as_str(), out.stop_reason()),
        ("Fake answer to:", &StopReason::MaxTokens)
    );
    let out = c
        .converse()
        .model_id(MODEL)
        .messages(user("one STOP two"))
        .inference_config(limited(100, "STOP"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (text_of(&out).as_str(), out.stop_reason()),
        ("Fake answer to: one", &StopReason::StopSequence)
    );
    let image = ImageBlock::builder()
        .format(ImageFormat::Png)
        .source(ImageSource::Bytes(Blob::new(vec![137, 80, 78, 71])))
        .build()
        .unwrap();
    let out = converse(
        &c,
        MODEL,
        vec![msg(
            ConversationRole::User,
            vec![
                ContentBlock::Text("look".into()),
                ContentBlock::Image(image),
            ],
        )],
    )
    .await
    .unwrap();
    assert_eq!(text_of(&out), "Fake answer to: look (with 1 image(s))");
    assert_eq!(out.usage().unwrap().input_tokens(), 2);
    let out = converse(&c, MODEL, vec![user("LONG_ANSWER please")])
        .await
        .unwrap();
    assert_eq!(out.usage().unwrap().output_tokens(), 2700);
    assert!(text_of(&out).ends_with("This is sentence number 300 of a long answer."));
}

#[tokio::test]
async fn converse_stream_events_arrive_in_order() {
    let fake = FakeBedrock::start().await.unwrap();
    let c = client(&fake);
    let (events, error) = collect(&c, MODEL, vec![user("Hello there world")], None).await;
    assert!(error.is_none(), "{error:?}");
    assert!(matches!(events.first(), Some(Ev::MessageStart(_))));
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            Ev::ContentBlockDelta(d) => Some(d.delta().unwrap().as_text().unwrap().clone()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Fake answer to: Hello there world");
    assert_eq!(events.len(), 1 + 6 + 3);
    let n = events.len();
    assert!(matches!(&events[n - 3], Ev::ContentBlockStop(_)));
    assert!(
        matches!(&events[n - 2], Ev::MessageStop(s) if s.stop_reason() == &StopReason::EndTurn)
    );
    let Ev::Metadata(meta) = &events[n - 1] else {
        panic!("no metadata")
    };
    let usage = meta.usage().unwrap();
    assert_eq!(
        (
            usage.input_tokens(),
            usage.output_tokens(),
            usage.total_tokens()
        ),
        (3, 6, 9)
    );
    assert_eq!(
        (fake.converse_calls(MODEL), fake.stream_calls(MODEL)),
        (0, 1)
    );
}

#[tokio::test]
async fn tool_use_round_trip_in_converse_and_stream() {
    let fake = FakeBedrock::start().await.unwrap();
    let c = client(&fake);
    let ask = c
        .converse()
        .model_id(MODEL)
        .messages(user("Weather in Paris?"))
        .tool_config(weather_tools());
    let out = ask.send().await.unwrap();
    assert_eq!(out.stop_reason(), &StopReason::ToolUse);
    let message = out.output().unwrap().as_message().unwrap().clone();
    let tool_use = message.content()[0].as_tool_use().unwrap();
    assert_eq!(
        (tool_use.tool_use_id(), tool_use.name()),
        ("tooluse_fake_1", "get_weather")
    );
    assert_eq!(tool_use.input(), &doc(json!({"city": "test", "days": 1})));

    let result = ToolResultBlock::builder()
        .tool_use_id("tooluse_fake_1")
        .content(ToolResultContentBlock::Text("Sunny".into()))
        .content(ToolResultContentBlock::Json(doc(json!({"c": 21}))))
        .build()
        .unwrap();
    let turn = vec![
        user("Weather in Paris?"),
        message,
        msg(
            ConversationRole::User,
            vec![ContentBlock::ToolResult(result)],
        ),
    ];
    let out = c
        .converse()
        .model_id(MODEL)
        .set_messages(Some(turn))
        .tool_config(weather_tools())
        .send()
        .await
        .unwrap();
    assert_eq!(text_of(&out), r#"Tool results: Sunny {"c":21}"#);

    let (events, error) = collect(&c, MODEL, vec![user("Weather?")], Some(weather_tools())).await;
    assert!(error.is_none(), "{error:?}");
    let Ev::ContentBlockStart(start) = &events[1] else {
        panic!("no contentBlockStart: {events:?}")
    };
    let ContentBlockStart::ToolUse(start) = start.start().unwrap() else {
        panic!("not tool use")
    };
    assert_eq!(
        (start.tool_use_id(), start.name()),
        ("tooluse_fake_1", "get_weather")
    );
    let fragments: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Ev::ContentBlockDelta(d) => match d.delta().unwrap() {
                ContentBlockDelta::ToolUse(t) => Some(t.input().to_owned()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert!(fragments.len() >= 2);
    assert_eq!(
        serde_json::from_str::<Value>(&fragments.concat()).unwrap(),
        json!({"city": "test", "days": 1})
    );
}

#[tokio::test]
async fn stream_faults_surface_as_stream_errors() {
    let fake = FakeBedrock::start().await.unwrap();
    let c = client(&fake);
    fake.set_fault("m-exc", Fault::StreamException { after_events: 2 });
    let (events, error) = collect(&c, "m-exc", vec![user("hi there")], None).await;
    assert_eq!(events.len(), 2);
    let error = error.unwrap().into_service_error();
    assert!(
        matches!(
            error,
            ConverseStreamOutputError::ModelStreamErrorException(_)
        ),
        "{error:?}"
    );

    fake.set_fault("m-cut", Fault::StreamCut { after_events: 2 });
    let (events, error) = collect(&c, "m-cut", vec![user("hi there")], None).await;
    assert_eq!(events.len(), 2);
    assert!(error.is_some());

    let (events, error) =
        collect(&c, "x-fault-stream-exception", vec![user("hi there")], None).await;
    assert_eq!((events.len(), error.is_some()), (3, true));
    let out = converse(&c, "m-cut", vec![user("hi")]).await.unwrap();
    assert_eq!(text_of(&out), "Fake answer to: hi");
}

#[tokio::test]
async fn rest_faults_map_to_converse_error_variants() {
    let fake = FakeBedrock::start().await.unwrap();
    let c = client(&fake);
    type IsExpected = fn(&ConverseError) -> bool;
    let cases: Vec<(Fault, IsExpected)> = vec![
        (Fault::Throttle, |e| {
            matches!(e, ConverseError::ThrottlingException(_))
        }),
        (Fault::Validation("bad".into()), |e| {
            matches!(e, ConverseError::ValidationException(_))
        }),
        (Fault::ServerError, |e| {
            matches!(e, ConverseError::InternalServerException(_))
        }),
        (Fault::Unavailable, |e| {
            matches!(e, ConverseError::ServiceUnavailableException(_))
        }),
        (Fault::ModelTimeout, |e| {
            matches!(e, ConverseError::ModelTimeoutException(_))
        }),
        (Fault::AccessDenied, |e| {
            matches!(e, ConverseError::AccessDeniedException(_))
        }),
        (Fault::NotFound, |e| {
            matches!(e, ConverseError::ResourceNotFoundException(_))
        }),
        (Fault::ModelNotReady, |e| {
            matches!(e, ConverseError::ModelNotReadyException(_))
        }),
    ];
    for (fault, is_expected) in cases {
        fake.set_fault("m", fault.clone());
        let error = converse(&c, "m", vec![user("hi")]).await.unwrap_err();
        assert!(is_expected(&error), "{fault:?} gave {error:?}");
    }
    let error = converse(&c, "my-fault-throttle-model", vec![user("hi")])
        .await
        .unwrap_err();
    assert!(matches!(error, ConverseError::ThrottlingException(_)));
    let error = converse(&c, "my-fault-500", vec![user("hi")])
        .await
        .unwrap_err();
    assert!(matches!(error, ConverseError::InternalServerException(_)));

    fake.set_fault("flaky", Fault::FailTimes(2, Box::new(Fault::Throttle)));
    assert!(converse(&c, "flaky", vec![user("hi")]).await.is_err());
    assert!(converse(&c, "flaky", vec![user("hi")]).await.is_err());
    assert!(converse(&c, "flaky", vec![user("hi")]).await.is_ok());
    assert_eq!(fake.calls("flaky"), 3);

    fake.set_fault("filtered", Fault::ContentFiltered);
    let out = converse(&c, "filtered", vec![user("hi")]).await.unwrap();
    assert_eq!(out.stop_reason(), &StopReason::ContentFiltered);
    let out = converse(&c, "x-fault-guardrail", vec![user("hi")])
        .await
        .unwrap();
    assert_eq!(
        (out.stop_reason(), text_of(&out).as_str()),
        (&StopReason::GuardrailIntervened, BLOCKED_MESSAGE)
    );
}

#[tokio::test]
async fn validation_rejects_bad_conversations() {
    let fake = FakeBedrock::start().await.unwrap();
    let c = client(&fake);
    let error = converse(
        &c,
        MODEL,
        vec![msg(
            ConversationRole::Assistant,
            vec![ContentBlock::Text("hi".into())],
        )],
    )
    .await
    .unwrap_err();
    let ConverseError::ValidationException(e) = &error else {
        panic!("{error:?}")
    };
    assert!(
        e.message()
            .unwrap()
            .contains("must start with a user message"),
        "{e:?}"
    );
    let error = converse(&c, MODEL, vec![user("a"), user("b")])
        .await
        .unwrap_err();
    assert!(matches!(error, ConverseError::ValidationException(_)));
    let error = converse(&c, MODEL, vec![user("  ")]).await.unwrap_err();
    assert!(matches!(error, ConverseError::ValidationException(_)));
    let stray = ToolUseBlock::builder()
        .tool_use_id("t1")
        .name("get_weather")
        .input(doc(json!({})))
        .build()
        .unwrap();
    let result = ToolResultBlock::builder()
        .tool_use_id("other")
        .content(ToolResultContentBlock::Text("x".into()))
        .build()
        .unwrap();
    let turn = vec![
        user("q"),
        msg(
            ConversationRole::Assistant,
            vec![ContentBlock::ToolUse(stray)],
        ),
        msg(
            ConversationRole::User,
            vec![ContentBlock::ToolResult(result)],
        ),
    ];
    let error = c
        .converse()
        .model_id(MODEL)
        .set_messages(Some(turn))
        .tool_config(weather_tools())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(error, ConverseError::ValidationException(_)),
        "{error:?}"
    );
    let bad = InferenceConfiguration::builder().temperature(1.5).build();
    let error = c
        .converse()
        .model_id(MODEL)
        .messages(user("hi"))
        .inference_config(bad)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        error.into_service_error(),
        ConverseError::ValidationException(_)
    ));
    assert_eq!(fake.calls(MODEL), 5);
}

#[tokio::test]
async fn apply_guardrail_masks_pii_and_blocks_words() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.add_blocked_word("forbidden");
    let c = client(&fake);
    let apply = |text: &str| {
        let block =
            GuardrailContentBlock::Text(GuardrailTextBlock::builder().text(text).build().unwrap());
        c.apply_guardrail()
            .guardrail_identifier("gr1")
            .guardrail_version("1")
            .source(GuardrailContentSource::Input)
            .content(block)
            .send()
    };
    let out = apply("Mail bob@example.com or call +1 555 123 4567 today")
        .await
        .unwrap();
    assert_eq!(out.action(), &GuardrailAction::GuardrailIntervened);
    assert_eq!(
        out.outputs()[0].text(),
        Some("Mail {EMAIL} or call {PHONE} today")
    );
    let pii = out.assessments()[0]
        .sensitive_information_policy()
        .unwrap()
        .pii_entities();
    assert_eq!(
        (pii[0].r#match(), pii[0].r#type()),
        ("bob@example.com", &GuardrailPiiEntityType::Email)
    );
    assert_eq!(
        (pii[1].r#match(), pii[1].r#type()),
        ("+1 555 123 4567", &GuardrailPiiEntityType::Phone)
    );

    for text in ["please BLOCKME now", "a Forbidden topic"] {
        let out = apply(text).await.unwrap();
        assert_eq!(out.action(), &GuardrailAction::GuardrailIntervened);
        assert_eq!(out.outputs()[0].text(), Some(BLOCKED_MESSAGE));
        assert!(out.assessments()[0].content_policy().is_some());
    }
    let out = apply("nothing to see, call 555-123").await.unwrap();
    assert_eq!(
        (out.action(), out.outputs().len()),
        (&GuardrailAction::None, 0)
    );
    assert_eq!(out.usage().unwrap().content_policy_units(), 1);
    assert_eq!(
        (
            fake.guardrail_calls("gr1", "1"),
            fake.guardrail_calls("gr1", "2")
        ),
        (4, 0)
    );
}

#[tokio::test]
async fn counters_reset_latency_hang_and_arn_ids() {
    let fake = FakeBedrock::start().await.unwrap();
    let c = client(&fake);
    let arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0";
    converse(&c, arn, vec![user("hi")]).await.unwrap();
    collect(&c, arn, vec![user("hi")], None).await;
    assert_eq!(
        (
            fake.converse_calls(arn),
            fake.stream_calls(arn),
            fake.calls(arn)
        ),
        (1, 1, 2)
    );
    fake.reset();
    assert_eq!(
        (fake.calls(arn), fake.total_calls(), fake.last_request(arn)),
        (0, 0, None)
    );

    fake.set_latency(Duration::from_millis(150), Duration::ZERO);
    let started = Instant::now();
    converse(&c, MODEL, vec![user("hi")]).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    fake.set_latency(Duration::ZERO, Duration::ZERO);

    fake.set_fault("hang", Fault::Hang);
    let hung = tokio::time::timeout(
        Duration::from_millis(300),
        converse(&c, "hang", vec![user("hi")]),
    )
    .await;
    assert!(hung.is_err(), "a hanging call answered");
}

#[test]
fn binary_prints_its_address_and_serves() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fake-bedrock"))
        .args(["--port", "0", "--latency-ms", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("fake-bedrock listening on http://")
        .unwrap()
        .to_owned();
    let get = |path: &str, method: &str| {
        let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
        write!(tcp, "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{{}}").unwrap();
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).unwrap();
        answer
    };
    let answer = get("/model/m%3A1/converse", "POST");
    assert!(
        answer.contains("x-amzn-errortype: ValidationException"),
        "{answer}"
    );
    let calls = |answer: String| {
        serde_json::from_str::<Value>(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap()
    };
    let expected = json!({"guardrails": {}, "models": {"m:1": {"converse": 1, "converse_stream": 0, "invoke": 0}}});
    assert_eq!(calls(get("/_fake/calls", "GET")), expected);
    assert!(get("/_fake/reset", "POST").starts_with("HTTP/1.1 204"));
    assert_eq!(
        calls(get("/_fake/calls", "GET")),
        json!({"guardrails": {}, "models": {}})
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn stream_stall_keeps_the_connection_open_until_shutdown() {
    use aws_sdk_bedrockruntime::config::StalledStreamProtectionConfig;
    use gateway_tests::fake_bedrock::NAME_FAULT_AFTER_EVENTS;

    let fake = FakeBedrock::start().await.unwrap();
    // Like the gateway's clients: the SDK itself must not end a stalled stream.
    let config = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(fake.endpoint())
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .build();
    let c = Client::from_conf(config);
    let bound = Duration::from_secs(5);
    let stalled = Duration::from_millis(300);
    let open = |model: &'static str| {
        let request = c
            .converse_stream()
            .model_id(model)
            .messages(user("one two three four five six"));
        async move {
            tokio::time::timeout(bound, request.send())
                .await
                .expect("send() waits for the 200 head")
                .unwrap()
        }
    };

    // Stall after NAME_FAULT_AFTER_EVENTS events.
    let mut after = open("x-fault-stream-stall").await;
    for _ in 0..NAME_FAULT_AFTER_EVENTS {
        let event = tokio::time::timeout(bound, after.stream.recv()).await;
        assert!(matches!(event, Ok(Ok(Some(_)))), "{event:?}");
    }
    let next = tokio::time::timeout(stalled, after.stream.recv()).await;
    assert!(next.is_err(), "a stalled stream sent more: {next:?}");
    // Converse is not affected.
    let out = converse(&c, "x-fault-stream-stall", vec![user("hi")])
        .await
        .unwrap();
    assert_eq!(text_of(&out), "Fake answer to: hi");

    // Stall before the first event: the head arrives (send() returns), no event does.
    let mut first = open("x-fault-stall-before-first-event").await;
    let next = tokio::time::timeout(stalled, first.stream.recv()).await;
    assert!(next.is_err(), "a stalled stream sent an event: {next:?}");

    // In-process selection stalls the same way.
    fake.set_fault("m-stall", Fault::StreamStall { after_events: 1 });
    let mut set = open("m-stall").await;
    let event = tokio::time::timeout(bound, set.stream.recv()).await;
    assert!(
        matches!(event, Ok(Ok(Some(Ev::MessageStart(_))))),
        "{event:?}"
    );
    let next = tokio::time::timeout(stalled, set.stream.recv()).await;
    assert!(next.is_err(), "a stalled stream sent more: {next:?}");

    // Shutdown releases every stall: recv() completes (end or error) instead of waiting.
    fake.shutdown();
    for out in [&mut after, &mut first, &mut set] {
        let end = tokio::time::timeout(bound, out.stream.recv()).await;
        assert!(
            matches!(end, Ok(Ok(None) | Err(_))),
            "not released: {end:?}"
        );
    }
}
