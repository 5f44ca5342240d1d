//! Property tests for the Bedrock edge: any OpenAI body parses, validates and translates to
//! Converse input or fails with a 4xx in OpenAI's shape; any sequence of ConverseStream events
//! converts without a panic and with distinct, dense tool-call indices (bounded runs in
//! `cargo test`; failures persist in `proptest-regressions/`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_bedrockruntime::types as bedrock;
use bytes::Bytes;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::request::converse_parts;
use super::stream::StreamConverter;
use crate::chat::StreamEvent;
use crate::http::{parse_json, ApiError};
use crate::openai::from_openai;
use crate::openai::ChatCompletionRequest;

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value for a field: usually of a plausible shape, sometimes anything.
fn one_of(plausible: Vec<Value>) -> impl Strategy<Value = Value> {
    prop_oneof![4 => prop::sample::select(plausible), 1 => any_json()]
}

fn content() -> impl Strategy<Value = Value> {
    let part = one_of(vec![
        json!({"type": "text", "text": "hi"}),
        json!({"type": "text", "text": ""}),
        json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}),
        json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}),
        json!({"type": "image_url", "image_url": {"url": "data:;base64,"}}),
        json!({"type": "image_url", "image_url": {"url": "https://example.com/x.png"}}),
        json!({"type": "input_audio", "input_audio": {}}),
    ]);
    prop_oneof![
        ".{0,20}".prop_map(Value::String),
        prop::collection::vec(part, 0..3).prop_map(Value::Array),
        Just(Value::Null),
        any_json(),
    ]
}

fn message() -> impl Strategy<Value = Value> {
    let role = one_of(
        [
            "system",
            "developer",
            "user",
            "assistant",
            "tool",
            "function",
            "bogus",
        ]
        .map(Value::from)
        .to_vec(),
    );
    let tool_calls = one_of(vec![
        json!([{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]),
        json!([{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{"}}]),
        json!([{"id": "", "type": "function", "function": {"name": "", "arguments": "[1]"}}]),
        json!([]),
    ]);
    (
        role,
        prop::option::of(content()),
        prop::option::of(tool_calls),
        prop::option::of(one_of(vec![json!("c1"), json!("c2"), json!("")])),
    )
        .prop_map(|(role, content, tool_calls, tool_call_id)| {
            let mut m = Map::new();
            m.insert("role".into(), role);
            for (key, value) in [
                ("content", content),
                ("tool_calls", tool_calls),
                ("tool_call_id", tool_call_id),
            ] {
                if let Some(value) = value {
                    m.insert(key.into(), value);
                }
            }
            Value::Object(m)
        })
}

/// Optional request fields, each with plausible and hostile values.
fn options() -> impl Strategy<Value = Vec<(&'static str, Value)>> {
    let number = || {
        one_of(vec![
            json!(0),
            json!(1),
            json!(-1),
            json!(0.5),
            json!(2.5),
            json!(4294967296u64),
            json!(1e300),
        ])
    };
    let fields = prop_oneof![
        number().prop_map(|v| ("max_tokens", v)),
        number().prop_map(|v| ("max_completion_tokens", v)),
        number().prop_map(|v| ("temperature", v)),
        number().prop_map(|v| ("top_p", v)),
        number().prop_map(|v| ("n", v)),
        one_of(vec![json!("END"), json!(["a", "b"]), json!([]), json!([""])]).prop_map(|v| ("stop", v)),
        one_of(vec![json!(true), json!(false)]).prop_map(|v| ("stream", v)),
        one_of(vec![json!({"include_usage": true})]).prop_map(|v| ("stream_options", v)),
        one_of(vec![
            json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]),
            json!([{"type": "function", "function": {"name": "f"}}]),
            json!([{"type": "function", "function": {"name": "", "parameters": []}}]),
            json!([]),
        ])
        .prop_map(|v| ("tools", v)),
        one_of(vec![
            json!("auto"),
            json!("none"),
            json!("required"),
            json!({"type": "function", "function": {"name": "f"}}),
            json!({"type": "function", "function": {"name": "missing"}}),
        ])
        .prop_map(|v| ("tool_choice", v)),
        one_of(vec![json!(["other"]), json!([])]).prop_map(|v| ("fallbacks", v)),
        one_of(vec![json!({"type": "json_object"}), json!({"type": "text"})])
            .prop_map(|v| ("response_format", v)),
        one_of(vec![json!(true)]).prop_map(|v| ("logprobs", v)),
        one_of(vec![json!(1.0), json!(-3)]).prop_map(|v| ("timeout", v)),
        one_of(vec![json!("u1")]).prop_map(|v| ("user", v)),
        one_of(vec![json!({"k": "v"})]).prop_map(|v| ("metadata", v)),
        ("[a-z_]{1,10}", any_json()).prop_map(|(_, v)| ("unknown_field", v)),
    ];
    prop::collection::vec(fields, 0..5)
}

fn body() -> impl Strategy<Value = Value> {
    (
        one_of(vec![json!("m"), json!(""), json!("a/b")]),
        prop::collection::vec(message(), 0..5),
        options(),
    )
        .prop_map(|(model, messages, options)| {
            let mut body = Map::new();
            body.insert("model".into(), model);
            body.insert("messages".into(), Value::Array(messages));
            for (key, value) in options {
                body.insert(key.into(), value);
            }
            Value::Object(body)
        })
}

/// A body of the right shape (alternating turns ending with the user's, plausible options),
/// so most reach the translation; texts and option values vary.
fn plausible_body() -> impl Strategy<Value = Value> {
    let options = prop::collection::btree_map(
        prop::sample::select(vec![
            "max_tokens",
            "temperature",
            "top_p",
            "stop",
            "stream",
            "tools",
            "tool_choice",
            "user",
        ]),
        prop::sample::select(vec![
            json!(1),
            json!(0.5),
            json!(4096),
            json!("END"),
            json!(["a", "b"]),
            json!(true),
            json!("auto"),
            json!("none"),
            json!("u1"),
            json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]),
        ]),
        0..4,
    );
    (
        prop::option::of(".{0,12}"),
        prop::collection::vec((".{0,12}", ".{1,12}"), 0..3),
        ".{1,12}",
        options,
    )
        .prop_map(|(system, turns, last, options)| {
            let mut messages = Vec::new();
            if let Some(system) = system {
                messages.push(json!({"role": "system", "content": system}));
            }
            for (user, assistant) in turns {
                messages.push(json!({"role": "user", "content": user}));
                messages.push(json!({"role": "assistant", "content": assistant}));
            }
            messages.push(json!({"role": "user", "content": [{"type": "text", "text": last}]}));
            let mut body = Map::new();
            body.insert("model".into(), json!("m"));
            body.insert("messages".into(), Value::Array(messages));
            for (key, value) in options {
                body.insert(key.into(), value);
            }
            Value::Object(body)
        })
}

/// A body through the gateway's edge: parsed, validated, translated; every refusal a 4xx.
fn check_body(bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let refused = |err: crate::error::GatewayError| {
        let api = ApiError::from(err);
        prop_assert!(
            api.status().is_client_error(),
            "{} {}",
            api.status(),
            api.to_json()
        );
        let shaped: Value = serde_json::from_str(&api.to_json()).unwrap();
        prop_assert!(shaped["error"]["message"].is_string(), "{}", shaped);
        Ok(())
    };
    let wire = match parse_json::<ChatCompletionRequest>(Ok(Bytes::from(bytes))) {
        Ok(wire) => wire,
        Err(err) => return refused(err),
    };
    let chat = match from_openai(wire) {
        Ok(chat) => chat,
        Err(err) => return refused(err),
    };
    let parts = converse_parts(&chat);
    prop_assert!(
        parts.is_ok(),
        "a valid request did not translate: {:?}",
        parts.err()
    );
    let parts = parts.unwrap();
    prop_assert_eq!(parts.messages.len(), chat.messages.len());
    prop_assert_eq!(parts.system.len(), chat.system.len());
    Ok(())
}

fn stop_reason() -> impl Strategy<Value = bedrock::StopReason> {
    prop::sample::select(vec![
        "end_turn",
        "tool_use",
        "max_tokens",
        "stop_sequence",
        "guardrail_intervened",
        "content_filtered",
        "model_context_window_exceeded",
        "something_new",
        "",
    ])
    .prop_map(bedrock::StopReason::from)
}

fn bedrock_event() -> impl Strategy<Value = bedrock::ConverseStreamOutput> {
    use bedrock::ConverseStreamOutput as Event;
    let block = prop_oneof![4 => 0i32..4, 1 => any::<i32>()];
    prop_oneof![
        Just(Event::MessageStart(
            bedrock::MessageStartEvent::builder()
                .role(bedrock::ConversationRole::Assistant)
                .build()
                .unwrap()
        )),
        (block.clone(), ".{0,6}", ".{0,6}").prop_map(|(index, id, name)| {
            Event::ContentBlockStart(
                bedrock::ContentBlockStartEvent::builder()
                    .content_block_index(index)
                    .start(bedrock::ContentBlockStart::ToolUse(
                        bedrock::ToolUseBlockStart::builder()
                            .tool_use_id(id)
                            .name(name)
                            .build()
                            .unwrap(),
                    ))
                    .build()
                    .unwrap(),
            )
        }),
        (block.clone(), ".{0,6}").prop_map(|(index, text)| {
            Event::ContentBlockDelta(
                bedrock::ContentBlockDeltaEvent::builder()
                    .content_block_index(index)
                    .delta(bedrock::ContentBlockDelta::Text(text))
                    .build()
                    .unwrap(),
            )
        }),
        (block, ".{0,6}").prop_map(|(index, input)| {
            Event::ContentBlockDelta(
                bedrock::ContentBlockDeltaEvent::builder()
                    .content_block_index(index)
                    .delta(bedrock::ContentBlockDelta::ToolUse(
                        bedrock::ToolUseBlockDelta::builder()
                            .input(input)
                            .build()
                            .unwrap(),
                    ))
                    .build()
                    .unwrap(),
            )
        }),
        stop_reason().prop_map(|reason| {
            Event::MessageStop(
                bedrock::MessageStopEvent::builder()
                    .stop_reason(reason)
                    .build()
                    .unwrap(),
            )
        }),
        (any::<i32>(), any::<i32>(), any::<i32>()).prop_map(|(input, output, total)| {
            Event::Metadata(
                bedrock::ConverseStreamMetadataEvent::builder()
                    .usage(
                        bedrock::TokenUsage::builder()
                            .input_tokens(input)
                            .output_tokens(output)
                            .total_tokens(total)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_are_a_request_or_a_4xx(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        check_body(bytes)?;
    }

    #[test]
    fn any_body_translates_to_converse_or_is_a_4xx(
        body in prop_oneof![body(), plausible_body()],
    ) {
        check_body(serde_json::to_vec(&body).unwrap())?;
    }

    #[test]
    fn any_bedrock_event_sequence_converts_with_distinct_tool_indices(
        events in prop::collection::vec(bedrock_event(), 0..24),
    ) {
        let mut converter = StreamConverter::default();
        let mut started = Vec::new();
        for event in events {
            match converter.convert(event) {
                Some(StreamEvent::ToolCallStart { index, .. }) => started.push(index),
                Some(StreamEvent::ToolCallDelta { index, .. }) => {
                    prop_assert!(started.contains(&index), "a delta for an unstarted call");
                }
                Some(StreamEvent::TextDelta(text)) => prop_assert!(!text.is_empty()),
                _ => {}
            }
        }
        // OpenAI's tool-call indices: 0, 1, 2, ... in the order the calls start.
        let dense: Vec<u32> = (0..u32::try_from(started.len()).unwrap()).collect();
        prop_assert_eq!(started, dense);
    }
}

/// A ConverseStream-like event frame: the headers the SDK reads and a JSON payload.
fn frame(event_type: &str, payload: &str) -> aws_smithy_types::event_stream::Message {
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
    Message::new(payload.as_bytes().to_vec())
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String("event".into()),
        ))
        .add_header(Header::new(
            ":event-type",
            HeaderValue::String(event_type.to_owned().into()),
        ))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ))
}

/// Feeds `wire` to the SDK's frame decoder in chunks of the given sizes: the messages decoded,
/// and whether it stopped on an error.
fn decode(wire: &[u8], sizes: &[usize]) -> (Vec<aws_smithy_types::event_stream::Message>, bool) {
    use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
    let mut decoder = MessageFrameDecoder::new();
    let mut buffer = bytes::BytesMut::new();
    let mut messages = Vec::new();
    let mut at = 0;
    let mut sizes = sizes.iter().cycle();
    while at < wire.len() {
        let end = (at + sizes.next().copied().unwrap_or(1)).min(wire.len());
        buffer.extend_from_slice(&wire[at..end]);
        at = end;
        loop {
            match decoder.decode_frame(&mut buffer) {
                Ok(DecodedFrame::Complete(message)) => messages.push(message),
                Ok(DecodedFrame::Incomplete) => break,
                Err(_) => return (messages, true),
            }
        }
    }
    (messages, false)
}

fn frames() -> impl Strategy<Value = Vec<aws_smithy_types::event_stream::Message>> {
    let event = (
        prop::sample::select(vec![
            "messageStart",
            "contentBlockStart",
            "contentBlockDelta",
            "messageStop",
            "metadata",
        ]),
        ".{0,40}",
    )
        .prop_map(|(kind, text)| frame(kind, &json!({"delta": {"text": text}}).to_string()));
    prop::collection::vec(event, 1..6)
}

fn encode(messages: &[aws_smithy_types::event_stream::Message]) -> Vec<u8> {
    let mut wire = Vec::new();
    for message in messages {
        aws_smithy_eventstream::frame::write_message_to(message, &mut wire).unwrap();
    }
    wire
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn event_stream_frames_split_anywhere_decode_whole_and_in_order(
        messages in frames(),
        sizes in prop::collection::vec(1usize..64, 1..6),
    ) {
        let (decoded, failed) = decode(&encode(&messages), &sizes);
        prop_assert!(!failed);
        prop_assert_eq!(decoded, messages);
    }

    #[test]
    fn a_garbled_frame_is_an_error_never_a_different_event(
        messages in frames(),
        flips in prop::collection::vec((any::<usize>(), 1u8..=255), 1..4),
        sizes in prop::collection::vec(1usize..64, 1..6),
    ) {
        let mut wire = encode(&messages);
        for (at, mask) in &flips {
            let at = at % wire.len();
            wire[at] ^= mask;
        }
        let (decoded, _) = decode(&wire, &sizes);
        // Checksums catch every garbled byte: what decodes is an unchanged prefix.
        prop_assert!(decoded.len() <= messages.len());
        prop_assert_eq!(&decoded[..], &messages[..decoded.len()]);
    }

    #[test]
    fn any_bytes_through_the_frame_decoder_never_panic(
        wire in prop::collection::vec(any::<u8>(), 0..512),
        sizes in prop::collection::vec(1usize..64, 1..6),
    ) {
        let _ = decode(&wire, &sizes);
    }
}
