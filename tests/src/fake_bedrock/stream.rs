//! ConverseStream wire format: an answer as AWS event-stream frames, streamed one frame at a time.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use axum::body::Body;
use axum::http::{header, HeaderValue as HttpHeaderValue};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{json, Value};

use super::answer::{Answer, Block};
use super::state::State;

/// One event of the stream: its `:event-type` and JSON payload.
pub(crate) struct Event {
    event_type: &'static str,
    payload: Value,
}

fn event(event_type: &'static str, payload: Value) -> Event {
    Event {
        event_type,
        payload,
    }
}

/// How the stream ends after its events.
pub(crate) enum End {
    /// All events, then the body ends normally.
    Complete,
    /// `after` events, then an exception frame of this `:exception-type`.
    Exception { after: usize, kind: &'static str },
    /// `after` events, then the connection is dropped mid-body.
    Cut { after: usize },
    /// `after` events, then nothing (connection open) until the fake shuts down; then the body
    /// ends. The head is still sent: hyper flushes it when the body's first poll is pending.
    Stall { after: usize },
}

/// The events for an answer: messageStart, the block's events, messageStop, metadata. Text
/// comes one word per delta, or in pieces of `chunk_bytes` (whole characters) when not 0.
pub(crate) fn events(answer: &Answer, latency_ms: u64, chunk_bytes: usize) -> Vec<Event> {
    let mut out = vec![event("messageStart", json!({"role": "assistant"}))];
    // Thinking, when on, is block 0 and the answer block 1.
    let mut index = 0;
    if let Some((text, signature)) = &answer.reasoning {
        for word in text.split_inclusive(' ') {
            let delta =
                json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": word}}});
            out.push(event("contentBlockDelta", delta));
        }
        if let Some(signature) = signature {
            let delta = json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": signature}}});
            out.push(event("contentBlockDelta", delta));
        }
        out.push(event("contentBlockStop", json!({"contentBlockIndex": 0})));
        index = 1;
    }
    match &answer.block {
        Block::Text(text) => {
            let pieces = match chunk_bytes {
                0 => text.split_inclusive(' ').collect(),
                n => chunks(text, n),
            };
            let mut words = pieces.into_iter().peekable();
            if words.peek().is_none() {
                let delta = json!({"contentBlockIndex": index, "delta": {"text": ""}});
                out.push(event("contentBlockDelta", delta));
            }
            for word in words {
                let delta = json!({"contentBlockIndex": index, "delta": {"text": word}});
                out.push(event("contentBlockDelta", delta));
            }
        }
        Block::ToolUse { id, name, input } => {
            let start = json!({"toolUseId": id, "name": name});
            let start = json!({"contentBlockIndex": index, "start": {"toolUse": start}});
            out.push(event("contentBlockStart", start));
            for fragment in fragments(&input.to_string()) {
                let delta =
                    json!({"contentBlockIndex": index, "delta": {"toolUse": {"input": fragment}}});
                out.push(event("contentBlockDelta", delta));
            }
        }
    }
    out.push(event(
        "contentBlockStop",
        json!({"contentBlockIndex": index}),
    ));
    out.push(event(
        "messageStop",
        json!({"stopReason": answer.stop_reason}),
    ));
    let metadata = json!({"usage": answer.usage(), "metrics": {"latencyMs": latency_ms}});
    out.push(event("metadata", metadata));
    out
}

/// Splits JSON text into at least 2 fragments of at most 16 characters (on char boundaries).
fn fragments(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(2).clamp(1, 16);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

fn frame(headers: [(&'static str, &'static str); 3], payload: &Value) -> io::Result<Bytes> {
    let payload = serde_json::to_vec(payload)?;
    let mut buf = Vec::with_capacity(payload.len() + 96);
    let mut message = Message::new(payload);
    for (name, value) in headers {
        message = message.add_header(Header::new(name, HeaderValue::String(value.into())));
    }
    write_message_to(&message, &mut buf).map_err(io::Error::other)?;
    Ok(Bytes::from(buf))
}

fn event_frame(ev: &Event) -> io::Result<Bytes> {
    let headers = [
        (":message-type", "event"),
        (":event-type", ev.event_type),
        (":content-type", "application/json"),
    ];
    frame(headers, &ev.payload)
}

fn exception_frame(kind: &'static str) -> io::Result<Bytes> {
    let headers = [
        (":message-type", "exception"),
        (":exception-type", kind),
        (":content-type", "application/json"),
    ];
    let message = format!("Fake {kind} injected mid-stream.");
    frame(headers, &json!({ "message": message }))
}

struct Producer {
    events: std::vec::IntoIter<Event>,
    remaining: usize,
    end: Option<End>,
    delay: Duration,
    state: Arc<State>,
}

fn cut() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "fake stream cut")
}

/// A streaming 200 response sending each frame as it is produced, after the per-event delay.
pub(crate) fn response(events: Vec<Event>, end: End, state: Arc<State>) -> Response {
    let remaining = match end {
        End::Complete => usize::MAX,
        End::Exception { after, .. } | End::Cut { after } | End::Stall { after } => after,
    };
    let producer = Producer {
        events: events.into_iter(),
        remaining,
        end: Some(end),
        delay: state.event_delay(),
        state,
    };
    let stream = futures_util::stream::unfold(producer, |mut p| async move {
        let next = if p.remaining > 0 {
            p.events.next()
        } else {
            None
        };
        let item = match next {
            Some(ev) => {
                p.remaining -= 1;
                if !p.delay.is_zero() {
                    tokio::select! {
                        () = tokio::time::sleep(p.delay) => {}
                        () = p.state.shutting_down() => {
                            p.remaining = 0;
                            p.end = Some(End::Cut { after: 0 });
                        }
                    }
                }
                event_frame(&ev)
            }
            None => match p.end.take()? {
                End::Complete => return None,
                End::Exception { kind, .. } => exception_frame(kind),
                End::Cut { .. } => {
                    // Let hyper flush the head and the events sent so far, so the cut lands mid-body.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    Err(cut())
                }
                End::Stall { .. } => {
                    p.state.shutting_down().await;
                    return None;
                }
            },
        };
        Some((item, p))
    });
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HttpHeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    response
}

/// `text` in pieces of about `n` bytes, never splitting a character.
fn chunks(text: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut at = n.min(rest.len());
        while !rest.is_char_boundary(at) {
            at += 1;
        }
        let (piece, tail) = rest.split_at(at);
        out.push(piece);
        rest = tail;
    }
    out
}
