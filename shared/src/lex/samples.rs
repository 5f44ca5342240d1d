//! Tests that every `events/lex-*.json` sample parses, and that the parsed samples drive the API.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

fn events_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../events"))
}

fn load(name: &str) -> LexEvent {
    let path = events_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn is_lex_sample(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.starts_with("lex-") && name.ends_with(".json")
}

#[test]
fn every_lex_sample_parses() {
    let mut names: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| is_lex_sample(path))
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    for name in &names {
        let event = load(name);
        assert_eq!(event.message_version, "1.0", "{name}");
        assert_eq!(event.bot.alias_id, "TSTALIASID", "{name}");
        assert_eq!(event.bot.locale_id, "en_US", "{name}");
        assert_eq!(event.bot.id.len(), 10, "{name}");
        assert!(!event.question().is_empty(), "{name}");
    }
}

#[test]
fn first_turn_is_a_text_fulfillment_without_history() {
    let event = load("lex-first-turn.json");
    assert!(event.is_fulfillment() && !event.is_speech());
    assert_eq!(event.bot.name, "QAAssistant");
    assert_eq!(event.intent_name(), Some("FallbackIntent"));
    assert!(History::from_attributes(&event.session_state.session_attributes).is_empty());
}

#[test]
fn follow_up_carries_history_that_round_trips() {
    let event = load("lex-follow-up.json");
    assert_eq!(event.question(), "and the second one?");
    let mut history = History::from_attributes(&event.session_state.session_attributes);
    assert_eq!(history.len(), 1);
    assert!(history.turns()[0].assistant.contains("six pillars"));
    history.push(event.question(), "The second pillar is security.");
    let mut attributes = event.session_state.session_attributes.clone();
    history
        .bounded(DEFAULT_MAX_TURNS, DEFAULT_MAX_BYTES)
        .write_to(&mut attributes);
    let response = LexResponse::close_fulfilled(&event, "The second pillar is security.")
        .with_session_attributes(attributes);
    let value = serde_json::to_value(&response).unwrap();
    let stored = value["sessionState"]["sessionAttributes"][HISTORY_ATTRIBUTE]
        .as_str()
        .unwrap();
    assert_eq!(History::decode(stored).len(), 2);
}

#[test]
fn speech_sample_has_transcriptions() {
    let event = load("lex-speech.json");
    assert!(event.is_speech() && event.is_fulfillment());
    assert_eq!(event.transcriptions.len(), 2);
    assert_eq!(
        event.request_attributes["x-amz-lex:channels:platform"],
        "Connect"
    );
}

#[test]
fn dialog_hook_sample_delegates() {
    let event = load("lex-dialog-hook.json");
    assert_eq!(event.invocation_source, InvocationSource::DialogCodeHook);
    let value = serde_json::to_value(LexResponse::delegate(&event)).unwrap();
    assert_eq!(value["sessionState"]["dialogAction"]["type"], "Delegate");
    assert_eq!(value["sessionState"]["intent"]["name"], "FallbackIntent");
}

#[test]
fn other_bot_sample_keeps_slots_contexts_and_attributes() {
    let event = load("lex-other-bot.json");
    assert_eq!(event.bot.name, "BookTrip");
    assert_eq!(event.interpretations.len(), 3);
    assert_eq!(
        event.interpretations[0].nlu_confidence,
        Some(NluConfidence { score: 1.0 })
    );
    assert_eq!(event.interpretations[1].nlu_confidence, None);
    assert_eq!(
        event.interpretations[2].nlu_confidence,
        Some(NluConfidence { score: 0.42 })
    );
    let intent = event.session_state.intent.clone().unwrap();
    assert_eq!(intent.name, "BookHotel");
    assert_eq!(intent.slots["RoomType"], None);
    let location = intent.slots["Location"].as_ref().unwrap();
    assert_eq!(location["value"]["interpretedValue"], "Seattle");
    assert_eq!(
        intent.slots["Amenities"].as_ref().unwrap()["values"][1]["value"]["originalValue"],
        "gym"
    );
    assert_eq!(
        intent.confirmation_state,
        Some(ConfirmationState::Unconfirmed)
    );
    let action = event.session_state.dialog_action.clone().unwrap();
    assert_eq!(
        (action.kind, action.slot_to_elicit.as_deref()),
        (DialogActionType::ElicitSlot, Some("Nights"))
    );
    assert_eq!(event.session_state.active_contexts.len(), 1);
    assert_eq!(
        event
            .request_attributes
            .get("customerTier")
            .map(String::as_str),
        Some("gold")
    );
    assert!(event.proposed_next_state.is_some());

    let value = serde_json::to_value(LexResponse::delegate(&event)).unwrap();
    let original = serde_json::to_value(&intent.slots).unwrap();
    assert_eq!(value["sessionState"]["intent"]["slots"], original);
    assert_eq!(
        value["sessionState"]["intent"]["slots"]["RoomType"],
        serde_json::Value::Null
    );
    assert_eq!(
        value["sessionState"]["activeContexts"][0]["name"],
        "HotelBooking"
    );
    let attributes: BTreeMap<String, String> =
        serde_json::from_value(value["sessionState"]["sessionAttributes"].clone()).unwrap();
    assert_eq!(attributes, event.session_state.session_attributes);
}
