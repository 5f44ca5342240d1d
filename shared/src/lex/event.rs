//! Lex V2 code-hook input event, parsed leniently (unknown fields and enum values are tolerated).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::kinds::{ConfirmationState, InputMode, IntentState, InvocationSource};
use super::response::DialogAction;

/// The event Lex V2 sends to a code-hook Lambda. Only what Lex always sends is required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LexEvent {
    /// `"1.0"` today; AWS adds fields without bumping it.
    pub message_version: String,
    /// Dialog or fulfillment hook.
    pub invocation_source: InvocationSource,
    /// Text, Speech or DTMF.
    pub input_mode: InputMode,
    /// Lex session id (stable across the turns of one conversation).
    pub session_id: String,
    /// What the user said or typed on this turn.
    #[serde(default, deserialize_with = "null_as_default")]
    pub input_transcript: String,
    /// Which bot, alias and locale called.
    pub bot: LexBot,
    /// e.g. `text/plain; charset=utf-8` or `audio/pcm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_content_type: Option<String>,
    /// Label of the code hook invocation, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation_label: Option<String>,
    /// Candidate intents, best first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub interpretations: Vec<Interpretation>,
    /// What Lex plans to do next (kept untyped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposed_next_state: Option<Value>,
    /// Session attributes, active intent and dialog state.
    #[serde(default, deserialize_with = "null_as_default")]
    pub session_state: SessionState,
    /// Per-request attributes from the client.
    #[serde(default, deserialize_with = "null_as_default")]
    pub request_attributes: BTreeMap<String, String>,
    /// Speech transcription candidates (kept untyped).
    #[serde(default, deserialize_with = "null_as_default")]
    pub transcriptions: Vec<Value>,
}

/// `bot` block of the event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LexBot {
    /// Bot id (10 upper-case alphanumerics).
    pub id: String,
    /// Bot name, e.g. `QAAssistant`.
    pub name: String,
    /// Alias id, e.g. `TSTALIASID`.
    pub alias_id: String,
    /// Alias name.
    pub alias_name: String,
    /// Locale, e.g. `en_US`.
    pub locale_id: String,
    /// Bot version, e.g. `DRAFT`.
    pub version: String,
}

/// One candidate intent with its confidence.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Interpretation {
    /// The candidate intent.
    #[serde(default, deserialize_with = "null_as_default")]
    pub intent: Intent,
    /// Absent for `FallbackIntent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nlu_confidence: Option<NluConfidence>,
    /// `Lex` or `Bedrock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpretation_source: Option<String>,
}

/// NLU confidence. The Lambda event sends a bare number; the runtime API sends `{"score": n}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "NluConfidenceWire", into = "f64")]
pub struct NluConfidence {
    /// 0.0 to 1.0.
    pub score: f64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NluConfidenceWire {
    Number(f64),
    Object { score: f64 },
}

impl From<NluConfidenceWire> for NluConfidence {
    fn from(wire: NluConfidenceWire) -> Self {
        match wire {
            NluConfidenceWire::Number(score) | NluConfidenceWire::Object { score } => {
                Self { score }
            }
        }
    }
}

impl From<NluConfidence> for f64 {
    fn from(confidence: NluConfidence) -> Self {
        confidence.score
    }
}

/// An intent as Lex reports it. Slot values are kept as raw JSON (`null` when unfilled).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    /// Intent name, e.g. `FallbackIntent`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// Slot name to raw slot JSON; `None` for an unfilled slot.
    #[serde(default, deserialize_with = "null_as_default")]
    pub slots: BTreeMap<String, Option<Value>>,
    /// Fulfillment state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<IntentState>,
    /// Confirmation state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_state: Option<ConfirmationState>,
}

/// `sessionState` of the event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionState {
    /// String-to-string attributes that travel with every turn.
    #[serde(default, deserialize_with = "null_as_default")]
    pub session_attributes: BTreeMap<String, String>,
    /// Active contexts (kept untyped).
    #[serde(default, deserialize_with = "null_as_default")]
    pub active_contexts: Vec<Value>,
    /// The intent Lex is working on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<Intent>,
    /// Id of the request that started this turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub originating_request_id: Option<String>,
    /// The current dialog action, when Lex sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialog_action: Option<DialogAction>,
}

impl LexEvent {
    /// True for the fulfillment hook (where the answer is produced).
    pub fn is_fulfillment(&self) -> bool {
        self.invocation_source == InvocationSource::FulfillmentCodeHook
    }

    /// True when the user spoke (answer should be short and markdown-free).
    pub fn is_speech(&self) -> bool {
        self.input_mode == InputMode::Speech
    }

    /// The user's utterance: `inputTranscript`, else the first transcription; trimmed.
    pub fn question(&self) -> &str {
        let typed = self.input_transcript.trim();
        if !typed.is_empty() {
            return typed;
        }
        self.transcriptions
            .iter()
            .find_map(|t| t.get("transcription").and_then(Value::as_str))
            .map(str::trim)
            .unwrap_or("")
    }

    /// Name of the active intent, if any.
    pub fn intent_name(&self) -> Option<&str> {
        self.session_state.intent.as_ref().map(|i| i.name.as_str())
    }
}

/// Deserializes `null` as the type's default (Lex sometimes sends `null` for empty maps/lists).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({
            "messageVersion": "1.0",
            "invocationSource": "FulfillmentCodeHook",
            "inputMode": "Text",
            "sessionId": "s-1",
            "bot": {"id": "ABCDEFGHIJ", "name": "QAAssistant"}
        })
    }

    #[test]
    fn minimal_event_parses_with_defaults() {
        let event: LexEvent = serde_json::from_value(minimal()).unwrap();
        assert!(event.is_fulfillment());
        assert!(!event.is_speech());
        assert_eq!(event.question(), "");
        assert!(event.session_state.session_attributes.is_empty());
        assert_eq!(event.intent_name(), None);
    }

    #[test]
    fn missing_required_field_is_an_error() {
        let mut value = minimal();
        value.as_object_mut().unwrap().remove("invocationSource");
        assert!(serde_json::from_value::<LexEvent>(value).is_err());
    }

    #[test]
    fn nulls_unknown_fields_and_unknown_enums_are_tolerated() {
        let mut value = minimal();
        let object = value.as_object_mut().unwrap();
        object.insert("invocationSource".into(), json!("SomeNewHook"));
        object.insert("requestAttributes".into(), Value::Null);
        object.insert("brandNewField".into(), json!({"x": [1, 2]}));
        object.insert(
            "sessionState".into(),
            json!({"sessionAttributes": null, "intent": {"name": "I", "slots": null, "state": "Mystery"}}),
        );
        let event: LexEvent = serde_json::from_value(value).unwrap();
        assert_eq!(
            event.invocation_source,
            InvocationSource::Other("SomeNewHook".into())
        );
        let intent = event.session_state.intent.unwrap();
        assert!(intent.slots.is_empty());
        assert_eq!(intent.state, Some(IntentState::Other("Mystery".into())));
    }

    #[test]
    fn nlu_confidence_accepts_number_and_object() {
        let number: NluConfidence = serde_json::from_value(json!(0.42)).unwrap();
        let object: NluConfidence = serde_json::from_value(json!({"score": 0.42})).unwrap();
        assert_eq!(number, object);
        assert_eq!(serde_json::to_value(number).unwrap(), json!(0.42));
    }

    #[test]
    fn question_falls_back_to_transcriptions() {
        let mut value = minimal();
        let object = value.as_object_mut().unwrap();
        object.insert("inputTranscript".into(), json!("  "));
        object.insert(
            "transcriptions".into(),
            json!([{"transcription": " hi there "}]),
        );
        let event: LexEvent = serde_json::from_value(value).unwrap();
        assert_eq!(event.question(), "hi there");
    }
}
