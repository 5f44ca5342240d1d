//! QAAssistant's fulfillment: a Lex V2 event in, a Lex response out, through the shared request path.

use std::sync::Arc;

use tokio::time::Instant;
use tracing::Instrument;

use crate::chat::FinishReason;
use crate::config::{GatewayConfig, LexSettings};
use crate::gateway::{Answer, Gateway, RequestContext};
use crate::keys::Caller;

use super::event::{LexBot, LexEvent};
use super::failure::reply_for;
use super::history::History;
use super::kinds::InvocationSource;
use super::prompt::build_request;
use super::reply::{fit_for_lex, for_voice, LEX_MAX_MESSAGE_CHARS};
use super::response::LexResponse;

/// The model group used when `lex.model` is not set, if the config has it (the seed's choice).
pub const DEFAULT_LEX_MODEL: &str = "claude-3-sonnet";
/// Asked when the fulfillment hook gets no utterance.
pub const ASK_FOR_QUESTION: &str = "What would you like to know? Please ask me a question.";
/// Said when the model's answer was blocked or filtered.
pub const ANSWER_WITHHELD: &str = "Sorry, I can't share an answer to that: it was withheld by \
our content safety filters. Could you ask something else?";
/// Said when the model did not answer before the deadline.
pub const ANSWER_TOO_SLOW: &str = "Sorry, that took me too long to answer. Please try again in \
a moment.";
/// Said when no model could answer (unavailable, throttled, misconfigured).
pub const ASSISTANT_UNAVAILABLE: &str = "Sorry, I can't answer questions right now: the \
assistant is temporarily unavailable. Please try again in a little while.";
/// Said when the event itself could not be understood.
pub const SOMETHING_WENT_WRONG: &str = "Sorry, something went wrong on my side. Please try again.";

/// The Lex function's state, built once at cold start.
pub struct LexFulfillment {
    gateway: Arc<Gateway>,
    /// `lex` settings with `model` resolved to the model group questions go to.
    settings: LexSettings,
}

/// The config has no model group Lex could use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the Lex function needs a model: set lex.model or configure at least one model_list entry")]
pub struct NoLexModel;

impl LexFulfillment {
    /// Resolves the model group: `lex.model`, else [`DEFAULT_LEX_MODEL`] if configured, else the
    /// first model group.
    pub fn new(gateway: Arc<Gateway>, config: &GatewayConfig) -> Result<Self, NoLexModel> {
        let model = resolve_model(config).ok_or(NoLexModel)?;
        let settings = LexSettings {
            model: Some(model),
            ..config.lex.clone()
        };
        Ok(LexFulfillment { gateway, settings })
    }

    /// The model group questions go to.
    pub fn model(&self) -> &str {
        self.settings.model.as_deref().unwrap_or(DEFAULT_LEX_MODEL)
    }

    /// Answers one code-hook invocation; never fails. The model call is abandoned at `deadline`.
    pub async fn handle(&self, event: LexEvent, deadline: Option<Instant>) -> LexResponse {
        match event.invocation_source {
            InvocationSource::FulfillmentCodeHook => self.fulfill(&event, deadline).await,
            // Dialog hooks (and hooks Lex may add) hand the dialog back to Lex unchanged.
            InvocationSource::DialogCodeHook | InvocationSource::Other(_) => {
                LexResponse::delegate(&event)
            }
        }
    }

    async fn fulfill(&self, event: &LexEvent, deadline: Option<Instant>) -> LexResponse {
        let question = event.question();
        if question.is_empty() {
            return LexResponse::elicit_intent(event, ASK_FOR_QUESTION);
        }
        let (max_turns, max_bytes) = self.limits();
        let history = History::from_attributes(&event.session_state.session_attributes)
            .bounded(max_turns, max_bytes);
        let request = build_request(self.model(), &history, question, event.is_speech());
        let team = team_for(&self.settings, &event.bot);
        let principal = match self.gateway.service_principal("lex", team).await {
            Ok(principal) => principal,
            Err(error) => {
                tracing::warn!(error = %error, kind = error.kind(), "lex team lookup failed");
                return LexResponse::close_failed(event, reply_for(&error));
            }
        };
        let ctx = RequestContext::new(Caller::Lex, principal)
            .with_session(Some(event.session_id.clone()))
            .with_deadline(deadline);
        let span = tracing::info_span!(
            "request",
            request_id = %ctx.request_id,
            key = %ctx.principal.key_id,
            model = %request.model,
            session_id = %event.session_id,
            bot = %event.bot.name,
        );
        // `max_parallel_requests` of the bot's team: held until the answer is whole.
        let permit = match self
            .gateway
            .authenticator()
            .hold_parallel(&ctx.principal, ctx.deadline)
            .await
        {
            Ok(permit) => permit,
            Err(error) => {
                self.gateway.reject(&ctx, &request.model, &error);
                tracing::warn!(error = %error, kind = error.kind(), "lex question refused");
                return LexResponse::close_failed(event, reply_for(&error));
            }
        };
        let answered = self
            .gateway
            .chat(&ctx, request)
            .instrument(span.clone())
            .await;
        drop(permit);
        let _entered = span.enter();
        let completion = match answered {
            Ok(Answer::Whole(completion)) => completion,
            Ok(Answer::Stream(_)) => {
                tracing::error!("the pipeline streamed a request that did not ask for a stream");
                return LexResponse::close_failed(event, SOMETHING_WENT_WRONG);
            }
            Err(error) => {
                tracing::warn!(error = %error, kind = error.kind(), "lex question failed");
                return LexResponse::close_failed(event, reply_for(&error));
            }
        };
        let response = completion.response;
        if response.finish_reason == FinishReason::ContentFilter {
            tracing::warn!(deployment = %completion.deployment_id, "lex answer withheld by a content filter");
            return LexResponse::close_failed(event, ANSWER_WITHHELD);
        }
        let answer = response.content.as_deref().unwrap_or("");
        let reply = if event.is_speech() {
            for_voice(answer)
        } else {
            fit_for_lex(answer, LEX_MAX_MESSAGE_CHARS)
        };
        let mut history = history;
        if !answer.trim().is_empty() {
            history.push(question, reply.as_str());
        }
        let history = history.bounded(max_turns, max_bytes);
        let mut attributes = event.session_state.session_attributes.clone();
        history.write_to(&mut attributes);
        LexResponse::close_fulfilled(event, &reply).with_session_attributes(attributes)
    }

    fn limits(&self) -> (usize, usize) {
        let turns = usize::try_from(self.settings.max_history_turns).unwrap_or(usize::MAX);
        let bytes = usize::try_from(self.settings.max_history_bytes).unwrap_or(usize::MAX);
        (turns, bytes)
    }
}

/// `lex.model`, else [`DEFAULT_LEX_MODEL`] when it is a configured group, else the first group.
pub fn resolve_model(config: &GatewayConfig) -> Option<String> {
    if let Some(model) = &config.lex.model {
        return Some(model.clone());
    }
    let groups = config.model_groups();
    groups
        .iter()
        .find(|group| **group == DEFAULT_LEX_MODEL)
        .or_else(|| groups.first())
        .map(|group| (*group).to_owned())
}

/// The team a bot's usage is billed to: `lex.teams[alias id]`, else `lex.teams[bot id]`, else
/// `lex.default_team`.
pub fn team_for(settings: &LexSettings, bot: &LexBot) -> Option<String> {
    [&bot.alias_id, &bot.id]
        .into_iter()
        .filter(|key| !key.is_empty())
        .find_map(|key| settings.teams.get(key.as_str()))
        .or(settings.default_team.as_ref())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Environment;

    const MODELS: &str = "model_list:\n  - model_name: titan\n    litellm_params: {model: bedrock/amazon.titan-text-express-v1}\n  - model_name: claude-3-sonnet\n    litellm_params: {model: bedrock/anthropic.claude-3-sonnet-20240229-v1:0}\n";

    fn config(extra: &str) -> GatewayConfig {
        let env = Environment::from_pairs([("AWS_REGION", "us-east-1")]);
        crate::config::from_yaml_str(&format!("{MODELS}{extra}"), &env).unwrap()
    }

    #[test]
    fn model_is_lex_model_else_sonnet_else_first_group() {
        assert_eq!(
            resolve_model(&config("lex:\n  model: titan\n")).as_deref(),
            Some("titan")
        );
        assert_eq!(
            resolve_model(&config("")).as_deref(),
            Some(DEFAULT_LEX_MODEL)
        );
        let env = Environment::from_pairs([("AWS_REGION", "us-east-1")]);
        let only_titan = "model_list:\n  - model_name: titan\n    litellm_params: {model: bedrock/amazon.titan-text-express-v1}\n";
        let config = crate::config::from_yaml_str(only_titan, &env).unwrap();
        assert_eq!(resolve_model(&config).as_deref(), Some("titan"));
    }

    fn bot(id: &str, alias_id: &str) -> LexBot {
        LexBot {
            id: id.to_owned(),
            alias_id: alias_id.to_owned(),
            ..LexBot::default()
        }
    }

    #[test]
    fn team_is_alias_then_bot_then_default() {
        let settings = config(
            "lex:\n  default_team: everyone\n  teams: {ALIAS00001: by-alias, BOT0000001: by-bot}\n",
        )
        .lex;
        assert_eq!(
            team_for(&settings, &bot("BOT0000001", "ALIAS00001")).as_deref(),
            Some("by-alias")
        );
        assert_eq!(
            team_for(&settings, &bot("BOT0000001", "TSTALIASID")).as_deref(),
            Some("by-bot")
        );
        assert_eq!(
            team_for(&settings, &bot("OTHERBOT01", "TSTALIASID")).as_deref(),
            Some("everyone")
        );
        assert_eq!(
            team_for(&LexSettings::default(), &bot("BOT0000001", "")),
            None
        );
    }
}
