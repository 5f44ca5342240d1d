//! The model request for one Lex question: a Q&A system prompt, the remembered turns, the question.

use crate::chat::{ChatRequest, ContentBlock, InferenceParams, Message, Role};

use super::history::History;

/// What QAAssistant is told on every turn.
pub const SYSTEM_PROMPT: &str = "You are QAAssistant, a helpful assistant that answers questions \
in a chat. Answer accurately and concisely in plain text, without markdown, in at most a short \
paragraph. Use the earlier turns of the conversation to understand follow-up questions. If you do \
not know the answer, say so briefly.";

/// Added when the user spoke: the answer is read aloud.
pub const VOICE_PROMPT: &str = "The user is speaking and will hear your answer read aloud: reply \
in two or three short, plain spoken sentences, with no lists, headings, markdown, code, links or \
special symbols.";

/// Output cap for typed questions: Lex shows at most 1000 characters (about 250 tokens), so more
/// than that is wasted; the headroom lets `fit_for_lex` cut at a sentence end.
pub const TEXT_MAX_TOKENS: u32 = 600;
/// Output cap for spoken questions (voice answers are at most 600 characters).
pub const VOICE_MAX_TOKENS: u32 = 300;

/// The request for `question` on model group `model`: the system prompt(s), each remembered turn
/// as a user/assistant pair (turns with a blank side are skipped: Bedrock rejects blank text),
/// then the question. Starts with the user and alternates, as every provider requires.
pub fn build_request(model: &str, history: &History, question: &str, speech: bool) -> ChatRequest {
    let mut system = vec![SYSTEM_PROMPT.to_owned()];
    if speech {
        system.push(VOICE_PROMPT.to_owned());
    }
    let mut messages: Vec<Message> = history
        .turns()
        .iter()
        .filter(|turn| !turn.user.trim().is_empty() && !turn.assistant.trim().is_empty())
        .flat_map(|turn| {
            [
                text(Role::User, &turn.user),
                text(Role::Assistant, &turn.assistant),
            ]
        })
        .collect();
    messages.push(text(Role::User, question));
    ChatRequest {
        model: model.to_owned(),
        system,
        messages,
        params: InferenceParams {
            max_tokens: Some(if speech {
                VOICE_MAX_TOKENS
            } else {
                TEXT_MAX_TOKENS
            }),
            ..InferenceParams::default()
        },
        ..ChatRequest::default()
    }
}

fn text(role: Role, text: &str) -> Message {
    Message {
        role,
        content: vec![ContentBlock::Text(text.to_owned())],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(request: &ChatRequest) -> Vec<(Role, String)> {
        request
            .messages
            .iter()
            .map(|m| match &m.content[..] {
                [ContentBlock::Text(t)] => (m.role, t.clone()),
                other => panic!("unexpected content {other:?}"),
            })
            .collect()
    }

    #[test]
    fn first_turn_is_system_and_question() {
        let request = build_request("m", &History::default(), "What is a VPC?", false);
        assert_eq!(request.model, "m");
        assert_eq!(request.system, vec![SYSTEM_PROMPT.to_owned()]);
        assert_eq!(texts(&request), vec![(Role::User, "What is a VPC?".into())]);
        assert_eq!(request.params.max_tokens, Some(TEXT_MAX_TOKENS));
        assert!(!request.stream && request.tools.is_empty());
    }

    #[test]
    fn history_becomes_alternating_turns_before_the_question() {
        let mut history = History::default();
        history.push("q1", "a1");
        history.push("  ", "orphan answer");
        history.push("q2", "a2");
        let request = build_request("m", &history, "q3", false);
        assert_eq!(
            texts(&request),
            vec![
                (Role::User, "q1".into()),
                (Role::Assistant, "a1".into()),
                (Role::User, "q2".into()),
                (Role::Assistant, "a2".into()),
                (Role::User, "q3".into()),
            ]
        );
    }

    #[test]
    fn speech_adds_the_voice_prompt_and_a_smaller_cap() {
        let request = build_request("m", &History::default(), "hi", true);
        assert_eq!(request.system.len(), 2);
        assert!(request.system[1].contains("read aloud"));
        assert_eq!(request.params.max_tokens, Some(VOICE_MAX_TOKENS));
    }
}
