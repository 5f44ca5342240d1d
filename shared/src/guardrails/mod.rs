//! Guardrails: a small async trait that checks text on the way in or out, and an in-memory
//! word-list guardrail. Bedrock's ApplyGuardrail implements the same trait with the guardrails
//! issue; the pipeline already runs input guardrails before the call and output guardrails on
//! whole answers and streams.

mod memory;

use futures_util::future::BoxFuture;

pub use memory::WordListGuardrail;

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

/// The guardrail service could not answer; the pipeline fails closed.
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
    ) -> BoxFuture<'a, Result<GuardrailVerdict, GuardrailError>>;
}
