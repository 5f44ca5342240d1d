//! A streamed answer as a `text/event-stream` body: each event is framed as it arrives; the
//! pipeline's stream decides what arrives (timeouts, guardrails, accounting). How events are
//! framed is the API's ([`Framer`]: OpenAI's chunks here, Anthropic's events in `messages`).

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures_util::Stream;
use http::{header, HeaderValue};

use super::error::ApiError;
use crate::chat::StreamEvent;
use crate::error::GatewayError;
use crate::openai::response::unix_now;
use crate::openai::ChunkWriter;
use crate::pipeline::AnswerStream;

/// How one API writes a stream's events.
pub(super) trait Framer: Send + Unpin + 'static {
    /// The frames for one event (empty for none).
    fn event(&mut self, event: &StreamEvent) -> Bytes;
    /// The last frame of a stream that failed after it began.
    fn error(&mut self, err: GatewayError) -> Bytes;
    /// The last frames of a stream that ran to its end.
    fn end(&mut self) -> Bytes;
}

/// OpenAI's `chat.completion.chunk` frames, ending with `[DONE]`.
struct OpenAiChunks(ChunkWriter);

impl Framer for OpenAiChunks {
    fn event(&mut self, event: &StreamEvent) -> Bytes {
        self.0.event(event)
    }
    fn error(&mut self, err: GatewayError) -> Bytes {
        self.0.error(&ApiError::from(err).to_json())
    }
    fn end(&mut self) -> Bytes {
        ChunkWriter::done()
    }
}

pub fn response(id: String, model: String, include_usage: bool, events: AnswerStream) -> Response {
    framed(
        events,
        OpenAiChunks(ChunkWriter::new(id, unix_now(), model, include_usage)),
    )
}

/// `events` as an SSE response, framed by `framer`.
pub(super) fn framed(events: AnswerStream, framer: impl Framer) -> Response {
    let body = SseBody {
        events,
        framer,
        finished: false,
    };
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Frames each event; ends with the framer's end, or with its error frame if the stream
/// failed.
struct SseBody<F> {
    events: AnswerStream,
    framer: F,
    finished: bool,
}

impl<F: Framer> Stream for SseBody<F> {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.finished {
                return Poll::Ready(None);
            }
            match Pin::new(&mut self.events).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(event))) => {
                    let frame = self.framer.event(&event);
                    if !frame.is_empty() {
                        return Poll::Ready(Some(Ok(frame)));
                    }
                }
                Poll::Ready(Some(Err(err))) => {
                    self.finished = true;
                    let frame = self.framer.error(err);
                    return Poll::Ready(Some(Ok(frame)));
                }
                Poll::Ready(None) => {
                    self.finished = true;
                    let frame = self.framer.end();
                    return Poll::Ready(Some(Ok(frame)));
                }
            }
        }
    }
}
