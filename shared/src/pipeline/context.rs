//! What one request runs with, from authentication to its usage record.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::keys::{Caller, Principal};
use crate::observability::TraceParent;

#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub principal: Principal,
    pub caller: Caller,
    /// A conversation id (the Lex session, or a client's `x-session-id`) for records and traces.
    pub session_id: Option<String>,
    /// The caller's W3C `traceparent`: the request's spans continue its trace.
    pub traceparent: Option<TraceParent>,
    /// The model call is abandoned once this passes (the Lambda invocation's deadline less a
    /// margin to answer).
    pub deadline: Option<tokio::time::Instant>,
    pub started: Instant,
    /// Unix milliseconds at the start, for records.
    pub started_at_ms: u64,
    /// The body's `cache` controls (LiteLLM's), if it sent any.
    pub cache: Option<crate::cache::CacheControls>,
}

impl RequestContext {
    pub fn new(caller: Caller, principal: Principal) -> Self {
        RequestContext {
            request_id: new_request_id(),
            principal,
            caller,
            session_id: None,
            traceparent: None,
            deadline: None,
            started: Instant::now(),
            started_at_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            cache: None,
        }
    }

    pub fn with_session(mut self, session_id: Option<String>) -> Self {
        self.session_id = session_id;
        self
    }

    pub fn with_traceparent(mut self, traceparent: Option<TraceParent>) -> Self {
        self.traceparent = traceparent;
        self
    }

    pub fn with_deadline(mut self, deadline: Option<tokio::time::Instant>) -> Self {
        self.deadline = deadline;
        self
    }
}

/// `chatcmpl-` and 32 hex digits.
pub fn new_request_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())
}
