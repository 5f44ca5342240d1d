//! The Lambda-facing entry: raw event JSON in, Lex response JSON out, never an error.
//!
//! A malformed event is answered from whatever parts of it still parse (so its session
//! attributes, and with them the conversation history, survive): `Delegate` for a dialog hook
//! whose intent is known, else `Close`/`Failed` with a friendly message.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::event::{Intent, LexEvent, SessionState};
use super::fulfill::{LexFulfillment, SOMETHING_WENT_WRONG};
use super::kinds::{InputMode, InvocationSource};
use super::response::LexResponse;

impl LexFulfillment {
    /// Parses `payload` as a Lex V2 event and answers it; anything unusable gets a safe response.
    pub async fn handle_json(&self, payload: Value, deadline: Option<Instant>) -> Value {
        let response = match serde_path_to_error::deserialize::<_, LexEvent>(&payload) {
            Ok(event) => self.handle(event, deadline).await,
            Err(error) => {
                // The path only: serde's message may quote what the user said.
                tracing::warn!(path = %error.path(), "malformed Lex event; answering safely");
                salvaged_response(&payload)
            }
        };
        serde_json::to_value(&response).unwrap_or_else(|_| minimal_response())
    }
}

/// A safe answer to an event that did not parse.
pub(super) fn salvaged_response(payload: &Value) -> LexResponse {
    let event = salvage(payload);
    let delegate = event.invocation_source == InvocationSource::DialogCodeHook
        && event.session_state.intent.is_some();
    if delegate {
        LexResponse::delegate(&event)
    } else {
        LexResponse::close_failed(&event, SOMETHING_WENT_WRONG)
    }
}

/// The parts of `payload` that parse, each on its own; defaults for the rest.
fn salvage(payload: &Value) -> LexEvent {
    let state = payload.get("sessionState");
    let session_state = part::<SessionState>(state).unwrap_or_else(|| SessionState {
        session_attributes: string_attributes(state.and_then(|s| s.get("sessionAttributes"))),
        active_contexts: part(state.and_then(|s| s.get("activeContexts"))).unwrap_or_default(),
        intent: part::<Intent>(state.and_then(|s| s.get("intent"))),
        ..SessionState::default()
    });
    LexEvent {
        message_version: part(payload.get("messageVersion")).unwrap_or_else(|| "1.0".to_owned()),
        invocation_source: part(payload.get("invocationSource"))
            .unwrap_or_else(|| InvocationSource::Other(String::new())),
        input_mode: part(payload.get("inputMode")).unwrap_or(InputMode::Text),
        session_id: part(payload.get("sessionId")).unwrap_or_default(),
        input_transcript: String::new(),
        bot: part(payload.get("bot")).unwrap_or_default(),
        response_content_type: None,
        invocation_label: None,
        interpretations: part(payload.get("interpretations")).unwrap_or_default(),
        proposed_next_state: None,
        session_state,
        request_attributes: BTreeMap::new(),
        transcriptions: Vec::new(),
    }
}

fn part<T: DeserializeOwned>(value: Option<&Value>) -> Option<T> {
    value.and_then(|v| T::deserialize(v).ok())
}

/// The string-valued entries of a session-attributes object (Lex only sends strings).
fn string_attributes(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|object| {
            object
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// A valid Lex response that needs nothing from the event.
fn minimal_response() -> Value {
    json!({
        "sessionState": {
            "sessionAttributes": {},
            "dialogAction": {"type": "Close"},
            "intent": {"name": "FallbackIntent", "state": "Failed"}
        },
        "messages": [{"contentType": "PlainText", "content": SOMETHING_WENT_WRONG}]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_json(response: &LexResponse) -> Value {
        serde_json::to_value(response).unwrap()
    }

    #[test]
    fn no_shape_at_all_still_gives_a_valid_close() {
        for payload in [json!(null), json!([1, 2]), json!("text"), json!({})] {
            let value = to_json(&salvaged_response(&payload));
            assert_eq!(value, minimal_response(), "{payload}");
        }
    }

    #[test]
    fn broken_fields_keep_the_attributes_and_intent_that_parse() {
        let payload = json!({
            "invocationSource": "FulfillmentCodeHook", "sessionId": 42, "bot": "not an object",
            "sessionState": {
                "sessionAttributes": {"qa_history": "[[\"q\",\"a\"]]", "n": 7},
                "intent": {"name": "BookHotel", "slots": {"Nights": null}, "state": "InProgress"},
                "activeContexts": "nope"
            }
        });
        let value = to_json(&salvaged_response(&payload));
        let state = &value["sessionState"];
        assert_eq!(state["dialogAction"]["type"], "Close");
        assert_eq!(state["intent"]["name"], "BookHotel");
        assert_eq!(state["intent"]["state"], "Failed");
        assert_eq!(
            state["sessionAttributes"],
            json!({"qa_history": "[[\"q\",\"a\"]]"})
        );
        assert_eq!(value["messages"][0]["content"], SOMETHING_WENT_WRONG);
    }

    #[test]
    fn broken_dialog_hook_with_an_intent_delegates() {
        let payload = json!({
            "invocationSource": "DialogCodeHook", "inputMode": 3,
            "sessionState": {"intent": {"name": "BookHotel", "slots": {}, "state": "InProgress"}}
        });
        let value = to_json(&salvaged_response(&payload));
        assert_eq!(value["sessionState"]["dialogAction"]["type"], "Delegate");
        assert_eq!(value["sessionState"]["intent"]["name"], "BookHotel");
    }
}
