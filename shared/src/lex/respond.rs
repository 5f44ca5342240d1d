//! Builders for the common Lex V2 responses: close (fulfilled/failed), delegate, elicit intent.

use std::collections::BTreeMap;

use super::event::{Intent, LexEvent};
use super::kinds::{DialogActionType, IntentState};
use super::response::{
    DialogAction, LexMessage, LexResponse, ResponseIntent, ResponseSessionState,
};

/// Intent name used when the event carries no intent at all.
const DEFAULT_INTENT: &str = "FallbackIntent";

impl LexResponse {
    /// Close the intent as `Fulfilled` with `text` (pass it through `fit_for_lex` first).
    pub fn close_fulfilled(event: &LexEvent, text: &str) -> Self {
        Self::close(event, IntentState::Fulfilled, text)
    }

    /// Close the intent as `Failed` with `text`.
    pub fn close_failed(event: &LexEvent, text: &str) -> Self {
        Self::close(event, IntentState::Failed, text)
    }

    /// Hand control back to Lex: echoes the intent (slots, state, confirmation) and adds no message.
    pub fn delegate(event: &LexEvent) -> Self {
        let intent = event
            .session_state
            .intent
            .as_ref()
            .map(|intent| ResponseIntent {
                state: intent.state.clone(),
                ..echo_intent(intent)
            });
        Self::new(event, DialogActionType::Delegate, intent, "")
    }

    /// Ask the user for a new request with `text` (no intent is sent).
    pub fn elicit_intent(event: &LexEvent, text: &str) -> Self {
        Self::new(event, DialogActionType::ElicitIntent, None, text)
    }

    /// Replace the session attributes (e.g. after writing the conversation history).
    pub fn with_session_attributes(mut self, attributes: BTreeMap<String, String>) -> Self {
        self.session_state.session_attributes = attributes;
        self
    }

    fn close(event: &LexEvent, state: IntentState, text: &str) -> Self {
        let intent = match event.session_state.intent.as_ref() {
            Some(intent) => echo_intent(intent),
            None => ResponseIntent {
                name: first_interpretation(event)
                    .unwrap_or(DEFAULT_INTENT)
                    .to_owned(),
                state: None,
                slots: BTreeMap::new(),
                confirmation_state: None,
            },
        };
        let intent = ResponseIntent {
            state: Some(state),
            ..intent
        };
        Self::new(event, DialogActionType::Close, Some(intent), text)
    }

    fn new(
        event: &LexEvent,
        kind: DialogActionType,
        intent: Option<ResponseIntent>,
        text: &str,
    ) -> Self {
        let messages = if text.trim().is_empty() {
            Vec::new()
        } else {
            vec![LexMessage::plain(text)]
        };
        Self {
            session_state: ResponseSessionState {
                session_attributes: event.session_state.session_attributes.clone(),
                active_contexts: event.session_state.active_contexts.clone(),
                dialog_action: DialogAction {
                    kind,
                    slot_to_elicit: None,
                },
                intent,
            },
            messages,
            request_attributes: None,
        }
    }
}

fn echo_intent(intent: &Intent) -> ResponseIntent {
    let name = if intent.name.is_empty() {
        DEFAULT_INTENT
    } else {
        intent.name.as_str()
    };
    ResponseIntent {
        name: name.to_owned(),
        state: None,
        slots: intent.slots.clone(),
        confirmation_state: intent.confirmation_state.clone(),
    }
}

fn first_interpretation(event: &LexEvent) -> Option<&str> {
    event
        .interpretations
        .iter()
        .map(|i| i.intent.name.as_str())
        .find(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn event(extra_state: Value) -> LexEvent {
        let mut state = json!({
            "sessionAttributes": {"qa_history": "[]", "other": "x"},
            "intent": {"name": "FallbackIntent", "slots": {}, "state": "ReadyForFulfillment",
                       "confirmationState": "None"}
        });
        if let (Some(target), Some(extra)) = (state.as_object_mut(), extra_state.as_object()) {
            target.extend(extra.clone());
        }
        serde_json::from_value(json!({
            "messageVersion": "1.0", "invocationSource": "FulfillmentCodeHook", "inputMode": "Text",
            "sessionId": "s", "bot": {"id": "ABCDEFGHIJ", "name": "QAAssistant"}, "sessionState": state
        }))
        .unwrap()
    }

    #[test]
    fn close_fulfilled_serializes_as_lex_expects() {
        let response = LexResponse::close_fulfilled(&event(json!({})), "Hello.");
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({
                "sessionState": {
                    "sessionAttributes": {"qa_history": "[]", "other": "x"},
                    "dialogAction": {"type": "Close"},
                    "intent": {"name": "FallbackIntent", "state": "Fulfilled", "confirmationState": "None"}
                },
                "messages": [{"contentType": "PlainText", "content": "Hello."}]
            })
        );
    }

    #[test]
    fn close_failed_sets_failed_state() {
        let response = LexResponse::close_failed(&event(json!({})), "Sorry.");
        let intent = response.session_state.intent.unwrap();
        assert_eq!(intent.state, Some(IntentState::Failed));
    }

    #[test]
    fn close_without_intent_uses_interpretation_or_fallback() {
        let mut event = event(json!({}));
        event.session_state.intent = None;
        let response = LexResponse::close_fulfilled(&event, "ok");
        assert_eq!(response.session_state.intent.unwrap().name, DEFAULT_INTENT);
    }

    #[test]
    fn delegate_echoes_intent_and_slots_without_messages() {
        let slots = json!({"Location": {"value": {"interpretedValue": "Paris"}}, "Nights": null});
        let event = event(json!({
            "intent": {"name": "BookHotel", "slots": slots, "state": "InProgress", "confirmationState": "None"},
            "activeContexts": [{"name": "ctx"}]
        }));
        let value = serde_json::to_value(LexResponse::delegate(&event)).unwrap();
        assert_eq!(
            value["sessionState"]["dialogAction"],
            json!({"type": "Delegate"})
        );
        assert_eq!(value["sessionState"]["intent"]["slots"], slots);
        assert_eq!(value["sessionState"]["intent"]["state"], "InProgress");
        assert_eq!(
            value["sessionState"]["activeContexts"],
            json!([{"name": "ctx"}])
        );
        assert!(value.get("messages").is_none());
    }

    #[test]
    fn elicit_intent_has_message_and_no_intent() {
        let value =
            serde_json::to_value(LexResponse::elicit_intent(&event(json!({})), "Ask me.")).unwrap();
        assert_eq!(
            value["sessionState"]["dialogAction"]["type"],
            "ElicitIntent"
        );
        assert!(value["sessionState"].get("intent").is_none());
        assert_eq!(value["messages"][0]["content"], "Ask me.");
    }

    #[test]
    fn session_attributes_can_be_replaced_and_empty_ones_still_sent() {
        let response = LexResponse::close_fulfilled(&event(json!({})), " ")
            .with_session_attributes(BTreeMap::new());
        let value = serde_json::to_value(response).unwrap();
        assert_eq!(value["sessionState"]["sessionAttributes"], json!({}));
        assert!(value.get("messages").is_none());
    }
}
