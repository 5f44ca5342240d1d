//! Lambda: tells the after-response extension when an invocation's response has been sent.
//!
//! Every response body is wrapped; when the runtime drops it (the streamed body finished, or the
//! buffered answer was collected), the invocation is done and its jobs have been submitted. An
//! invocation that never reaches the router is signalled by `lambda_extension::InvocationLayer`.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, HttpBody};
use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::after_response::AfterResponse;

pub fn signal_when_sent(router: Router, after: AfterResponse) -> Router {
    router.layer(tower::util::MapResponseLayer::new(
        move |response: Response| {
            let after = after.clone();
            // The body signals the invocation's end, so the runtime's end must not too: two
            // signals for one invocation would release the sandbox of the next one early.
            after.response_body_will_signal();
            let invocation = after.current_invocation();
            response.map(|body| {
                Body::new(SignalOnDrop {
                    inner: body,
                    after: Some((after, invocation)),
                })
            })
        },
    ))
}

struct SignalOnDrop {
    inner: Body,
    /// The queue, and the invocation this body answers (a stream may outlive it).
    after: Option<(AfterResponse, Option<String>)>,
}

impl HttpBody for SignalOnDrop {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for SignalOnDrop {
    fn drop(&mut self) {
        if let Some((after, invocation)) = self.after.take() {
            after.invocation_done(invocation);
        }
    }
}
