//! Bedrock guardrails from the config, through the real SDK against the fake ApplyGuardrail
//! (blocked word `BLOCKME`; emails and phone numbers anonymized as `{EMAIL}`, `{PHONE}`):
//! every mode whole and streamed, masks split across chunks, attachment to groups, keys and
//! requests, failure in both fail modes, fallbacks on a block, Lex, and the usage record.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::body::Body;
use gateway::keys::{MemoryKeyStore, VirtualKey};
use gateway::lex::{LexFulfillment, ANSWER_WITHHELD};
use gateway::usage::{MemoryUsageSink, UsageRecord};
use gateway_tests::fake_bedrock::{FakeBedrock, Fault};
use gateway_tests::harness::{
    build_gateway, load_config, sample_event, TestGateway, TestResponse, HAIKU, MASTER_KEY, SONNET,
};
use http::Request;
use serde_json::{json, Value};

const EMAIL: &str = "alice.smith@example.com";
const PHONE: &str = "+1 555 123 4567";

/// Two groups on the fake; `sonnet_extra` goes into the sonnet deployment's `litellm_params`,
/// `rest` after `model_list` (guardrails, router settings).
fn yaml(endpoint: &str, sonnet_extra: &str, rest: &str) -> String {
    let creds = format!(
        "      aws_region_name: us-east-1\n      aws_bedrock_runtime_endpoint: {endpoint}\n      \
         aws_access_key_id: test-access-key\n      aws_secret_access_key: test-secret-key\n"
    );
    format!(
        "model_list:\n  - model_name: claude-3-sonnet\n    litellm_params:\n      model: bedrock/{SONNET}\n\
         {creds}{sonnet_extra}  - model_name: claude-3-haiku\n    litellm_params:\n      model: bedrock/{HAIKU}\n\
         {creds}general_settings:\n  master_key: {MASTER_KEY}\n{rest}"
    )
}

/// One `guardrails` entry named `name` with identifier `id`, version 1; `extra` lines are
/// indented by six spaces.
fn guardrail(endpoint: &str, name: &str, id: &str, mode: &str, extra: &[&str]) -> String {
    let mut out = format!(
        "  - guardrail_name: {name}\n    litellm_params:\n      guardrail: bedrock\n      mode: {mode}\n      \
         guardrailIdentifier: {id}\n      guardrailVersion: '1'\n      aws_region_name: us-east-1\n      \
         aws_bedrock_runtime_endpoint: {endpoint}\n      aws_access_key_id: test-access-key\n      \
         aws_secret_access_key: test-secret-key\n"
    );
    for line in extra {
        out.push_str(&format!("      {line}\n"));
    }
    out
}

/// A gateway whose config has `guardrails` entries (each from [`guardrail`]).
async fn gateway_with(entries: &[(&str, &str, &str, &[&str])]) -> TestGateway {
    let fake = FakeBedrock::start().await.unwrap();
    let endpoint = fake.endpoint();
    let mut rest = String::from("guardrails:\n");
    for (name, id, mode, extra) in entries {
        rest.push_str(&guardrail(&endpoint, name, id, mode, extra));
    }
    TestGateway::with_yaml(fake, &yaml(&endpoint, "", &rest)).await
}

/// A gateway whose one guardrail, `out` (`gout`), masks every answer (`post_call`).
async fn masking_answers() -> TestGateway {
    gateway_with(&[(
        "out",
        "gout",
        "post_call",
        &["default_on: true", "mask_response_content: true"],
    )])
    .await
}

fn ask(text: &str, stream: bool) -> Value {
    json!({"model":"claude-3-sonnet","stream":stream,"messages":[{"role":"user","content":text}]})
}

fn answer(res: &TestResponse, stream: bool) -> String {
    assert_eq!(res.status, 200, "{}", res.text());
    if stream {
        res.sse_events()
            .iter()
            .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
            .collect()
    } else {
        res.json()["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

fn finish_reason(res: &TestResponse, stream: bool) -> Value {
    if stream {
        let events = res.sse_events();
        let last = events
            .iter()
            .rev()
            .find(|e| !e["choices"][0]["finish_reason"].is_null())
            .unwrap_or_else(|| panic!("no finish_reason: {}", res.text()));
        last["choices"][0]["finish_reason"].clone()
    } else {
        res.json()["choices"][0]["finish_reason"].clone()
    }
}

fn assert_blocked(res: &TestResponse) {
    let body = res.assert_error(400, "invalid_request_error");
    assert_eq!(body["error"]["code"], "content_policy_violation", "{body}");
}

/// Whether `text` holds any part of the test's email or phone number. The parts have letters
/// or spaces in them, so request ids (hex) and timestamps (digits) never match by chance.
fn leaks_pii(text: &str) -> bool {
    ["alice", "example.com", "555 123", "123 4567"]
        .iter()
        .any(|part| text.contains(part))
}

fn no_pii(records: &[UsageRecord]) {
    let stored = serde_json::to_string(records).unwrap();
    assert!(!leaks_pii(&stored), "{stored}");
}

#[tokio::test]
async fn pre_call_blocks_the_input_and_the_model_is_never_called() {
    let gw = gateway_with(&[("in", "gin", "pre_call", &["default_on: true"])]).await;
    for stream in [false, true] {
        assert_blocked(&gw.chat(ask("please BLOCKME now", stream)).await);
    }
    assert_eq!(gw.fake.total_calls(), 0);
    assert_eq!(gw.fake.guardrail_calls_from("gin", "1", "INPUT"), 2);
    assert_eq!(gw.fake.guardrail_calls_from("gin", "1", "OUTPUT"), 0);
    let records = gw.usage_records().await;
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(r.error_type, Some("guardrail_blocked.input"));
        assert_eq!(
            (r.guardrails.as_slice(), r.attempts),
            (&["in:blocked".to_owned()][..], 0)
        );
    }
}

#[tokio::test]
async fn pre_call_masking_lets_the_request_continue_masked_or_as_sent() {
    let gw = gateway_with(&[(
        "masking",
        "gmask",
        "pre_call",
        &["default_on: true", "mask_request_content: true"],
    )])
    .await;
    let question = format!("mail {EMAIL} or call {PHONE}");
    for stream in [false, true] {
        let res = gw.chat(ask(&question, stream)).await;
        assert_eq!(
            answer(&res, stream),
            "Fake answer to: mail {EMAIL} or call {PHONE}"
        );
    }
    let sent = gw.fake.last_request(SONNET).unwrap().to_string();
    assert!(!leaks_pii(&sent), "{sent}");
    let records = gw.usage_records().await;
    for r in &records {
        assert_eq!(r.guardrails, ["masking:masked"]);
        assert_eq!(r.guardrail_entities, ["EMAIL", "PHONE"]);
    }
    no_pii(&records);

    // Without mask_request_content the anonymization is recorded, not applied, and the
    // request is not rejected (LiteLLM's #10971).
    let gw = gateway_with(&[("seen", "gseen", "pre_call", &["default_on: true"])]).await;
    let res = gw.chat(ask(&question, false)).await;
    assert_eq!(answer(&res, false), format!("Fake answer to: {question}"));
    let records = gw.usage_records().await;
    assert_eq!(records[0].guardrails, ["seen:detected"]);
    assert_eq!(records[0].guardrail_entities, ["EMAIL", "PHONE"]);
    no_pii(&records);
}

#[tokio::test]
async fn post_call_masks_whole_and_streamed_answers() {
    let gw = masking_answers().await;
    let question = format!("write to {EMAIL}. Or phone {PHONE} today");
    for stream in [false, true] {
        let res = gw.chat(ask(&question, stream)).await;
        assert_eq!(
            answer(&res, stream),
            "Fake answer to: write to {EMAIL}. Or phone {PHONE} today"
        );
        assert!(!leaks_pii(&res.text()), "{}", res.text());
    }
    // Whole: one check; streamed: one window (shorter than STREAM_WINDOW_MIN_BYTES).
    assert_eq!(gw.fake.guardrail_calls_from("gout", "1", "OUTPUT"), 2);
    assert_eq!(gw.fake.guardrail_calls_from("gout", "1", "INPUT"), 0);
    let records = gw.usage_records().await;
    assert_eq!(records[1].guardrails, ["out:masked"], "{records:?}");
    assert_eq!(records[1].guardrail_entities, ["EMAIL", "PHONE"]);
    no_pii(&records);
}

#[tokio::test]
async fn post_call_masks_tool_call_arguments_whole_and_streamed() {
    let gw = masking_answers().await;
    // The fake fills a required property with its schema's first `enum` value.
    let tool = json!({"type":"function","function":{"name":"send_mail","parameters":{
        "type":"object","required":["to"],"properties":{"to":{"type":"string","enum":[EMAIL]}}}}});
    for stream in [false, true] {
        let mut body = ask("mail the team", stream);
        body["tools"] = json!([tool]);
        body["tool_choice"] = json!("required");
        let res = gw.chat(body).await;
        assert_eq!(res.status, 200, "{}", res.text());
        let arguments: String = if stream {
            res.sse_events()
                .iter()
                .filter_map(|e| {
                    e["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str()
                })
                .collect()
        } else {
            res.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            serde_json::from_str::<Value>(&arguments).unwrap(),
            json!({"to": "{EMAIL}"}),
            "stream {stream}"
        );
        assert!(!leaks_pii(&res.text()), "{}", res.text());
    }
    let records = gw.usage_records().await;
    for r in &records {
        assert_eq!(r.guardrails, ["out:masked"]);
        assert_eq!(r.guardrail_entities, ["EMAIL"]);
    }
    no_pii(&records);
}

#[tokio::test]
async fn an_email_and_a_phone_number_split_across_chunks_and_windows_are_masked() {
    let gw = masking_answers().await;
    gw.fake.set_stream_chunk_bytes(3);
    // The first window is cut by size (no sentence ends): wherever the 400-byte mark falls in
    // the email or the number, neither may leak.
    // "Fake answer to: " is 16 bytes: the email starts at 16 + 5n, the number 28 bytes later.
    let fillers = 68..84;
    for filler in fillers.clone() {
        let question = format!("{}{EMAIL} and {PHONE} end", "word ".repeat(filler));
        let res = gw.chat(ask(&question, true)).await;
        let text = answer(&res, true);
        assert_eq!(
            text,
            format!(
                "Fake answer to: {}{{EMAIL}} and {{PHONE}} end",
                "word ".repeat(filler)
            ),
            "filler {filler}"
        );
        assert!(!leaks_pii(&res.text()), "{}", res.text());
    }
    // More than one window per answer: the answer was not held whole.
    let answers = fillers.len();
    assert!(gw.fake.guardrail_calls_from("gout", "1", "OUTPUT") >= 2 * answers);
}

#[tokio::test]
async fn a_post_call_block_is_an_error_or_a_content_filter_finish() {
    let gw = gateway_with(&[("out", "gout", "post_call", &["default_on: true"])]).await;
    // The first sentence is a window of its own (longer than STREAM_WINDOW_MIN_BYTES).
    let question = format!("First part{}. Say BLOCKME", " and more".repeat(25));
    assert_blocked(&gw.chat(ask(&question, false)).await);
    let streamed = gw.chat(ask(&question, true)).await;
    let text = streamed.text();
    assert!(
        text.contains("Fake answer to: First part and more"),
        "{text}"
    );
    assert!(
        text.contains("content_policy_violation") && !text.contains("BLOCKME"),
        "{text}"
    );
    assert_eq!(gw.fake.calls(SONNET), 2);

    let gw = gateway_with(&[(
        "quiet",
        "gq",
        "post_call",
        &["default_on: true", "disable_exception_on_block: true"],
    )])
    .await;
    for stream in [false, true] {
        let res = gw.chat(ask("First part. say BLOCKME", stream)).await;
        assert_eq!(finish_reason(&res, stream), "content_filter");
        assert!(!res.text().contains("BLOCKME"), "{}", res.text());
    }
    let records = gw.usage_records().await;
    for r in &records {
        assert_eq!(r.finish_reason, Some("content_filter"));
        assert!(r.guardrails.contains(&"quiet:blocked".to_owned()), "{r:?}");
        assert!(r.completion_tokens > 0, "usage kept: {r:?}");
    }
}

#[tokio::test]
async fn during_call_runs_beside_the_model_and_a_block_discards_the_answer() {
    let gw = gateway_with(&[("during", "gd", "during_call", &["default_on: true"])]).await;
    for stream in [false, true] {
        let res = gw.chat(ask("say BLOCKME", stream)).await;
        assert_blocked(&res);
        assert!(!res.text().contains("Fake answer"), "{}", res.text());
        let ok = gw.chat(ask("hello", stream)).await;
        assert_eq!(answer(&ok, stream), "Fake answer to: hello");
    }
    // The model was called for all four (in parallel with the check), the guardrail on input.
    assert_eq!(gw.fake.calls(SONNET), 4);
    assert_eq!(gw.fake.guardrail_calls_from("gd", "1", "INPUT"), 4);
    let records = gw.usage_records().await;
    assert_eq!(records[0].error_type, Some("guardrail_blocked.input"));
    assert_eq!(records[1].guardrails, ["during:none"]);
}

#[tokio::test]
async fn guardrails_attach_to_a_model_group_a_key_and_a_request() {
    let fake = FakeBedrock::start().await.unwrap();
    let endpoint = fake.endpoint();
    let rest = format!(
        "guardrails:\n{}{}",
        guardrail(&endpoint, "group", "ggroup", "pre_call", &[]),
        guardrail(&endpoint, "keyed", "gkey", "pre_call", &[]),
    );
    let store = Arc::new(MemoryKeyStore::new());
    store.insert(
        "sk-guarded",
        VirtualKey {
            guardrails: vec!["keyed".into()],
            ..VirtualKey::default()
        },
    );
    let keys = Arc::clone(&store);
    let yaml = yaml(&endpoint, "      guardrails: [group]\n", &rest);
    let gw = TestGateway::customized(fake, &yaml, move |b| b.key_store(keys)).await;
    let send = |key: &str, body: Value| {
        Request::post("/v1/chat/completions")
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let mut haiku = ask("say BLOCKME", false);
    haiku["model"] = json!("claude-3-haiku");

    // The group's guardrail: on sonnet, not on haiku.
    assert_blocked(&gw.chat(ask("say BLOCKME", false)).await);
    assert_eq!(gw.chat(haiku.clone()).await.status, 200);
    assert_eq!(gw.fake.guardrail_calls("ggroup", "1"), 1);

    // The key's guardrail: the request cannot take it off, on any group.
    let mut remove = haiku.clone();
    remove["guardrails"] = json!([]);
    assert_blocked(&gw.send(send("sk-guarded", remove)).await);
    assert_eq!(gw.fake.guardrail_calls("gkey", "1"), 1);

    // A request adds one; an unknown name is the caller's error.
    let mut add = haiku.clone();
    add["guardrails"] = json!(["keyed"]);
    assert_blocked(&gw.send(send(MASTER_KEY, add)).await);
    let mut unknown = haiku;
    unknown["guardrails"] = json!(["nope"]);
    let res = gw.send(send(MASTER_KEY, unknown)).await;
    assert_eq!(
        res.assert_error(400, "invalid_request_error")["error"]["param"],
        "guardrails[0]"
    );
    assert_eq!(gw.fake.calls(HAIKU), 1);
}

#[tokio::test]
async fn a_failing_guardrail_fails_closed_by_default() {
    // A guardrail id with `fault-500` makes every ApplyGuardrail call fail.
    let gw = gateway_with(&[
        ("in", "gin-fault-500", "pre_call", &[]),
        ("out", "gout-fault-500", "post_call", &[]),
    ])
    .await;
    let pre = |stream: bool| {
        let mut body = ask("hello", stream);
        body["guardrails"] = json!(["in"]);
        body
    };
    let post = |stream: bool| {
        let mut body = ask("hello", stream);
        body["guardrails"] = json!(["out"]);
        body
    };
    for stream in [false, true] {
        let res = gw.chat(pre(stream)).await;
        res.assert_error(503, "api_error");
        assert!(!res.text().contains("Fake answer"));
    }
    assert_eq!(gw.fake.total_calls(), 0);
    let whole = gw.chat(post(false)).await;
    whole.assert_error(503, "api_error");
    assert!(!whole.text().contains("Fake answer"), "{}", whole.text());
    let streamed = gw.chat(post(true)).await;
    assert!(
        !streamed.text().contains("Fake answer"),
        "{}",
        streamed.text()
    );
    assert!(!streamed.text().contains("[DONE]"), "{}", streamed.text());
    let records = gw.usage_records().await;
    assert_eq!(records.len(), 4);
    assert!(
        records
            .iter()
            .all(|r| r.error_type == Some("dependency_unavailable")),
        "{records:?}"
    );
    assert_eq!(records[0].guardrails, ["in:failed"]);
}

#[tokio::test]
async fn a_failing_guardrail_set_to_fail_open_lets_text_pass_and_says_so() {
    let gw = gateway_with(&[
        (
            "in",
            "gin-fault-500",
            "pre_call",
            &["default_on: true", "fail_open: true"],
        ),
        (
            "out",
            "gout-fault-500",
            "post_call",
            &["default_on: true", "fail_open: true"],
        ),
    ])
    .await;
    for stream in [false, true] {
        let res = gw.chat(ask("hello there", stream)).await;
        assert_eq!(answer(&res, stream), "Fake answer to: hello there");
    }
    let records = gw.usage_records().await;
    assert_eq!(records[0].guardrails, ["in:failed_open", "out:failed_open"]);
    assert_eq!(records[1].guardrails, ["in:failed_open", "out:failed_open"]);
}

#[tokio::test]
async fn a_blocked_answer_falls_back_along_content_policy_fallbacks() {
    let fake = FakeBedrock::start().await.unwrap();
    let endpoint = fake.endpoint();
    let rest = format!(
        "router_settings:\n  content_policy_fallbacks: [{{claude-3-sonnet: [claude-3-haiku]}}]\nguardrails:\n{}",
        guardrail(&endpoint, "out", "gout", "post_call", &[]),
    );
    let yaml = yaml(&endpoint, "      guardrails: [out]\n", &rest);
    let gw = TestGateway::with_yaml(fake, &yaml).await;
    let res = gw.chat(ask("say BLOCKME", false)).await;
    assert_eq!(answer(&res, false), "Fake answer to: say BLOCKME");
    assert_eq!((gw.fake.calls(SONNET), gw.fake.calls(HAIKU)), (1, 1));
    let records = gw.usage_records().await;
    assert_eq!(records[0].fallbacks, ["claude-3-haiku"]);
    assert_eq!(records[0].guardrails, ["out:blocked"]);
}

#[tokio::test]
async fn a_fallback_groups_own_pre_call_guardrails_check_the_text_it_gets() {
    let fake = FakeBedrock::start().await.unwrap();
    let endpoint = fake.endpoint();
    let rest = format!(
        "router_settings:\n  num_retries: 0\n  fallbacks: [{{claude-3-sonnet: [claude-3-haiku]}}]\n\
         guardrails:\n{}",
        guardrail(&endpoint, "pii", "gpii", "pre_call", &["mask_request_content: true"]),
    );
    // Only the fallback group (haiku) carries the guardrail.
    let yaml = yaml(&endpoint, "", &rest).replacen(
        "general_settings:",
        "      guardrails: [pii]\ngeneral_settings:",
        1,
    );
    let gw = TestGateway::with_yaml(fake, &yaml).await;
    let question = format!("mail {EMAIL} please");

    // The first group answers: the fallback's guardrail does not run.
    let res = gw.chat(ask(&question, false)).await;
    assert_eq!(answer(&res, false), format!("Fake answer to: {question}"));
    assert_eq!(gw.fake.guardrail_calls("gpii", "1"), 0);

    // It fails: haiku gets the text masked by its own guardrail, whole and streamed.
    gw.fake.set_fault(SONNET, Fault::Unavailable);
    for stream in [false, true] {
        let res = gw.chat(ask(&question, stream)).await;
        assert_eq!(answer(&res, stream), "Fake answer to: mail {EMAIL} please");
        let sent = gw.fake.last_request(HAIKU).unwrap().to_string();
        assert!(!leaks_pii(&sent), "{sent}");
    }
    assert_eq!(gw.fake.guardrail_calls_from("gpii", "1", "INPUT"), 2);
    assert_eq!(gw.fake.calls(HAIKU), 2);
    let records = gw.usage_records().await;
    assert_eq!(records.len(), 3);
    assert!(records[0].guardrails.is_empty(), "{:?}", records[0]);
    for r in &records[1..] {
        assert_eq!(r.fallbacks, ["claude-3-haiku"]);
        assert_eq!(r.guardrails, ["pii:masked"]);
        assert_eq!(r.guardrail_entities, ["EMAIL"]);
    }
    no_pii(&records);

    // A block by the fallback's guardrail refuses the request: its model is never called.
    gw.fake.add_blocked_word("forbidden");
    for stream in [false, true] {
        assert_blocked(&gw.chat(ask("a forbidden thing", stream)).await);
    }
    assert_eq!(gw.fake.calls(HAIKU), 2);
}

#[tokio::test]
async fn a_fallback_groups_own_during_call_guardrails_run_beside_its_call() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.add_blocked_word("forbidden");
    let endpoint = fake.endpoint();
    let rest = format!(
        "router_settings:\n  num_retries: 0\n  fallbacks: [{{claude-3-sonnet: [claude-3-haiku]}}]\n\
         guardrails:\n{}",
        guardrail(&endpoint, "watch", "gwatch", "during_call", &[]),
    );
    let yaml = yaml(&endpoint, "", &rest).replacen(
        "general_settings:",
        "      guardrails: [watch]\ngeneral_settings:",
        1,
    );
    let gw = TestGateway::with_yaml(fake, &yaml).await;
    gw.fake.set_fault(SONNET, Fault::Unavailable);
    for stream in [false, true] {
        // Haiku is called (the check runs beside it) and its answer is discarded.
        assert_blocked(&gw.chat(ask("a forbidden thing", stream)).await);
        let res = gw.chat(ask("a fine thing", stream)).await;
        assert_eq!(answer(&res, stream), "Fake answer to: a fine thing");
    }
    assert_eq!(gw.fake.calls(HAIKU), 4);
    assert_eq!(gw.fake.guardrail_calls_from("gwatch", "1", "INPUT"), 4);
    let records = gw.usage_records().await;
    let blocked: Vec<_> = records
        .iter()
        .map(|r| (r.error_type, r.guardrails.clone()))
        .collect();
    assert_eq!(
        blocked,
        [
            (
                Some("guardrail_blocked.input"),
                vec!["watch:blocked".to_owned()]
            ),
            (None, vec!["watch:none".to_owned()]),
            (
                Some("guardrail_blocked.input"),
                vec!["watch:blocked".to_owned()]
            ),
            (None, vec!["watch:none".to_owned()]),
        ]
    );
}

#[tokio::test]
async fn lex_gets_the_same_guardrails_and_the_withheld_reply() {
    for (mode, model_calls) in [("pre_call", 0), ("post_call", 1)] {
        let fake = FakeBedrock::start().await.unwrap();
        fake.add_blocked_word("well-architected");
        let endpoint = fake.endpoint();
        let rest = format!(
            "guardrails:\n{}",
            guardrail(&endpoint, "g", "glex", mode, &["default_on: true"])
        );
        let config = load_config(&yaml(&endpoint, "", &rest));
        let usage = Arc::new(MemoryUsageSink::default());
        let gateway = build_gateway(&config, Arc::clone(&usage), |b| b).await;
        let lex = LexFulfillment::new(Arc::clone(&gateway), &config).unwrap();
        let response = lex
            .handle_json(sample_event("lex-first-turn.json"), None)
            .await;
        assert_eq!(
            response["messages"][0]["content"], ANSWER_WITHHELD,
            "{mode}"
        );
        assert_eq!(fake.total_calls(), model_calls, "{mode}");
        gateway.after_response().flush().await;
        let records = usage.records();
        assert_eq!(records[0].guardrails, ["g:blocked"], "{mode}");
        assert_eq!(records[0].caller, "lex");
    }
}

#[tokio::test]
async fn the_first_token_waits_for_one_window_not_for_the_whole_answer() {
    let gw = masking_answers().await;
    // The long answer's first 600 words (66 sentences), one event per word, 1 ms apart.
    gw.fake.set_latency(
        std::time::Duration::ZERO,
        std::time::Duration::from_millis(1),
    );
    let mut body = ask("LONG_ANSWER please", true);
    body["max_tokens"] = json!(600);
    let res = gw.chat(body).await;
    assert!(answer(&res, true).contains("This is sentence number 66 of a long answer."));
    let record = &gw.usage_records().await[0];
    let (first, whole) = (record.time_to_first_token_ms.unwrap(), record.latency_ms);
    assert!(whole >= 600, "{record:?}");
    // The first window is STREAM_WINDOW_MIN_BYTES (about 35 of the 600 words).
    assert!(first * 4 < whole, "first token {first} ms of {whole} ms");
    // Windows of a few sentences each (at least STREAM_WINDOW_MIN_BYTES), not one for the
    // whole answer.
    assert!(gw.fake.guardrail_calls_from("gout", "1", "OUTPUT") >= 10);
}

/// `deploy/config/gateway.yaml` as the functions load it, with the stack's values filled in and
/// every Bedrock client pointed at the fake (endpoint, static credentials, region).
fn deployed_config_on(endpoint: &str) -> String {
    let file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/config/gateway.yaml");
    let text = std::fs::read_to_string(file).unwrap();
    let wire = format!(
        "      aws_region_name: us-east-1\n      aws_bedrock_runtime_endpoint: {endpoint}\n      \
         aws_access_key_id: test-access-key\n      aws_secret_access_key: test-secret-key\n"
    );
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        let trimmed = line.trim_start();
        if trimmed.starts_with("model: bedrock/") || trimmed.starts_with("guardrail: bedrock") {
            out.push_str(&wire);
        }
    }
    out.replace("os.environ/GATEWAY_GUARDRAIL_ID", "gdeployed")
        .replace("os.environ/GATEWAY_GUARDRAIL_VERSION", "'7'")
        + &format!("general_settings:\n  master_key: {MASTER_KEY}\n")
}

#[tokio::test]
async fn the_deployed_config_blocks_harmful_input_and_masks_every_answer() {
    let fake = FakeBedrock::start().await.unwrap();
    fake.add_blocked_word("BLOCKME");
    let yaml = deployed_config_on(&fake.endpoint());
    let config = load_config(&yaml);
    let gw = TestGateway::with_yaml(fake, &yaml).await;
    let question = format!("Write to {EMAIL} or call {PHONE}");
    for stream in [false, true] {
        let body = json!({"model": "claude-haiku", "stream": stream,
            "messages": [{"role": "user", "content": question}]});
        let text = answer(&gw.chat(body).await, stream);
        assert!(
            text.contains("{EMAIL}") && text.contains("{PHONE}"),
            "{text}"
        );
        assert!(!leaks_pii(&text), "{text}");
    }
    // Cost-based routing took the cheaper global profile of the group.
    assert_eq!(
        gw.fake
            .calls("global.anthropic.claude-haiku-4-5-20251001-v1:0"),
        2
    );
    assert!(gw.fake.guardrail_calls("gdeployed", "7") >= 2);

    // Harmful input: refused before any model is called.
    let before = gw.fake.total_calls();
    for stream in [false, true] {
        let body = json!({"model": "claude-sonnet", "stream": stream,
            "messages": [{"role": "user", "content": "please BLOCKME now"}]});
        assert_blocked(&gw.chat(body).await);
    }
    assert_eq!(
        gw.fake.total_calls(),
        before,
        "no model call for blocked input"
    );

    // Lex: its model is the deployed config's and its answer is masked too.
    let lex = LexFulfillment::new(Arc::clone(&gw.gateway), &config).unwrap();
    assert_eq!(lex.model(), "claude-haiku");
    let mut event = sample_event("lex-first-turn.json");
    event["inputTranscript"] = json!(question);
    let reply = lex.handle_json(event, None).await;
    let said = reply["messages"][0]["content"].as_str().unwrap();
    assert!(said.contains("{EMAIL}") && !leaks_pii(said), "{said}");
}
