//! The span builder without a collector: tool calls, tool results, hiding, timings.

use std::time::{Duration, Instant};

use opentelemetry::Value;
use serde_json::json;

use super::spans::{build, Hide};
use super::{AttemptCapture, OutputCapture, RequestTrace, TraceCapture, TraceParent};
use crate::chat::{ChatRequest, ContentBlock, Message, Role, ToolCall, ToolSpec};
use crate::usage::{Outcome, UsageRecord};

fn attr<'a>(span: &'a opentelemetry_sdk::trace::SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn text(span: &opentelemetry_sdk::trace::SpanData, key: &str) -> String {
    attr(span, key)
        .map(|v| v.as_str().into_owned())
        .unwrap_or_default()
}

fn trace_with_tools() -> RequestTrace {
    let started = Instant::now();
    let mut capture = TraceCapture::new(
        started,
        TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    );
    capture.request = Some(ChatRequest {
        model: "m".into(),
        messages: vec![
            Message {
                role: Role::User,
                content: vec![ContentBlock::Text("weather in Paris?".into())],
            },
            Message {
                role: Role::Assistant,
                content: vec![ContentBlock::ToolUse {
                    id: "t1".into(),
                    name: "weather".into(),
                    input: json!({"city": "Paris"}),
                }],
            },
            Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult {
                    tool_use_id: "t1".into(),
                    content: "sunny".into(),
                }],
            },
        ],
        tools: vec![ToolSpec {
            name: "weather".into(),
            description: None,
            parameters: json!({"type": "object"}),
            cache_point: false,
        }],
        ..ChatRequest::default()
    });
    capture.attempts.push(AttemptCapture {
        group: "m".into(),
        deployment_id: "m-0".into(),
        model_id: "us.anthropic.claude-3-haiku-20240307-v1:0".into(),
        started: started + Duration::from_millis(2),
        ended: Some(started + Duration::from_millis(40)),
        error: None,
    });
    capture.output = Some(OutputCapture {
        content: None,
        tool_calls: vec![ToolCall {
            id: "t2".into(),
            name: "weather".into(),
            arguments: "{\"city\":\"Lyon\"}".into(),
        }],
    });
    RequestTrace {
        record: UsageRecord {
            request_id: "r".into(),
            prompt_tokens: 10,
            completion_tokens: 5,
            total_tokens: 15,
            outcome: Outcome::Success,
            ..UsageRecord::default()
        },
        capture,
        ended: started + Duration::from_millis(45),
        cost_split: None,
    }
}

#[test]
fn tool_calls_and_results_become_openinference_messages() {
    let spans = build(&trace_with_tools(), Hide::default());
    assert_eq!(spans.len(), 2);
    let (root, llm) = (&spans[0], &spans[1]);
    assert_eq!(text(llm, "openinference.span.kind"), "LLM");
    assert_eq!(text(llm, "llm.system"), "anthropic");
    assert_eq!(text(llm, "llm.input_messages.0.message.role"), "user");
    assert_eq!(
        text(
            llm,
            "llm.input_messages.1.message.tool_calls.0.tool_call.function.name"
        ),
        "weather"
    );
    assert_eq!(text(llm, "llm.input_messages.2.message.role"), "tool");
    assert_eq!(text(llm, "llm.input_messages.2.message.tool_call_id"), "t1");
    assert!(text(llm, "llm.tools.0.tool.json_schema").contains("\"weather\""));
    assert_eq!(
        text(
            llm,
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments"
        ),
        "{\"city\":\"Lyon\"}"
    );
    assert_eq!(text(llm, "output.mime_type"), "application/json");
    // The caller's trace continues; the LLM span hangs under the root, inside its time.
    assert_eq!(
        format!("{}", root.span_context.trace_id()),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_eq!(format!("{}", root.parent_span_id), "b7ad6b7169203331");
    assert!(root.parent_span_is_remote);
    assert_eq!(llm.parent_span_id, root.span_context.span_id());
    assert!(llm.start_time >= root.start_time && llm.end_time <= root.end_time);
    assert_eq!(
        llm.end_time.duration_since(llm.start_time).unwrap(),
        Duration::from_millis(38)
    );
}

#[test]
fn hidden_inputs_and_outputs_leave_no_content() {
    let spans = build(
        &trace_with_tools(),
        Hide {
            inputs: true,
            outputs: true,
        },
    );
    for span in &spans {
        for kv in &span.attributes {
            let key = kv.key.as_str();
            assert!(
                !key.starts_with("llm.input_messages")
                    && !key.starts_with("llm.output_messages")
                    && !key.starts_with("input.")
                    && !key.starts_with("output."),
                "{key} left in"
            );
        }
        let all = format!("{:?}", span.attributes);
        assert!(!all.contains("Paris") && !all.contains("Lyon"), "{all}");
    }
    assert!(attr(&spans[1], "llm.token_count.total").is_some());
}

#[test]
fn caller_metadata_cannot_pose_as_another_team_key_or_user() {
    let mut trace = trace_with_tools();
    trace.record.key_id = "k-real".into();
    trace.record.team = Some("team-real".into());
    trace.record.user = Some("alice".into());
    trace.record.model = "m".into();
    trace.capture.metadata = Some(json!({
        "team": "team-other", "key_id": "k-other", "key_alias": "admin",
        "user_id": "mallory", "request_id": "forged", "caller": "lex", "model": "big",
        "note": "kept"
    }));
    for span in build(&trace, Hide::default()) {
        let metadata: serde_json::Value = serde_json::from_str(&text(&span, "metadata")).unwrap();
        assert_eq!(
            metadata,
            json!({"team": "team-real", "key_id": "k-real", "user_id": "alice",
                   "request_id": "r", "caller": "", "model": "m", "note": "kept"}),
            "{}",
            span.name
        );
        assert_eq!(text(&span, "user.id"), "alice");
    }
}

#[test]
fn a_cache_hit_is_an_attribute_of_the_request_span() {
    let mut trace = trace_with_tools();
    let root = &build(&trace, Hide::default())[0];
    assert!(attr(root, "gateway.cache_hit").is_none());
    trace.record.cache_hit = Some(true);
    let root = &build(&trace, Hide::default())[0];
    assert_eq!(attr(root, "gateway.cache_hit"), Some(&Value::Bool(true)));
}
