//! OpenInference message attributes (`llm.input_messages.N.message.*`, tool calls, tools) and
//! the JSON `input.value` / `output.value` of a chat request and answer.

use opentelemetry::KeyValue;
use serde_json::{json, Value};

use super::OutputCapture;
use crate::chat::{ChatRequest, ContentBlock, Role, ToolCall};

/// One flattened message: role, text, tool calls, and the tool call a tool result answers.
struct Flat {
    role: &'static str,
    content: String,
    tool_calls: Vec<ToolCall>,
    tool_call_id: Option<String>,
}

/// The request's messages as OpenAI roles: system, user, assistant (with tool calls), tool.
fn flatten(request: &ChatRequest) -> Vec<Flat> {
    let mut out: Vec<Flat> = request
        .system
        .iter()
        .map(|text| Flat {
            role: "system",
            content: text.clone(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        })
        .collect();
    for message in &request.messages {
        let role = match message.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        let mut flat = Flat {
            role,
            content: String::new(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        };
        for block in &message.content {
            match block {
                ContentBlock::Text(text) => flat.content.push_str(text),
                ContentBlock::Image { .. } => flat.content.push_str("[image]"),
                ContentBlock::Document { name, .. } => {
                    flat.content.push_str(&format!("[document: {name}]"))
                }
                ContentBlock::Reasoning(_) | ContentBlock::CachePoint => {}
                ContentBlock::ToolUse { id, name, input } => flat.tool_calls.push(ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    arguments: input.to_string(),
                }),
                ContentBlock::ToolResult {
                    tool_use_id,
                    content,
                } => out.push(Flat {
                    role: "tool",
                    content: content.clone(),
                    tool_calls: Vec::new(),
                    tool_call_id: Some(tool_use_id.clone()),
                }),
            }
        }
        if !flat.content.is_empty() || !flat.tool_calls.is_empty() {
            out.push(flat);
        }
    }
    out
}

fn message_attributes(prefix: &str, index: usize, message: &Flat, out: &mut Vec<KeyValue>) {
    let p = format!("{prefix}.{index}.message");
    out.push(KeyValue::new(format!("{p}.role"), message.role));
    if !message.content.is_empty() {
        out.push(KeyValue::new(
            format!("{p}.content"),
            message.content.clone(),
        ));
    }
    if let Some(id) = &message.tool_call_id {
        out.push(KeyValue::new(format!("{p}.tool_call_id"), id.clone()));
    }
    tool_call_attributes(&p, &message.tool_calls, out);
}

fn tool_call_attributes(prefix: &str, calls: &[ToolCall], out: &mut Vec<KeyValue>) {
    for (j, call) in calls.iter().enumerate() {
        let t = format!("{prefix}.tool_calls.{j}.tool_call");
        out.push(KeyValue::new(format!("{t}.id"), call.id.clone()));
        out.push(KeyValue::new(
            format!("{t}.function.name"),
            call.name.clone(),
        ));
        out.push(KeyValue::new(
            format!("{t}.function.arguments"),
            call.arguments.clone(),
        ));
    }
}

/// `llm.input_messages.*` and `llm.tools.*`.
pub(super) fn input_messages(request: &ChatRequest, out: &mut Vec<KeyValue>) {
    for (i, message) in flatten(request).iter().enumerate() {
        message_attributes("llm.input_messages", i, message, out);
    }
    for (i, tool) in request.tools.iter().enumerate() {
        let schema = json!({
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
            }
        });
        out.push(KeyValue::new(
            format!("llm.tools.{i}.tool.json_schema"),
            schema.to_string(),
        ));
    }
}

/// `llm.output_messages.0.*`.
pub(super) fn output_messages(output: &OutputCapture, out: &mut Vec<KeyValue>) {
    let message = Flat {
        role: "assistant",
        content: output.content.clone().unwrap_or_default(),
        tool_calls: output.tool_calls.clone(),
        tool_call_id: None,
    };
    message_attributes("llm.output_messages", 0, &message, out);
}

/// The request's messages as OpenAI-shaped JSON, for `input.value`.
pub(super) fn input_value(request: &ChatRequest) -> String {
    let messages: Vec<Value> = flatten(request)
        .iter()
        .map(|m| {
            let mut v = json!({"role": m.role, "content": m.content});
            if !m.tool_calls.is_empty() {
                v["tool_calls"] = tool_calls_json(&m.tool_calls);
            }
            if let Some(id) = &m.tool_call_id {
                v["tool_call_id"] = json!(id);
            }
            v
        })
        .collect();
    json!({"model": request.model, "messages": messages}).to_string()
}

/// The answer for `output.value`: its text, or JSON when it called tools. Returns the value
/// and its mime type.
pub(super) fn output_value(output: &OutputCapture) -> (String, &'static str) {
    if output.tool_calls.is_empty() {
        (output.content.clone().unwrap_or_default(), "text/plain")
    } else {
        let v = json!({
            "role": "assistant",
            "content": output.content,
            "tool_calls": tool_calls_json(&output.tool_calls),
        });
        (v.to_string(), "application/json")
    }
}

fn tool_calls_json(calls: &[ToolCall]) -> Value {
    Value::Array(
        calls
            .iter()
            .map(|c| {
                json!({"id": c.id, "type": "function",
                       "function": {"name": c.name, "arguments": c.arguments}})
            })
            .collect(),
    )
}

/// `llm.invocation_parameters`: the parameters the request set.
pub(super) fn invocation_parameters(request: &ChatRequest) -> String {
    let p = &request.params;
    let mut v = serde_json::Map::new();
    if let Some(max) = p.max_tokens {
        v.insert("max_tokens".into(), json!(max));
    }
    if let Some(t) = p.temperature {
        v.insert("temperature".into(), json!(t));
    }
    if let Some(t) = p.top_p {
        v.insert("top_p".into(), json!(t));
    }
    if !p.stop.is_empty() {
        v.insert("stop".into(), json!(p.stop));
    }
    if request.stream {
        v.insert("stream".into(), json!(true));
    }
    Value::Object(v).to_string()
}
