//! Lex V2 code-hook response types, serialized exactly as Lex expects (camelCase, `None` omitted).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::kinds::{ConfirmationState, ContentType, DialogActionType, IntentState};

/// What the Lambda returns to Lex.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LexResponse {
    /// Required by Lex on every response.
    pub session_state: ResponseSessionState,
    /// Messages for the user; omitted when empty (Lex then uses the bot's configured prompts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<LexMessage>,
    /// Request attributes to return, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_attributes: Option<BTreeMap<String, String>>,
}

/// `sessionState` of the response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseSessionState {
    /// Always sent: what Lex stores replaces the previous attributes.
    #[serde(default)]
    pub session_attributes: BTreeMap<String, String>,
    /// Echo of the event's active contexts; omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active_contexts: Vec<Value>,
    /// What Lex does next.
    pub dialog_action: DialogAction,
    /// The intent and its new state; omitted for `ElicitIntent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<ResponseIntent>,
}

/// `dialogAction` (shared with the event's `sessionState`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DialogAction {
    /// Serialized as `type`.
    #[serde(rename = "type")]
    pub kind: DialogActionType,
    /// Required for `ElicitSlot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_to_elicit: Option<String>,
}

/// `sessionState.intent` of the response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseIntent {
    /// Intent name.
    pub name: String,
    /// New state; `Fulfilled`/`Failed` when closing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<IntentState>,
    /// Slots passed through from the event (`null` values kept); omitted when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub slots: BTreeMap<String, Option<Value>>,
    /// Passed through from the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_state: Option<ConfirmationState>,
}

/// One message in `messages[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LexMessage {
    /// `PlainText` (max 1000 chars), `SSML`, ...
    pub content_type: ContentType,
    /// The text.
    pub content: String,
}

impl LexMessage {
    /// A `PlainText` message.
    pub fn plain(text: &str) -> Self {
        Self {
            content_type: ContentType::PlainText,
            content: text.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serializes_with_lex_field_names_and_omits_none() {
        let response = LexResponse {
            session_state: ResponseSessionState {
                session_attributes: BTreeMap::new(),
                active_contexts: Vec::new(),
                dialog_action: DialogAction {
                    kind: DialogActionType::ElicitSlot,
                    slot_to_elicit: Some("Nights".to_owned()),
                },
                intent: Some(ResponseIntent {
                    name: "BookHotel".to_owned(),
                    state: Some(IntentState::InProgress),
                    slots: BTreeMap::from([("Nights".to_owned(), None)]),
                    confirmation_state: None,
                }),
            },
            messages: vec![LexMessage::plain("How many nights?")],
            request_attributes: None,
        };
        let expected = json!({
            "sessionState": {
                "sessionAttributes": {},
                "dialogAction": {"type": "ElicitSlot", "slotToElicit": "Nights"},
                "intent": {"name": "BookHotel", "state": "InProgress", "slots": {"Nights": null}}
            },
            "messages": [{"contentType": "PlainText", "content": "How many nights?"}]
        });
        let value = serde_json::to_value(&response).unwrap();
        assert_eq!(value, expected);
        assert_eq!(
            serde_json::from_value::<LexResponse>(value).unwrap(),
            response
        );
    }
}
