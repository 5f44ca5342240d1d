//! The Lex V2 fulfillment function against the fake Bedrock: samples, memory, failures, deadline.
// Test helpers: failing loudly is the point.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gateway::gateway::Gateway;
use gateway::lex::{
    for_voice, invocation_deadline, History, LexEvent, LexFulfillment, ANSWER_TOO_SLOW,
    ANSWER_WITHHELD, ASK_FOR_QUESTION, ASSISTANT_BUSY, ASSISTANT_UNAVAILABLE, HISTORY_ATTRIBUTE,
    LEX_MAX_MESSAGE_CHARS, SOMETHING_WENT_WRONG, VOICE_MAX_CHARS,
};
use gateway::usage::{MemoryUsageSink, Outcome, UsageRecord};
use gateway_tests::fake_bedrock::{FakeBedrock, Fault};
use gateway_tests::harness::{build_gateway, config_yaml, load_config, HAIKU, SONNET};
use serde_json::{json, Value};
use tokio::time::Instant;

const FIRST_QUESTION: &str = "What are the pillars of the AWS Well-Architected Framework?";

struct Lex {
    fake: FakeBedrock,
    lex: LexFulfillment,
    gateway: Arc<Gateway>,
    usage: Arc<MemoryUsageSink>,
}

impl Lex {
    /// The test config plus `extra` YAML (e.g. a `lex:` section).
    async fn start(extra: &str) -> Lex {
        let fake = FakeBedrock::start().await.unwrap();
        let yaml = format!("{}{extra}", config_yaml(&fake.endpoint()));
        let config = load_config(&yaml);
        let usage = Arc::new(MemoryUsageSink::default());
        let gateway = build_gateway(&config, Arc::clone(&usage), |b| b).await;
        let lex = LexFulfillment::new(Arc::clone(&gateway), &config).unwrap();
        Lex {
            fake,
            lex,
            gateway,
            usage,
        }
    }

    async fn usage_records(&self) -> Vec<UsageRecord> {
        self.gateway.after_response().flush().await;
        self.usage.records()
    }

    async fn send(&self, event: Value) -> Value {
        self.lex.handle_json(event, None).await
    }
}

fn events_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../events"))
}

fn sample(name: &str) -> Value {
    let text = std::fs::read_to_string(events_dir().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The first-turn sample asking `question`, with these session attributes.
fn ask(question: &str, attributes: &Value) -> Value {
    let mut event = sample("lex-first-turn.json");
    event["inputTranscript"] = json!(question);
    event["transcriptions"] = json!([]);
    event["sessionState"]["sessionAttributes"] = attributes.clone();
    event
}

/// `LexEvent::question()` of a JSON event.
fn question_of(event: &Value) -> String {
    let event: LexEvent = serde_json::from_value(event.clone()).unwrap();
    event.question().to_owned()
}

fn fake_answer(question: &str) -> String {
    format!("Fake answer to: {question}")
}

fn content(response: &Value) -> &str {
    response["messages"][0]["content"].as_str().unwrap_or("")
}

fn action(response: &Value) -> &str {
    response["sessionState"]["dialogAction"]["type"]
        .as_str()
        .unwrap()
}

fn intent_state(response: &Value) -> &str {
    response["sessionState"]["intent"]["state"]
        .as_str()
        .unwrap_or("")
}

fn history(response: &Value) -> History {
    let attributes = &response["sessionState"]["sessionAttributes"];
    History::decode(attributes[HISTORY_ATTRIBUTE].as_str().unwrap_or("[]"))
}

/// The (role, text) pairs of the Converse request last sent for `model`.
fn sent_messages(fake: &FakeBedrock, model: &str) -> Vec<(String, String)> {
    let sent = fake.last_request(model).unwrap();
    sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let role = m["role"].as_str().unwrap().to_owned();
            (role, m["content"][0]["text"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// A well-formed Lex V2 response: the checks Lex itself makes on what a Lambda returns.
fn assert_valid_lex_response(response: &Value) {
    let state = &response["sessionState"];
    assert!(state["sessionAttributes"].is_object(), "{response}");
    for value in state["sessionAttributes"].as_object().unwrap().values() {
        assert!(value.is_string(), "{response}");
    }
    let kind = action(response);
    assert!(
        ["Close", "Delegate", "ElicitIntent"].contains(&kind),
        "{response}"
    );
    if kind != "ElicitIntent" {
        assert!(state["intent"]["name"].is_string(), "{response}");
    }
    for message in response["messages"].as_array().into_iter().flatten() {
        assert_eq!(message["contentType"], "PlainText", "{response}");
        let text = message["content"].as_str().unwrap();
        assert!(!text.trim().is_empty() && text.chars().count() <= LEX_MAX_MESSAGE_CHARS);
    }
}

#[tokio::test]
async fn every_sample_event_gets_the_right_lex_response() {
    let gw = Lex::start("").await;
    let mut names: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("lex-") && name.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    for name in &names {
        let event = sample(name);
        let question = question_of(&event);
        let calls_before = gw.fake.total_calls();
        let response = gw.send(event.clone()).await;
        assert_valid_lex_response(&response);
        let calls = gw.fake.total_calls() - calls_before;
        if event["invocationSource"] == "DialogCodeHook" {
            assert_eq!((action(&response), calls), ("Delegate", 0), "{name}");
            let slots = &event["sessionState"]["intent"]["slots"];
            if slots.as_object().is_some_and(|s| !s.is_empty()) {
                assert_eq!(
                    response["sessionState"]["intent"]["slots"], *slots,
                    "{name}"
                );
            }
            assert_eq!(
                response["sessionState"]["sessionAttributes"],
                event["sessionState"]["sessionAttributes"],
                "{name}"
            );
            continue;
        }
        assert_eq!(
            (action(&response), intent_state(&response)),
            ("Close", "Fulfilled"),
            "{name}"
        );
        assert_eq!(calls, 1, "{name}");
        assert_eq!(
            gw.fake.converse_calls(SONNET),
            gw.fake.total_calls(),
            "{name}"
        );
        let expected = if event["inputMode"] == "Speech" {
            for_voice(&fake_answer(&question))
        } else {
            fake_answer(&question)
        };
        assert_eq!(content(&response), expected, "{name}");
        let turns = history(&response);
        let last = turns.turns().last().unwrap();
        assert_eq!(
            (last.user.as_str(), last.assistant.as_str()),
            (question.as_str(), expected.as_str())
        );
    }
}

#[tokio::test]
async fn an_answer_goes_through_the_configured_model_with_the_qa_prompt() {
    let gw = Lex::start("").await;
    let response = gw.send(sample("lex-first-turn.json")).await;
    assert_eq!(content(&response), fake_answer(FIRST_QUESTION));
    assert_eq!(response["sessionState"]["intent"]["name"], "FallbackIntent");
    let sent = gw.fake.last_request(SONNET).unwrap();
    assert!(sent["system"][0]["text"]
        .as_str()
        .unwrap()
        .contains("QAAssistant"));
    assert_eq!(sent["system"].as_array().unwrap().len(), 1);
    assert_eq!(sent["inferenceConfig"]["maxTokens"], 600);
    assert_eq!(
        sent_messages(&gw.fake, SONNET),
        vec![("user".into(), FIRST_QUESTION.into())]
    );
    let stored = history(&response);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored.turns()[0].assistant, fake_answer(FIRST_QUESTION));
}

#[tokio::test]
async fn lex_model_setting_picks_the_model_group() {
    let gw = Lex::start("lex:\n  model: claude-3-haiku\n").await;
    assert_eq!(gw.lex.model(), "claude-3-haiku");
    let response = gw.send(sample("lex-first-turn.json")).await;
    assert_eq!(intent_state(&response), "Fulfilled");
    assert_eq!(
        (
            gw.fake.converse_calls(HAIKU),
            gw.fake.converse_calls(SONNET)
        ),
        (1, 0)
    );
}

#[tokio::test]
async fn history_is_carried_into_the_follow_up() {
    let gw = Lex::start("").await;
    let follow_up = sample("lex-follow-up.json");
    let earlier = History::decode(
        follow_up["sessionState"]["sessionAttributes"][HISTORY_ATTRIBUTE]
            .as_str()
            .unwrap(),
    );
    let response = gw.send(follow_up).await;
    assert_eq!(content(&response), fake_answer("and the second one?"));
    let earlier = &earlier.turns()[0];
    assert_eq!(
        sent_messages(&gw.fake, SONNET),
        vec![
            ("user".into(), earlier.user.clone()),
            ("assistant".into(), earlier.assistant.clone()),
            ("user".into(), "and the second one?".into()),
        ]
    );
    assert_eq!(history(&response).len(), 2);

    // A whole conversation: each turn's attributes go back into the next event.
    let first = gw.send(ask("What is S3?", &json!({"keep": "me"}))).await;
    let second = gw
        .send(ask(
            "and its durability?",
            &first["sessionState"]["sessionAttributes"],
        ))
        .await;
    assert_eq!(second["sessionState"]["sessionAttributes"]["keep"], "me");
    let sent = sent_messages(&gw.fake, SONNET);
    assert_eq!(sent[0], ("user".into(), "What is S3?".into()));
    assert_eq!(sent[1], ("assistant".into(), fake_answer("What is S3?")));
    assert_eq!(history(&second).len(), 2);
}

#[tokio::test]
async fn history_stays_within_the_turn_and_byte_limits() {
    let gw = Lex::start("lex:\n  max_history_turns: 3\n  max_history_bytes: 700\n").await;
    let mut attributes = json!({});
    for n in 1..=12 {
        let question = format!("Question number {n}:{}", " tell me more".repeat(n));
        let response = gw.send(ask(&question, &attributes)).await;
        assert_eq!(intent_state(&response), "Fulfilled");
        attributes = response["sessionState"]["sessionAttributes"].clone();
        let encoded = attributes[HISTORY_ATTRIBUTE].as_str().unwrap();
        assert!(encoded.len() <= 700, "turn {n}: {} bytes", encoded.len());
        let turns = History::decode(encoded);
        assert!((1..=3).contains(&turns.len()), "turn {n}: {}", turns.len());
        assert_eq!(
            turns.turns().last().unwrap().user,
            question,
            "newest turn kept"
        );
        assert!(sent_messages(&gw.fake, SONNET).len() <= 2 * 3 + 1);
    }
    // An oversized history arriving from outside is bounded before it is sent.
    let mut big = History::default();
    for n in 0..20 {
        big.push(format!("q{n}"), format!("a{n}"));
    }
    let response = gw
        .send(ask("last one", &json!({HISTORY_ATTRIBUTE: big.encode()})))
        .await;
    let sent = sent_messages(&gw.fake, SONNET);
    assert_eq!(sent.len(), 2 * 3 + 1);
    assert_eq!(sent[0].1, "q17");
    assert_eq!(history(&response).len(), 3);
}

#[tokio::test]
async fn a_filtered_or_blocked_answer_is_withheld_politely() {
    for fault in [Fault::ContentFiltered, Fault::GuardrailIntervened] {
        let gw = Lex::start("").await;
        gw.fake.set_fault(SONNET, fault.clone());
        let event = sample("lex-follow-up.json");
        let response = gw.send(event.clone()).await;
        assert_valid_lex_response(&response);
        assert_eq!(
            (action(&response), intent_state(&response)),
            ("Close", "Failed"),
            "{fault:?}"
        );
        assert_eq!(content(&response), ANSWER_WITHHELD);
        assert_eq!(
            response["sessionState"]["sessionAttributes"],
            event["sessionState"]["sessionAttributes"],
            "the withheld turn is not remembered"
        );
    }
}

#[tokio::test]
async fn every_model_down_gives_a_friendly_failure_and_keeps_history() {
    let gw = Lex::start("").await;
    for model in [SONNET, HAIKU] {
        gw.fake.set_fault(model, Fault::Unavailable);
    }
    let event = sample("lex-follow-up.json");
    let response = gw.send(event.clone()).await;
    assert_valid_lex_response(&response);
    assert_eq!(
        (action(&response), intent_state(&response)),
        ("Close", "Failed")
    );
    assert_eq!(content(&response), ASSISTANT_UNAVAILABLE);
    assert_eq!(
        response["sessionState"]["sessionAttributes"],
        event["sessionState"]["sessionAttributes"]
    );
    assert!(gw.fake.converse_calls(SONNET) >= 1);

    gw.fake.set_fault(SONNET, Fault::Throttle);
    let response = gw.send(event).await;
    assert_eq!(
        (intent_state(&response), content(&response)),
        ("Failed", ASSISTANT_BUSY)
    );
}

#[tokio::test]
async fn a_hanging_model_is_abandoned_at_the_deadline() {
    let gw = Lex::start("").await;
    gw.fake.set_fault(SONNET, Fault::Hang);
    let event: LexEvent = serde_json::from_value(sample("lex-follow-up.json")).unwrap();
    let started = Instant::now();
    let response = gw
        .lex
        .handle(event.clone(), Some(started + Duration::from_millis(300)))
        .await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_secs(1),
        "{took:?}"
    );
    let value = serde_json::to_value(&response).unwrap();
    assert_eq!((action(&value), intent_state(&value)), ("Close", "Failed"));
    assert_eq!(content(&value), ANSWER_TOO_SLOW);
    assert_eq!(
        response.session_state.session_attributes,
        event.session_state.session_attributes
    );

    // From Lambda's deadline (epoch millis): the answer comes before the invocation times out.
    let now = SystemTime::now();
    let lambda_deadline = now.duration_since(UNIX_EPOCH).unwrap() + Duration::from_millis(1200);
    let deadline = invocation_deadline(lambda_deadline.as_millis() as u64, now);
    let started = Instant::now();
    let value = gw
        .lex
        .handle_json(sample("lex-first-turn.json"), deadline)
        .await;
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1100), "{took:?}");
    assert_eq!(content(&value), ANSWER_TOO_SLOW);
}

#[tokio::test]
async fn a_long_answer_is_cut_at_a_sentence_within_lex_limits() {
    let gw = Lex::start("").await;
    let response = gw
        .send(ask("Give me a LONG_ANSWER please", &json!({})))
        .await;
    let text = content(&response);
    assert_eq!(intent_state(&response), "Fulfilled");
    assert!(
        text.chars().count() <= LEX_MAX_MESSAGE_CHARS,
        "{}",
        text.len()
    );
    assert!(text.chars().count() >= LEX_MAX_MESSAGE_CHARS / 2);
    assert!(text.starts_with("This is sentence number 1 of a long answer."));
    assert!(text.ends_with(" of a long answer."), "{text}");
    assert_eq!(history(&response).turns()[0].assistant, text);

    let mut speech = sample("lex-speech.json");
    speech["inputTranscript"] = json!("say a LONG_ANSWER");
    let response = gw.send(speech).await;
    let spoken = content(&response);
    assert!(
        spoken.chars().count() <= VOICE_MAX_CHARS,
        "{}",
        spoken.len()
    );
    assert!(spoken.ends_with(" of a long answer."), "{spoken}");
}

#[tokio::test]
async fn speech_asks_for_spoken_sentences() {
    let gw = Lex::start("").await;
    let response = gw.send(sample("lex-speech.json")).await;
    assert_eq!(intent_state(&response), "Fulfilled");
    let sent = gw.fake.last_request(SONNET).unwrap();
    let system = sent["system"].as_array().unwrap();
    assert_eq!(system.len(), 2);
    assert!(system[1]["text"].as_str().unwrap().contains("read aloud"));
    assert_eq!(sent["inferenceConfig"]["maxTokens"], 300);
}

#[tokio::test]
async fn other_bots_intents_and_slots_are_handled() {
    let gw = Lex::start("").await;
    let mut event = sample("lex-other-bot.json");
    let dialog = gw.send(event.clone()).await;
    assert_eq!(action(&dialog), "Delegate");
    assert_eq!(dialog["sessionState"]["intent"]["name"], "BookHotel");
    assert_eq!(
        dialog["sessionState"]["activeContexts"],
        event["sessionState"]["activeContexts"]
    );

    event["invocationSource"] = json!("FulfillmentCodeHook");
    let response = gw.send(event.clone()).await;
    assert_valid_lex_response(&response);
    assert_eq!(
        (action(&response), intent_state(&response)),
        ("Close", "Fulfilled")
    );
    assert_eq!(content(&response), fake_answer("3 nights"));
    let intent = &response["sessionState"]["intent"];
    assert_eq!(intent["name"], "BookHotel");
    assert_eq!(intent["slots"], event["sessionState"]["intent"]["slots"]);
    let attributes = &response["sessionState"]["sessionAttributes"];
    assert_eq!(
        attributes["currentReservation"],
        event["sessionState"]["sessionAttributes"]["currentReservation"]
    );
    assert_eq!(history(&response).len(), 1);

    event["invocationSource"] = json!("SomeFutureHook");
    let response = gw.send(event).await;
    assert_eq!(action(&response), "Delegate");
    assert_eq!(gw.fake.total_calls(), 1);
}

#[tokio::test]
async fn an_empty_question_asks_for_one_without_a_model_call() {
    let gw = Lex::start("").await;
    let response = gw.send(ask("   ", &json!({}))).await;
    assert_valid_lex_response(&response);
    assert_eq!(action(&response), "ElicitIntent");
    assert_eq!(content(&response), ASK_FOR_QUESTION);
    assert_eq!(gw.fake.total_calls(), 0);
}

#[tokio::test]
async fn malformed_events_get_a_safe_response() {
    let gw = Lex::start("").await;
    let mut broken = sample("lex-follow-up.json");
    broken["inputMode"] = json!(7);
    let response = gw.send(broken.clone()).await;
    assert_valid_lex_response(&response);
    assert_eq!(
        (action(&response), intent_state(&response)),
        ("Close", "Failed")
    );
    assert_eq!(content(&response), SOMETHING_WENT_WRONG);
    assert_eq!(
        response["sessionState"]["sessionAttributes"],
        broken["sessionState"]["sessionAttributes"]
    );
    for payload in [json!(null), json!("hello"), json!({"sessionState": 3})] {
        let response = gw.send(payload).await;
        assert_valid_lex_response(&response);
        assert_eq!(intent_state(&response), "Failed");
    }
    assert_eq!(gw.fake.total_calls(), 0);
}

#[tokio::test]
async fn every_question_leaves_a_usage_record_billed_to_the_team_of_the_alias_or_bot() {
    let gw = Lex::start("lex:\n  default_team: everyone\n  teams: {QK7W2NPXHD: support}\n").await;
    let first = gw.send(sample("lex-first-turn.json")).await;
    assert_eq!(intent_state(&first), "Fulfilled");
    let mut other_bot = sample("lex-other-bot.json");
    other_bot["invocationSource"] = json!("FulfillmentCodeHook");
    let other = gw.send(other_bot).await;
    assert_eq!(intent_state(&other), "Fulfilled");
    gw.fake.set_fault(SONNET, Fault::Unavailable);
    let failed = gw.send(sample("lex-follow-up.json")).await;
    assert_eq!(content(&failed), ASSISTANT_UNAVAILABLE);
    // A dialog hook asks no question: no model call, no record.
    gw.send(sample("lex-dialog-hook.json")).await;

    let records = gw.usage_records().await;
    assert_eq!(records.len(), 3, "{records:#?}");
    let first_event: LexEvent = serde_json::from_value(sample("lex-first-turn.json")).unwrap();
    let r = &records[0];
    assert_eq!(
        (r.caller, r.key_id.as_str(), r.team.as_deref()),
        ("lex", "service:lex", Some("support"))
    );
    assert_eq!(
        r.session_id.as_deref(),
        Some(first_event.session_id.as_str())
    );
    assert_eq!(r.model, "claude-3-sonnet");
    assert_eq!(r.provider_model.as_deref(), Some(SONNET));
    assert_eq!(
        (r.outcome, r.error_type, r.streamed),
        (Outcome::Success, None, false)
    );
    assert!(r.prompt_tokens > 0 && r.completion_tokens > 0);
    assert_eq!(r.total_tokens, r.prompt_tokens + r.completion_tokens);
    assert_eq!(r.attempts, 1);
    assert_eq!(records[1].team.as_deref(), Some("everyone"));
    assert_eq!(
        (records[2].outcome, records[2].error_type),
        (Outcome::Failure, Some("provider.unavailable"))
    );
    // No question or answer text in a record.
    let text = serde_json::to_string(&records).unwrap();
    assert!(!text.contains(FIRST_QUESTION) && !text.contains("Fake answer"));

    let gw = Lex::start("lex:\n  teams: {TSTALIASID: test-alias, QK7W2NPXHD: support}\n").await;
    gw.send(sample("lex-speech.json")).await;
    let records = gw.usage_records().await;
    assert_eq!(records[0].team.as_deref(), Some("test-alias"));
}

#[tokio::test]
async fn a_megabyte_lex_session_id_is_cut_in_the_usage_record() {
    let gw = Lex::start("").await;
    let mut event = sample("lex-first-turn.json");
    event["sessionId"] = json!("s".repeat(1 << 20));
    let answer = gw.send(event).await;
    assert_eq!(intent_state(&answer), "Fulfilled");
    let records = gw.usage_records().await;
    let session = records[0].session_id.clone().unwrap();
    assert_eq!(session.chars().count(), gateway::usage::MAX_FIELD_CHARS);
    assert!(session.ends_with(gateway::usage::TRUNCATED));
    assert!(serde_json::to_string(&records[0]).unwrap().len() < 16 * 1024);
}
