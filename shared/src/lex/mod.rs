//! Amazon Lex V2 code-hook support for the QAAssistant bot: event/response types, history, reply shaping.

mod event;
mod failure;
mod fulfill;
mod handler;
mod history;
mod json_budget;
mod kinds;
mod markdown;
mod prompt;
#[cfg(test)]
mod proptests;
mod reply;
mod respond;
mod response;
#[cfg(test)]
mod samples;

pub use crate::deadline::{invocation_deadline, SAFETY_MARGIN};
pub use event::{Intent, Interpretation, LexBot, LexEvent, NluConfidence, SessionState};
pub use failure::{reply_for, ASSISTANT_BUSY, LIMIT_REACHED, QUESTION_TOO_LONG};
pub use fulfill::{
    resolve_model, team_for, LexFulfillment, NoLexModel, ANSWER_TOO_SLOW, ANSWER_WITHHELD,
    ASK_FOR_QUESTION, ASSISTANT_UNAVAILABLE, DEFAULT_LEX_MODEL, SOMETHING_WENT_WRONG,
};
pub use history::{History, Turn, DEFAULT_MAX_BYTES, DEFAULT_MAX_TURNS, HISTORY_ATTRIBUTE};
pub use kinds::{
    ConfirmationState, ContentType, DialogActionType, InputMode, IntentState, InvocationSource,
};
pub use markdown::strip_markdown;
pub use prompt::{build_request, SYSTEM_PROMPT, VOICE_PROMPT};
pub use reply::{fit_for_lex, for_voice, FALLBACK_REPLY, LEX_MAX_MESSAGE_CHARS, VOICE_MAX_CHARS};
pub use response::{DialogAction, LexMessage, LexResponse, ResponseIntent, ResponseSessionState};
