//! The Lex edge's mapping of a failed request to what the user is told: a friendly sentence,
//! never a status code.

use super::fulfill::{
    ANSWER_TOO_SLOW, ANSWER_WITHHELD, ASSISTANT_UNAVAILABLE, SOMETHING_WENT_WRONG,
};
use crate::error::{GatewayError, ProviderError};

/// Said when the question (with the conversation so far) does not fit the model.
pub const QUESTION_TOO_LONG: &str = "Sorry, that question is too long for me. Could you ask it \
more briefly?";
/// Said when the assistant is over a rate limit.
pub const ASSISTANT_BUSY: &str = "Sorry, I'm getting a lot of questions right now. Please try \
again in a moment.";
/// Said when the team's budget is spent.
pub const LIMIT_REACHED: &str = "Sorry, this assistant has reached its usage limit for now. \
Please try again later.";

/// What the user is told when the request path fails.
pub fn reply_for(error: &GatewayError) -> &'static str {
    use GatewayError as E;
    use ProviderError as P;
    match error {
        E::Provider(P::Timeout(_)) => ANSWER_TOO_SLOW,
        E::GuardrailBlocked { .. } | E::Provider(P::ContentFiltered(_)) => ANSWER_WITHHELD,
        E::Provider(P::ContextWindowExceeded(_)) | E::RequestTooLarge => QUESTION_TOO_LONG,
        E::RateLimited { .. } | E::Provider(P::Throttled { .. }) => ASSISTANT_BUSY,
        E::BudgetExceeded { .. } => LIMIT_REACHED,
        E::Provider(
            P::Unavailable(_)
            | P::Misconfigured(_)
            | P::Upstream(_)
            | P::Connect(_)
            | P::StreamBroken(_),
        )
        | E::ModelNotFound { .. }
        | E::ModelNotAllowed { .. }
        | E::Unauthenticated(_)
        | E::DependencyUnavailable(_) => ASSISTANT_UNAVAILABLE,
        E::InvalidRequest { .. } | E::Provider(P::Rejected(_)) | E::Internal(_) => {
            SOMETHING_WENT_WRONG
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{AuthFailure, GuardrailStage, TimeoutKind};
    use std::time::Duration;

    #[test]
    fn every_core_error_has_a_friendly_reply() {
        let p = |e: ProviderError| GatewayError::Provider(e);
        let s = || "x".to_owned();
        let cases = [
            (
                GatewayError::invalid_request("x", "messages"),
                SOMETHING_WENT_WRONG,
            ),
            (GatewayError::RequestTooLarge, QUESTION_TOO_LONG),
            (
                GatewayError::Unauthenticated(AuthFailure::UnknownKey),
                ASSISTANT_UNAVAILABLE,
            ),
            (
                GatewayError::ModelNotAllowed { model: s() },
                ASSISTANT_UNAVAILABLE,
            ),
            (GatewayError::model_not_found("m"), ASSISTANT_UNAVAILABLE),
            (
                GatewayError::RateLimited {
                    limit: "team rpm".into(),
                    retry_after: Duration::from_secs(1),
                },
                ASSISTANT_BUSY,
            ),
            (
                GatewayError::BudgetExceeded {
                    scope: "team".into(),
                    retry_after: None,
                },
                LIMIT_REACHED,
            ),
            (
                GatewayError::GuardrailBlocked {
                    stage: GuardrailStage::Input,
                    guardrail: s(),
                },
                ANSWER_WITHHELD,
            ),
            (
                GatewayError::GuardrailBlocked {
                    stage: GuardrailStage::Output,
                    guardrail: s(),
                },
                ANSWER_WITHHELD,
            ),
            (
                p(ProviderError::Throttled {
                    message: s(),
                    retry_after: None,
                }),
                ASSISTANT_BUSY,
            ),
            (p(ProviderError::Unavailable(s())), ASSISTANT_UNAVAILABLE),
            (
                p(ProviderError::Timeout(TimeoutKind::Call)),
                ANSWER_TOO_SLOW,
            ),
            (
                p(ProviderError::Timeout(TimeoutKind::Deadline)),
                ANSWER_TOO_SLOW,
            ),
            (
                p(ProviderError::ContextWindowExceeded(s())),
                QUESTION_TOO_LONG,
            ),
            (p(ProviderError::ContentFiltered(s())), ANSWER_WITHHELD),
            (p(ProviderError::Rejected(s())), SOMETHING_WENT_WRONG),
            (p(ProviderError::Misconfigured(s())), ASSISTANT_UNAVAILABLE),
            (p(ProviderError::Upstream(s())), ASSISTANT_UNAVAILABLE),
            (p(ProviderError::Connect(s())), ASSISTANT_UNAVAILABLE),
            (p(ProviderError::StreamBroken(s())), ASSISTANT_UNAVAILABLE),
            (
                GatewayError::DependencyUnavailable("keys".into()),
                ASSISTANT_UNAVAILABLE,
            ),
            (GatewayError::Internal("bug".into()), SOMETHING_WENT_WRONG),
        ];
        for (error, reply) in cases {
            assert_eq!(reply_for(&error), reply, "{}", error.kind());
        }
    }
}
