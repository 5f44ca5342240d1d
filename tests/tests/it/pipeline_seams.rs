//! The pipeline's seams with their in-memory parts: a key store with a virtual key, input and
//! output guardrails on whole answers, streams and Lex.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::body::Body;
use gateway::guardrails::{Guardrail, WordListGuardrail};
use gateway::keys::{KeyHash, MemoryKeyStore, VirtualKey};
use gateway::lex::{LexFulfillment, ANSWER_WITHHELD};
use gateway::usage::{MemoryUsageSink, Outcome};
use gateway_tests::fake_bedrock::FakeBedrock;
use gateway_tests::harness::{
    build_gateway, config_yaml, load_config, sample_event, TestGateway, HAIKU, SONNET,
};
use http::Request;
use serde_json::{json, Value};

fn words(name: &str, blocked: &[&str], masked: &[&str]) -> Arc<dyn Guardrail> {
    Arc::new(WordListGuardrail::new(name, blocked, masked))
}

async fn guarded(
    input: Option<Arc<dyn Guardrail>>,
    output: Option<Arc<dyn Guardrail>>,
) -> TestGateway {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = config_yaml(&fake.endpoint());
    TestGateway::customized(fake, &yaml, move |mut b| {
        if let Some(g) = input {
            b = b.input_guardrail(g);
        }
        if let Some(g) = output {
            b = b.output_guardrail(g);
        }
        b
    })
    .await
}

fn ask(text: &str, stream: bool) -> Value {
    json!({"model":"claude-3-sonnet","stream":stream,"messages":[{"role":"user","content":text}]})
}

fn streamed_text(events: &[Value]) -> String {
    events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect()
}

#[tokio::test]
async fn a_blocked_input_never_reaches_the_model_whole_or_streamed() {
    let gw = guarded(Some(words("words", &["forbidden"], &[])), None).await;
    for stream in [false, true] {
        let res = gw.chat(ask("tell me the Forbidden thing", stream)).await;
        let body = res.assert_error(400, "invalid_request_error");
        assert_eq!(body["error"]["code"], "content_policy_violation");
    }
    assert_eq!(gw.fake.total_calls(), 0);
    let records = gw.usage_records().await;
    assert_eq!(records.len(), 2);
    assert!(records
        .iter()
        .all(|r| r.error_type == Some("guardrail_blocked.input")
            && r.guardrails == ["words:blocked"]
            && r.attempts == 0));
}

#[tokio::test]
async fn a_masked_input_goes_on_to_the_model_masked() {
    let gw = guarded(Some(words("pii", &[], &["alice@example.com"])), None).await;
    let res = gw.chat(ask("mail alice@example.com please", false)).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.json()["choices"][0]["message"]["content"],
        "Fake answer to: mail {MASKED} please"
    );
    let sent = gw.fake.last_request(SONNET).unwrap().to_string();
    assert!(!sent.contains("alice@example.com"), "{sent}");
    assert_eq!(gw.usage_records().await[0].guardrails, ["pii:masked"]);
}

#[tokio::test]
async fn output_guardrails_mask_whole_answers_and_streams() {
    let gw = guarded(None, Some(words("out", &[], &["secret"]))).await;
    let whole = gw.chat(ask("the secret word", false)).await;
    assert_eq!(
        whole.json()["choices"][0]["message"]["content"],
        "Fake answer to: the {MASKED} word"
    );
    let streamed = gw
        .chat(ask("the secret word. And another secret", true))
        .await;
    assert_eq!(
        streamed_text(&streamed.sse_events()),
        "Fake answer to: the {MASKED} word. And another {MASKED}"
    );
    assert_eq!(gw.usage_records().await[0].guardrails, ["out:masked"]);
}

#[tokio::test]
async fn a_blocked_answer_is_an_error_whole_and_an_error_event_streamed() {
    let gw = guarded(None, Some(words("out", &["secret"], &[]))).await;
    // The first sentence is a window of its own (longer than STREAM_WINDOW_MIN_BYTES; the next
    // one starts with a capital, as a sentence must by Unicode's rules).
    let question = format!("first sentence{}. The secret", " and more".repeat(25));
    let whole = gw.chat(ask(&question, false)).await;
    assert_eq!(
        whole.assert_error(400, "invalid_request_error")["error"]["code"],
        "content_policy_violation"
    );
    let streamed = gw.chat(ask(&question, true)).await;
    let text = streamed.text();
    assert!(
        !text.contains("secret") && !text.contains("[DONE]"),
        "{text}"
    );
    assert!(
        text.contains("Fake answer to: first sentence and more"),
        "the checked window went out: {text}"
    );
    assert!(text.contains("content_policy_violation"), "{text}");
    let records = gw.usage_records().await;
    assert!(records
        .iter()
        .all(|r| r.error_type == Some("guardrail_blocked.output")));
}

#[tokio::test]
async fn lex_answers_pass_the_same_guardrails() {
    let fake = FakeBedrock::start().await.unwrap();
    let config = load_config(&config_yaml(&fake.endpoint()));
    let usage = Arc::new(MemoryUsageSink::default());
    let gateway = build_gateway(&config, Arc::clone(&usage), |b| {
        b.output_guardrail(words("out", &["well-architected"], &[]))
    })
    .await;
    let lex = LexFulfillment::new(Arc::clone(&gateway), &config).unwrap();
    let event = sample_event("lex-first-turn.json");
    let response = lex.handle_json(event, None).await;
    assert_eq!(response["messages"][0]["content"], ANSWER_WITHHELD);
    assert_eq!(response["sessionState"]["intent"]["state"], "Failed");
    gateway.after_response().flush().await;
    assert_eq!(
        usage.records()[0].error_type,
        Some("guardrail_blocked.output")
    );
}

#[tokio::test]
async fn a_virtual_key_sees_and_uses_only_its_models() {
    let store = Arc::new(MemoryKeyStore::new());
    store.insert(
        "sk-team-support",
        VirtualKey {
            alias: Some("support-bot".into()),
            team: Some("support".into()),
            models: vec!["claude-3-haiku".into()],
            ..VirtualKey::default()
        },
    );
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = config_yaml(&fake.endpoint());
    let keys = Arc::clone(&store);
    let gw = TestGateway::customized(fake, &yaml, move |b| b.key_store(keys)).await;
    let send = |path: &str, body: Option<Value>| {
        let builder = Request::builder()
            .uri(path)
            .header("authorization", "Bearer sk-team-support")
            .header("content-type", "application/json");
        match body {
            Some(body) => builder
                .method("POST")
                .body(Body::from(body.to_string()))
                .unwrap(),
            None => builder.body(Body::empty()).unwrap(),
        }
    };
    let models = gw.send(send("/v1/models", None)).await.json();
    assert_eq!(models["data"].as_array().unwrap().len(), 1);
    assert_eq!(models["data"][0]["id"], "claude-3-haiku");
    let denied = gw
        .send(send("/v1/chat/completions", Some(ask("hi", false))))
        .await;
    assert_eq!(
        denied.assert_error(403, "permission_error")["error"]["code"],
        "model_not_allowed"
    );
    let mut allowed = ask("hi", false);
    allowed["model"] = json!("claude-3-haiku");
    let ok = gw.send(send("/v1/chat/completions", Some(allowed))).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!((gw.fake.calls(SONNET), gw.fake.calls(HAIKU)), (0, 1));

    let records = gw.usage_records().await;
    let key_id = KeyHash::of("sk-team-support").prefix().to_owned();
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(r.key_id, key_id);
        assert_eq!(
            (r.key_alias.as_deref(), r.team.as_deref()),
            (Some("support-bot"), Some("support"))
        );
    }
    assert_eq!(records[0].error_type, Some("model_not_allowed"));
    assert_eq!(records[1].outcome, Outcome::Success);
    assert!(!serde_json::to_string(&records)
        .unwrap()
        .contains("sk-team-support"));
}
