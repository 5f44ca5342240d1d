//! Property tests for Lex event handling: any JSON event parses (and round-trips) or gets a safe
//! salvaged answer; any session attributes and history value decode without a panic; bounded
//! history, reply fitting and JSON budgets keep their limits (bounded runs in `cargo test`;
//! failures persist in `proptest-regressions/`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::event::LexEvent;
use super::handler::salvaged_response;
use super::history::History;
use super::json_budget::{escaped_len, truncate_escaped};
use super::reply::{fit_for_lex, for_voice};

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn maybe(plausible: Vec<Value>) -> impl Strategy<Value = Option<Value>> {
    prop::option::weighted(
        0.9,
        prop_oneof![4 => prop::sample::select(plausible), 1 => any_json()],
    )
}

/// Session attributes: the history attribute (valid, corrupt or huge) and others of any type.
fn attributes() -> impl Strategy<Value = Value> {
    let history = prop_oneof![
        Just(json!("[[\"q\",\"a\"]]")),
        Just(json!("[[\"q\"]]")),
        Just(json!("{}")),
        ".{0,16}".prop_map(Value::String),
        (".{0,8}", ".{0,8}").prop_map(|(q, a)| json!(json!([[q, a]]).to_string())),
        any_json(),
    ];
    (
        history,
        prop::collection::btree_map("[a-z_]{1,8}", any_json(), 0..3),
    )
        .prop_map(|(history, mut others)| {
            others.insert("qa_history".into(), history);
            Value::Object(others.into_iter().collect())
        })
}

fn event() -> impl Strategy<Value = Value> {
    let intent =
        json!({"name": "QA", "slots": {}, "state": "InProgress", "confirmationState": "None"});
    (
        maybe(vec![json!("1.0")]),
        maybe(vec![json!("FulfillmentCodeHook"), json!("DialogCodeHook"), json!("Other")]),
        maybe(vec![json!("Text"), json!("Speech"), json!("DTMF")]),
        maybe(vec![json!("s-1"), json!("")]),
        prop::option::of(".{0,24}".prop_map(Value::String)),
        maybe(vec![json!({"id": "B", "name": "QAAssistant", "aliasId": "A", "localeId": "en_US", "version": "1"})]),
        prop::option::weighted(0.8, (attributes(), maybe(vec![intent.clone(), json!({"name": "X"})]), maybe(vec![json!([]), json!([{"name": "c", "timeToLive": {}}])]))),
        maybe(vec![json!([{"intent": intent, "nluConfidence": {"score": 0.9}}]), json!([])]),
        maybe(vec![json!({"k": "v"}), json!({})]),
    )
        .prop_map(
            |(version, source, mode, session, transcript, bot, state, interpretations, request)| {
                let mut event = Map::new();
                let mut put = |key: &str, value: Option<Value>| {
                    if let Some(value) = value {
                        event.insert(key.into(), value);
                    }
                };
                put("messageVersion", version);
                put("invocationSource", source);
                put("inputMode", mode);
                put("sessionId", session);
                put("inputTranscript", transcript);
                put("bot", bot);
                put("interpretations", interpretations);
                put("requestAttributes", request);
                put(
                    "sessionState",
                    state.map(|(attributes, intent, contexts)| {
                        let mut state = Map::new();
                        state.insert("sessionAttributes".into(), attributes);
                        if let Some(intent) = intent {
                            state.insert("intent".into(), intent);
                        }
                        if let Some(contexts) = contexts {
                            state.insert("activeContexts".into(), contexts);
                        }
                        Value::Object(state)
                    }),
                );
                Value::Object(event)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_event_parses_and_round_trips_or_gets_a_safe_answer(
        payload in prop_oneof![4 => event(), 1 => any_json()],
    ) {
        match serde_json::from_value::<LexEvent>(payload.clone()) {
            Ok(event) => {
                let _ = (event.question(), event.intent_name(), event.is_fulfillment(), event.is_speech());
                let _ = History::from_attributes(&event.session_state.session_attributes);
                let again: LexEvent =
                    serde_json::from_value(serde_json::to_value(&event).unwrap()).unwrap();
                prop_assert_eq!(again, event);
            }
            Err(_) => {
                let answer = serde_json::to_value(salvaged_response(&payload)).unwrap();
                let action = answer["sessionState"]["dialogAction"]["type"].as_str();
                prop_assert!(matches!(action, Some("Close" | "Delegate")), "{}", answer);
                let attributes = answer["sessionState"]["sessionAttributes"].as_object();
                prop_assert!(
                    attributes.is_none_or(|a| a.values().all(Value::is_string)),
                    "{}", answer
                );
            }
        }
    }

    #[test]
    fn any_history_decodes_and_bounded_history_keeps_its_limits(
        raw in ".{0,40}",
        turns in prop::collection::vec((".{0,60}", ".{0,60}"), 0..8),
        max_turns in 0usize..6,
        max_bytes in 0usize..300,
    ) {
        let _ = History::decode(&raw);
        let mut history = History::default();
        for (user, assistant) in &turns {
            history.push(user.as_str(), assistant.as_str());
        }
        prop_assert_eq!(History::decode(&history.encode()), history.clone());
        let mut attributes = BTreeMap::new();
        history.write_to(&mut attributes);
        prop_assert_eq!(History::from_attributes(&attributes), history.clone());
        let bounded = history.bounded(max_turns, max_bytes);
        prop_assert!(bounded.len() <= max_turns);
        prop_assert!(bounded.is_empty() || bounded.encode().len() <= max_bytes);
    }

    #[test]
    fn replies_and_json_budgets_keep_their_limits(text in ".{0,300}", max in 0usize..200) {
        let fitted = fit_for_lex(&text, max);
        prop_assert!(fitted.chars().count() <= max, "{} chars > {}", fitted.chars().count(), max);
        let _ = for_voice(&text);
        let cut = truncate_escaped(&text, max);
        prop_assert!(text.starts_with(cut));
        prop_assert!(escaped_len(cut) <= max);
    }
}

/// A well-formed fulfillment event: any transcript, any history attribute (string-valued).
fn fulfillment_event() -> impl Strategy<Value = Value> {
    let history = prop_oneof![
        ".{0,16}",
        prop::collection::vec((".{0,40}", ".{0,40}"), 0..6)
            .prop_map(|turns| json!(turns).to_string()),
    ];
    (
        prop::sample::select(vec!["Text", "Speech", "DTMF"]),
        ".{0,200}",
        history,
    )
        .prop_map(|(mode, transcript, history)| {
            json!({
                "messageVersion": "1.0", "invocationSource": "FulfillmentCodeHook",
                "inputMode": mode, "sessionId": "s-1", "inputTranscript": transcript,
                "bot": {"id": "B", "name": "QAAssistant", "aliasId": "A", "localeId": "en_US", "version": "1"},
                "sessionState": {
                    "sessionAttributes": {"qa_history": history, "other": "x"},
                    "intent": {"name": "QA", "slots": {}, "state": "InProgress", "confirmationState": "None"}
                }
            })
        })
}

/// Answers every request with a long markdown text (so replies must be fitted).
struct Answering;

impl crate::providers::ChatProvider for Answering {
    fn chat<'a>(
        &'a self,
        _: &'a crate::chat::ChatRequest,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<crate::chat::ChatResponse, crate::providers::ProviderError>,
                > + Send
                + 'a,
        >,
    > {
        Box::pin(async {
            Ok(crate::chat::ChatResponse {
                content: Some(format!(
                    "# Answer\n\n{}",
                    "**Yes.** It *is* `so`. ".repeat(80)
                )),
                reasoning: Vec::new(),
                tool_calls: Vec::new(),
                finish_reason: crate::chat::FinishReason::Stop,
                usage: crate::chat::Usage::default(),
            })
        })
    }

    fn chat_stream<'a>(
        &'a self,
        _: &'a crate::chat::ChatRequest,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<crate::providers::EventStream, crate::providers::ProviderError>,
                > + Send
                + 'a,
        >,
    > {
        Box::pin(async { Err(crate::providers::ProviderError::Unavailable("no".into())) })
    }
}

/// One fulfillment (a gateway over [`Answering`]) and its runtime, shared by the cases.
fn fulfillment() -> &'static (tokio::runtime::Runtime, super::LexFulfillment) {
    static SHARED: std::sync::OnceLock<(tokio::runtime::Runtime, super::LexFulfillment)> =
        std::sync::OnceLock::new();
    SHARED.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let env = crate::env::Environment::from_pairs([("AWS_REGION", "us-east-1")]);
        let config = crate::config::from_yaml_str(
            "model_list:\n  - model_name: claude-3-sonnet\n    litellm_params: {model: bedrock/anthropic.claude-3-sonnet-20240229-v1:0}\n",
            &env,
        )
        .unwrap();
        let providers = config
            .model_list
            .iter()
            .map(|d| {
                let provider: std::sync::Arc<dyn crate::providers::ChatProvider> =
                    std::sync::Arc::new(Answering);
                (d.deployment_id.clone(), provider)
            })
            .collect();
        let gateway = runtime
            .block_on(crate::gateway::Gateway::builder(&config, providers).build())
            .unwrap();
        let fulfillment =
            super::LexFulfillment::new(std::sync::Arc::new(gateway), &config).unwrap();
        (runtime, fulfillment)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_event_through_the_handler_gets_a_valid_lex_answer(
        payload in prop_oneof![3 => fulfillment_event(), 2 => event(), 1 => any_json()],
    ) {
        let (runtime, fulfillment) = fulfillment();
        let answer = runtime.block_on(fulfillment.handle_json(payload, None));
        let state = &answer["sessionState"];
        let action = state["dialogAction"]["type"].as_str();
        prop_assert!(
            matches!(action, Some("Close" | "Delegate" | "ElicitSlot" | "ElicitIntent" | "ConfirmIntent")),
            "{}", answer
        );
        let attributes = state["sessionAttributes"].as_object();
        prop_assert!(attributes.is_none_or(|a| a.values().all(Value::is_string)), "{}", answer);
        for message in answer["messages"].as_array().into_iter().flatten() {
            let content = message["content"].as_str().unwrap_or_default();
            prop_assert!(content.chars().count() <= super::reply::LEX_MAX_MESSAGE_CHARS);
        }
    }
}
