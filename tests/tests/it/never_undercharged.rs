//! Issue 18 part A: no request is given away. Keys and budgets in DynamoDB (moto, real SDK),
//! the fake Bedrock's streams cut, stalled and failed: each request is charged what the model
//! did (or its documented estimate, `usage_estimated: true`), in its usage record and in its
//! budget's settled spend; `maxTokens` is always sent; Lex alike.
// Test helpers: failing loudly is the point.
#![allow(clippy::unwrap_used)]

use gateway::lex::LexFulfillment;
use gateway::pipeline::DEFAULT_MAX_TOKENS;
use gateway::usage::UsageRecord;
use gateway_tests::fake_bedrock::Fault;
use gateway_tests::harness::{load_config, sample_event, TestGateway, HAIKU, SONNET};
use gateway_tests::keys::{moto, priced_yaml, settings, Instance, PRICE_PER_TOKEN};
use serde_json::{json, Value};

/// A `during_call` guardrail on every request; the fake blocks text with `BLOCKME`.
const DURING: &str = "guardrails:
  - guardrail_name: during
    litellm_params:
      guardrail: bedrock
      mode: during_call
      default_on: true
      guardrailIdentifier: gd
      guardrailVersion: '1'
      aws_region_name: us-east-1
      aws_bedrock_runtime_endpoint: {endpoint}
      aws_access_key_id: test-access-key
      aws_secret_access_key: test-secret-key
";

const LEX: &str = "lex:\n  model: claude-3-haiku\n  teams:\n    TSTALIASID: support\n";

async fn instance(prefix: &str, extra: &str) -> Instance {
    let table = moto().new_table(prefix).await;
    Instance::start(&table, extra, settings(0.0, 900.0)).await
}

async fn spend_of(gw: &Instance, key: &str) -> f64 {
    let info = gw.admin(&format!("/key/info?key={key}"), None).await.json();
    info["info"]["spend"].as_f64().unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// The only record written since the last call.
async fn last_record(gw: &Instance) -> UsageRecord {
    gw.gw.usage_records().await.pop().unwrap()
}

/// "hi" (estimated 1 input token) with `max_tokens` 4.
fn hi(stream: bool, extra: Value) -> Value {
    let mut body = json!({"model": "claude-3-sonnet", "stream": stream, "max_tokens": 4,
                          "messages": [{"role": "user", "content": "hi"}]});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

#[tokio::test]
async fn a_stream_cut_before_its_usage_is_charged_what_it_streamed() {
    let gw = instance("charge-cut", "").await;
    let key = gw.new_key(json!({"max_budget": 100.0})).await;
    // Each stream sends messageStart and two deltas, "Fake " and "answer " (12 bytes), then:
    // stalls past the client's own `timeout`, fails upstream, or loses its connection.
    let cuts = [
        (
            Fault::StreamStall { after_events: 3 },
            json!({"timeout": 0.5}),
        ),
        (Fault::StreamException { after_events: 3 }, json!({})),
        (Fault::StreamCut { after_events: 3 }, json!({})),
    ];
    let mut spent = 0.0;
    for (fault, extra) in cuts {
        gw.gw.fake.set_fault(SONNET, fault.clone());
        let res = gw.ask_with(&key, hi(true, extra)).await;
        assert_eq!(res.status, 200, "{fault:?}: {}", res.text());
        assert!(
            res.text().contains(r#"{"content":"answer "}"#),
            "{}",
            res.text()
        );
        let record = last_record(&gw).await;
        // Input: "hi" estimated as the reservation does (2 / 4 + 1); output: 12 bytes / 4.
        assert!(record.usage_estimated, "{fault:?}: {record:?}");
        assert_eq!(
            (
                record.prompt_tokens,
                record.completion_tokens,
                record.total_tokens
            ),
            (1, 3, 4),
            "{fault:?}"
        );
        let cost = record.cost_usd.unwrap();
        assert!(close(cost, 4.0 * PRICE_PER_TOKEN), "{fault:?}: {cost}");
        spent += cost;
        assert!(
            close(spend_of(&gw, &key).await, spent),
            "{fault:?}: the budget is settled with the estimate"
        );
    }
}

#[tokio::test]
async fn a_whole_answer_abandoned_at_the_clients_timeout_is_charged_its_reservation() {
    let gw = instance("charge-hang", "").await;
    let key = gw.new_key(json!({"max_budget": 100.0})).await;
    gw.gw.fake.set_fault(SONNET, Fault::Hang);
    let res = gw.ask_with(&key, hi(false, json!({"timeout": 0.3}))).await;
    assert!(res.status.is_client_error() || res.status.is_server_error());
    let record = last_record(&gw).await;
    // The model was asked; it may finish and bill an answer nobody reads: 1 in + 4 out.
    assert!(record.usage_estimated, "{record:?}");
    assert_eq!((record.prompt_tokens, record.completion_tokens), (1, 4));
    let reservation = 5.0 * PRICE_PER_TOKEN;
    assert!(close(record.cost_usd.unwrap(), reservation), "{record:?}");
    assert!(close(spend_of(&gw, &key).await, reservation));
    // A provider's refusal (the model did not run) charges nothing.
    gw.gw.fake.set_fault(SONNET, Fault::Validation("no".into()));
    let refused = gw.ask_with(&key, hi(false, json!({}))).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    let record = last_record(&gw).await;
    assert!(!record.usage_estimated);
    assert_eq!(record.total_tokens, 0);
    assert!(close(spend_of(&gw, &key).await, reservation));
}

#[tokio::test]
async fn a_during_call_block_is_charged_whole_and_streamed() {
    let gw = instance("charge-during", DURING).await;
    let key = gw.new_key(json!({"max_budget": 100.0})).await;
    let blocked = |stream| {
        json!({"model": "claude-3-sonnet", "stream": stream, "max_tokens": 10,
               "messages": [{"role": "user", "content": "say BLOCKME"}]})
    };
    // Whole: the discarded answer's real usage ("Fake answer to: say BLOCKME": 5 words out,
    // 2 in).
    let res = gw.ask_with(&key, blocked(false)).await;
    assert_eq!(res.status, 400, "{}", res.text());
    assert!(!res.text().contains("Fake answer"));
    let record = last_record(&gw).await;
    assert_eq!(record.error_type, Some("guardrail_blocked.input"));
    assert!(!record.usage_estimated, "{record:?}");
    assert_eq!((record.prompt_tokens, record.completion_tokens), (2, 5));
    let whole = 7.0 * PRICE_PER_TOKEN;
    assert!(close(record.cost_usd.unwrap(), whole), "{record:?}");
    assert!(close(spend_of(&gw, &key).await, whole));
    // Streamed: the stream is dropped unread, charged its reservation ("say BLOCKME": 11 / 4
    // + 1 = 3 in, max_tokens 10 out).
    let res = gw.ask_with(&key, blocked(true)).await;
    assert_eq!(res.status, 400, "{}", res.text());
    let record = last_record(&gw).await;
    assert!(record.usage_estimated, "{record:?}");
    assert_eq!((record.prompt_tokens, record.completion_tokens), (3, 10));
    let streamed = 13.0 * PRICE_PER_TOKEN;
    assert!(close(record.cost_usd.unwrap(), streamed), "{record:?}");
    assert!(close(spend_of(&gw, &key).await, whole + streamed));
    assert_eq!(gw.gw.fake.calls(SONNET), 2, "both were asked of the model");
}

#[tokio::test]
async fn max_tokens_is_sent_as_reserved_when_the_caller_gives_none() {
    let gw = TestGateway::start().await;
    for stream in [false, true] {
        let res = gw
            .chat(json!({"model": "claude-3-sonnet", "stream": stream,
                         "messages": [{"role": "user", "content": "hello"}]}))
            .await;
        assert_eq!(res.status, 200, "{}", res.text());
        let sent = gw.fake.last_request(SONNET).unwrap();
        assert_eq!(
            sent["inferenceConfig"]["maxTokens"],
            json!(DEFAULT_MAX_TOKENS),
            "stream {stream}: {sent}"
        );
        let res = gw
            .chat(json!({"model": "claude-3-sonnet", "stream": stream,
                         "max_completion_tokens": 7,
                         "messages": [{"role": "user", "content": "hello"}]}))
            .await;
        assert_eq!(res.status, 200);
        let sent = gw.fake.last_request(SONNET).unwrap();
        assert_eq!(sent["inferenceConfig"]["maxTokens"], json!(7));
    }
}

#[tokio::test]
async fn lex_sends_max_tokens_and_a_blocked_question_is_charged_to_its_team() {
    let extra = format!("{LEX}{DURING}");
    let gw = instance("charge-lex", &extra).await;
    gw.admin(
        "/team/new",
        Some(json!({"team_id": "support", "max_budget": 1000.0})),
    )
    .await;
    let config = load_config(&priced_yaml(&gw.gw.fake.endpoint(), &extra));
    let lex = LexFulfillment::new(gw.gw.gateway.clone(), &config).unwrap();
    let mut event = sample_event("lex-first-turn.json");
    event["inputTranscript"] = json!("Tell me about BLOCKME please");
    let reply = lex.handle_json(event, None).await;
    assert_eq!(
        reply["sessionState"]["intent"]["state"], "Failed",
        "{reply}"
    );
    // Lex's own limit for a text reply (`lex::prompt`), reserved and sent alike.
    let sent = gw.gw.fake.last_request(HAIKU).unwrap();
    assert_eq!(sent["inferenceConfig"]["maxTokens"], json!(600), "{sent}");
    let record = last_record(&gw).await;
    assert_eq!(record.caller, "lex");
    assert_eq!(record.error_type, Some("guardrail_blocked.input"));
    assert!(record.completion_tokens > 0, "{record:?}");
    let cost = record.cost_usd.unwrap();
    assert!(
        close(cost, f64::from(record.total_tokens) * PRICE_PER_TOKEN),
        "{record:?}"
    );
    let team = gw.admin("/team/info?team_id=support", None).await.json();
    let spend = team["team_info"]["spend"].as_f64().unwrap();
    assert!(close(spend, cost), "team spend {spend}, charged {cost}");
}

#[tokio::test]
async fn a_client_that_closes_at_finish_reason_is_charged_what_was_streamed() {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let gw = instance("charge-close", "").await;
    let key = gw.new_key(json!({"max_budget": 100.0})).await;
    let request = http::Request::post("/v1/chat/completions")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Body::from(hi(true, json!({"max_tokens": 50})).to_string()))
        .unwrap();
    let response = gw.gw.router.clone().oneshot(request).await.unwrap();
    let mut body = response.into_body();
    let mut seen = String::new();
    // Reads until the chunk with `finish_reason`, then goes away before the usage.
    while !seen.contains(r#""finish_reason":"stop""#) {
        let frame = body.frame().await.unwrap().unwrap();
        if let Some(data) = frame.data_ref() {
            seen.push_str(&String::from_utf8_lossy(data));
        }
    }
    assert!(!seen.contains(r#""usage""#), "{seen}");
    drop(body);
    let record = last_record(&gw).await;
    // "Fake answer to: hi" in four deltas, 18 bytes: 5 tokens out; "hi": 1 in.
    assert!(record.usage_estimated, "{record:?}");
    assert_eq!((record.prompt_tokens, record.completion_tokens), (1, 5));
    let cost = 6.0 * PRICE_PER_TOKEN;
    assert!(close(record.cost_usd.unwrap(), cost), "{record:?}");
    assert!(close(spend_of(&gw, &key).await, cost));
}
