//! Guardrails: a small async trait that checks text on the way in or out, Bedrock's
//! ApplyGuardrail behind it ([`BedrockGuardrail`]), the in-memory word-list guardrail the tests
//! use, and the per-request selection of guardrails from the config ([`GuardrailSet`]).
//!
//! The pipeline (`pipeline/guard.rs`) runs what [`GuardrailSet::select`] picks: `pre_call`
//! before the model call, `during_call` beside it, `post_call` on whole answers and on streams
//! in bounded windows. Each check is recorded as a [`GuardrailCheck`].

mod bedrock;
mod memory;
mod set;

use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

pub use bedrock::{BedrockGuardrail, GUARDRAIL_CALL_TIMEOUT};
pub use memory::WordListGuardrail;
pub use set::{Attached, GuardrailPolicy, GuardrailSet, MissingGuardrail, Selected};

/// Which text is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardrailSource {
    /// What the user sent.
    Input,
    /// What the model answered.
    Output,
}

/// What a guardrail decided about some texts.
#[derive(Debug, Clone, PartialEq)]
pub enum GuardrailVerdict {
    /// Nothing to do.
    Pass,
    /// Let through with these texts instead (same count and order as checked).
    Masked { texts: Vec<String> },
    /// Stop: the text must not pass.
    Blocked,
}

impl GuardrailVerdict {
    pub fn action(&self) -> &'static str {
        match self {
            GuardrailVerdict::Pass => "none",
            GuardrailVerdict::Masked { .. } => "masked",
            GuardrailVerdict::Blocked => "blocked",
        }
    }
}

/// A verdict and the sensitive-information entity types found (`EMAIL`, `PHONE`, regex names;
/// never the matched text).
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub verdict: GuardrailVerdict,
    pub entities: Vec<String>,
}

impl From<GuardrailVerdict> for Checked {
    fn from(verdict: GuardrailVerdict) -> Self {
        Checked {
            verdict,
            entities: Vec::new(),
        }
    }
}

/// The guardrail service could not answer; the pipeline fails closed unless the guardrail is
/// configured to fail open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("guardrail unavailable: {0}")]
pub struct GuardrailError(pub String);

pub trait Guardrail: Send + Sync {
    /// The name used in records, traces and errors.
    fn name(&self) -> &str;

    fn check<'a>(
        &'a self,
        source: GuardrailSource,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Checked, GuardrailError>>;
}

/// One guardrail call as the pipeline recorded it: what the tracing branch turns into a
/// GUARDRAIL span after the response. Streams record one check per window.
///
/// `action` is `none`, `masked`, `blocked`, `detected` (entities found, masking off for this
/// side), `failed` (the call failed; the request was refused) or `failed_open` (the call
/// failed and the guardrail is configured to let text pass).
#[derive(Debug, Clone, PartialEq)]
pub struct GuardrailCheck {
    pub name: String,
    /// `pre_call`, `during_call` or `post_call`.
    pub mode: &'static str,
    pub action: &'static str,
    /// Entity types only (`EMAIL`, `PHONE`), never the matched text.
    pub entities: Vec<String>,
    pub started: Instant,
    pub elapsed: Duration,
}
