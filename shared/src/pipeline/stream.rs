//! A streamed answer as the pipeline hands it out: provider events bounded in time, counted,
//! and accounted for exactly once, however the stream ends.
//!
//! [`Timed`] ends a stream that stalls: no event for `stream_idle_timeout`, or the invocation's
//! deadline, gives a timeout error as the last item. [`AnswerStream`] records the time to the
//! first token and the usage, and finishes the request's [`Accounting`] when the stream ends,
//! breaks, or is dropped before its end (the client went away). [`Timed`] counts the model's
//! output as it arrives (before output guardrails hold or drop any), to charge a stream that
//! ended without its usage event (`account`'s estimate).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::Stream;
use tokio::time::Sleep;

use super::account::{Accounting, Charges};
use crate::chat::{FinishReason, StreamEvent, ToolCall, Usage};
use crate::error::{GatewayError, TimeoutKind};
use crate::observability::OutputCapture;
use crate::providers::EventStream;
use crate::router::InFlight;

/// Events with gateway errors: what the pipeline's stream stages pass along.
pub type GatewayEvents = Pin<Box<dyn Stream<Item = Result<StreamEvent, GatewayError>> + Send>>;

/// Provider events, ended with a timeout error when the next one is too long in coming.
pub(crate) struct Timed {
    events: EventStream,
    /// Counts the model's output as it arrives.
    received: Charges,
    idle: Duration,
    deadline: Option<tokio::time::Instant>,
    timer: Pin<Box<Sleep>>,
    finished: bool,
}

impl Timed {
    pub(crate) fn new(
        events: EventStream,
        idle: Duration,
        deadline: Option<tokio::time::Instant>,
        received: Charges,
    ) -> Self {
        let mut timed = Timed {
            events,
            received,
            idle,
            deadline,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            finished: false,
        };
        timed.rearm();
        timed
    }

    /// The next event is due within `idle`, and never after the deadline.
    fn rearm(&mut self) {
        let idle = tokio::time::Instant::now() + self.idle;
        let due = self.deadline.map_or(idle, |deadline| deadline.min(idle));
        self.timer.as_mut().reset(due);
    }

    fn timeout_kind(&self) -> TimeoutKind {
        match self.deadline {
            Some(deadline) if deadline <= tokio::time::Instant::now() => TimeoutKind::Deadline,
            _ => TimeoutKind::Idle,
        }
    }
}

impl Stream for Timed {
    type Item = Result<StreamEvent, GatewayError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match self.events.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(event))) => {
                self.rearm();
                self.received.received(&event);
                Poll::Ready(Some(Ok(event)))
            }
            Poll::Ready(Some(Err(err))) => {
                self.finished = true;
                Poll::Ready(Some(Err(err.into())))
            }
            Poll::Ready(None) => {
                self.finished = true;
                Poll::Ready(None)
            }
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.finished = true;
                    Poll::Ready(Some(Err(self.timeout_kind().into())))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// Where a stream comes from: known before its first chunk, so the edge can say it in headers.
#[derive(Debug, Clone, Default)]
pub struct Routing {
    pub deployment_id: String,
    pub retries: u32,
    /// Model groups fallen back to, in order.
    pub fallbacks: Vec<String>,
    /// How the response cache took part (`None`: it did not).
    pub cache: Option<Box<crate::cache::CacheStatus>>,
}

/// The stream a caller receives. Ends after its first error.
pub struct AnswerStream {
    events: GatewayEvents,
    account: Option<Accounting>,
    /// The deployment's in-flight count and health, told how the stream ended.
    in_flight: Option<InFlight>,
    started: Instant,
    first_token: Option<Duration>,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
    span: tracing::Span,
    routing: Routing,
    /// The answer as sent, for the trace (only when tracing is on).
    output: Option<OutputCapture>,
}

impl AnswerStream {
    pub(crate) fn new(
        events: GatewayEvents,
        account: Accounting,
        in_flight: InFlight,
        started: Instant,
        routing: Routing,
    ) -> Self {
        let output = account.capturing().then(OutputCapture::default);
        AnswerStream {
            output,
            events,
            account: Some(account),
            in_flight: Some(in_flight),
            started,
            first_token: None,
            usage: None,
            finish: None,
            span: tracing::Span::current(),
            routing,
        }
    }

    /// A cached answer replayed: no deployment is in flight.
    pub(crate) fn cached(
        events: GatewayEvents,
        account: Accounting,
        started: Instant,
        routing: Routing,
    ) -> Self {
        let output = account.capturing().then(OutputCapture::default);
        AnswerStream {
            output,
            events,
            account: Some(account),
            in_flight: None,
            started,
            first_token: None,
            usage: None,
            finish: None,
            span: tracing::Span::current(),
            routing,
        }
    }

    /// The deployment that is answering, and the retries and fallbacks it took to get there.
    pub fn routing(&self) -> &Routing {
        &self.routing
    }

    fn observe(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::TextDelta(_)
            | StreamEvent::ReasoningDelta(_)
            | StreamEvent::RedactedReasoning(_)
            | StreamEvent::ToolCallStart { .. } => {
                if self.first_token.is_none() {
                    self.first_token = Some(self.started.elapsed());
                }
            }
            StreamEvent::Usage(usage) => self.usage = Some(*usage),
            StreamEvent::Finish(reason) => self.finish = Some(*reason),
            StreamEvent::Start
            | StreamEvent::ToolCallDelta { .. }
            | StreamEvent::ReasoningSignature(_) => {}
        }
        if let Some(output) = self.output.as_mut() {
            capture(output, event);
        }
    }

    /// The stream's end: the captured answer goes to the trace, and a stream without a usage
    /// event is charged its estimate; then `finish` accounts it.
    fn take_account(&mut self) -> Option<Accounting> {
        let mut account = self.account.take()?;
        if let Some(output) = self.output.take() {
            account.capture_output(output);
        }
        if self.usage.is_none() {
            account.streamed_without_usage();
        }
        Some(account)
    }
}

impl Stream for AnswerStream {
    type Item = Result<StreamEvent, GatewayError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.account.is_none() {
            return Poll::Ready(None);
        }
        let span = self.span.clone();
        let _entered = span.enter();
        let polled = self.events.as_mut().poll_next(cx);
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(event))) => {
                self.observe(&event);
                Poll::Ready(Some(Ok(event)))
            }
            Poll::Ready(Some(Err(err))) => {
                tracing::warn!(error = %err, deployment = %self.routing.deployment_id, "stream failed");
                if let Some(in_flight) = self.in_flight.take() {
                    in_flight.failed(&err);
                }
                if let Some(account) = self.take_account() {
                    account.failed(&err, self.usage, self.first_token);
                }
                Poll::Ready(Some(Err(err)))
            }
            Poll::Ready(None) => {
                if let Some(in_flight) = self.in_flight.take() {
                    in_flight.succeeded(self.started.elapsed(), &self.usage.unwrap_or_default());
                }
                if let Some(account) = self.take_account() {
                    account.succeeded(self.usage, self.finish, self.first_token);
                }
                Poll::Ready(None)
            }
        }
    }
}

impl Drop for AnswerStream {
    fn drop(&mut self) {
        if let Some(account) = self.take_account() {
            account.client_closed(self.usage, self.first_token);
        }
    }
}

/// Appends a streamed event to the captured answer.
fn capture(output: &mut OutputCapture, event: &StreamEvent) {
    match event {
        StreamEvent::TextDelta(text) => output
            .content
            .get_or_insert_with(String::new)
            .push_str(text),
        StreamEvent::ToolCallStart { id, name, .. } => output.tool_calls.push(ToolCall {
            id: id.clone(),
            name: name.clone(),
            arguments: String::new(),
        }),
        StreamEvent::ToolCallDelta { index, arguments } => {
            let index = usize::try_from(*index).unwrap_or(usize::MAX);
            if let Some(call) = output.tool_calls.get_mut(index) {
                call.arguments.push_str(arguments);
            }
        }
        StreamEvent::Start
        | StreamEvent::Finish(_)
        | StreamEvent::Usage(_)
        | StreamEvent::ReasoningDelta(_)
        | StreamEvent::ReasoningSignature(_)
        | StreamEvent::RedactedReasoning(_) => {}
    }
}
