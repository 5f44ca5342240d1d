//! A streamed answer as a `text/event-stream` body: each event is framed as it arrives; the
//! pipeline's stream decides what arrives (timeouts, guardrails, accounting).

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures_util::Stream;
use http::{header, HeaderValue};

use super::error::ApiError;
use crate::openai::response::unix_now;
use crate::openai::ChunkWriter;
use crate::pipeline::AnswerStream;

pub fn response(id: String, model: String, include_usage: bool, events: AnswerStream) -> Response {
    let body = SseBody {
        events,
        writer: ChunkWriter::new(id, unix_now(), model, include_usage),
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

/// Frames each event; ends with `[DONE]`, or with an error frame (and no `[DONE]`) if the
/// stream failed.
struct SseBody {
    events: AnswerStream,
    writer: ChunkWriter,
    finished: bool,
}

impl Stream for SseBody {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.finished {
                return Poll::Ready(None);
            }
            match Pin::new(&mut self.events).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(event))) => {
                    let frame = self.writer.event(&event);
                    if !frame.is_empty() {
                        return Poll::Ready(Some(Ok(frame)));
                    }
                }
                Poll::Ready(Some(Err(err))) => {
                    self.finished = true;
                    let frame = self.writer.error(&ApiError::from(err).to_json());
                    return Poll::Ready(Some(Ok(frame)));
                }
                Poll::Ready(None) => {
                    self.finished = true;
                    return Poll::Ready(Some(Ok(ChunkWriter::done())));
                }
            }
        }
    }
}
