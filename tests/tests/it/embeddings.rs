//! `POST /v1/embeddings` against the fake Bedrock's InvokeModel (Titan Text Embeddings V2 and
//! Cohere Embed, real request validation, token counts in the header): float and base64,
//! batches, dimensions, the usage record and its cost, model access, chat and embedding groups
//! refusing each other, `pre_call` guardrails masking the input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use base64::Engine;
use gateway::keys::{MemoryKeyStore, VirtualKey};
use gateway_tests::fake_bedrock::embeddings::vector;
use gateway_tests::fake_bedrock::FakeBedrock;
use gateway_tests::harness::{
    TestGateway, TestResponse, COHERE_EMBED, MASTER_KEY, SONNET, TITAN_EMBED, TITAN_EMBED_PRICE,
};
use gateway_tests::keys::priced_embedding_yaml;
use serde_json::{json, Value};

const TITAN: &str = TITAN_EMBED;
const COHERE: &str = COHERE_EMBED;
const TITAN_PRICE: f64 = TITAN_EMBED_PRICE;

async fn gateway(extra: &str) -> TestGateway {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = priced_embedding_yaml(&fake.endpoint(), extra);
    TestGateway::with_yaml(fake, &yaml).await
}

async fn embed_as(gw: &TestGateway, key: &str, body: Value) -> TestResponse {
    gw.embed_as(key, body).await
}

async fn embed(gw: &TestGateway, body: Value) -> TestResponse {
    embed_as(gw, MASTER_KEY, body).await
}

fn floats(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[tokio::test]
async fn titan_answers_in_openais_shape_with_usage_and_cost() {
    let gw = gateway("").await;
    let res = embed(
        &gw,
        json!({"model": "titan-embed", "input": "the quick brown fox", "dimensions": 256}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "titan-embed");
    assert_eq!(body["data"][0]["object"], "embedding");
    assert_eq!(body["data"][0]["index"], 0);
    let got = floats(&body["data"][0]["embedding"]);
    assert_eq!(got, vector("the quick brown fox", 256, true));
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 4, "total_tokens": 4})
    );
    assert_eq!(gw.fake.invoke_calls(TITAN), 1);
    let sent = gw.fake.last_request(TITAN).unwrap();
    assert_eq!(
        sent,
        json!({"inputText": "the quick brown fox", "normalize": true, "dimensions": 256})
    );
    let records = gw.usage_records().await;
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(
        (r.model.as_str(), r.prompt_tokens, r.completion_tokens),
        ("titan-embed", 4, 0)
    );
    assert_eq!(r.provider_model.as_deref(), Some(TITAN));
    let cost = r.cost_usd.unwrap();
    assert!((cost - 4.0 * TITAN_PRICE).abs() < 1e-15, "{cost}");
    assert_eq!(
        res.headers["x-litellm-response-cost"].to_str().unwrap(),
        format!("{cost}")
    );
}

#[tokio::test]
async fn batches_and_base64() {
    let gw = gateway("").await;
    let texts: Vec<String> = (0..3).map(|i| format!("text number {i}")).collect();
    let res = embed(
        &gw,
        json!({"model": "titan-embed", "input": texts, "encoding_format": "base64"}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(gw.fake.invoke_calls(TITAN), 3, "Titan: one call per input");
    for (i, text) in texts.iter().enumerate() {
        assert_eq!(body["data"][i]["index"], i);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body["data"][i]["embedding"].as_str().unwrap())
            .unwrap();
        let decoded: Vec<f32> = bytes
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(decoded, vector(text, 1024, true));
    }
    assert_eq!(body["usage"]["prompt_tokens"], 9);

    // Cohere: 100 texts go in two calls (96 + 4), vectors in input order.
    let many: Vec<String> = (0..100).map(|i| format!("doc {i}")).collect();
    let res = embed(&gw, json!({"model": "cohere-embed", "input": many})).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(gw.fake.invoke_calls(COHERE), 2);
    assert_eq!(body["data"].as_array().unwrap().len(), 100);
    assert_eq!(
        floats(&body["data"][99]["embedding"]),
        vector("doc 99", 1024, false)
    );
    assert_eq!(
        body["usage"]["prompt_tokens"], 200,
        "from the token-count header"
    );
    let last = gw.fake.last_request(COHERE).unwrap();
    assert_eq!(last["input_type"], "search_document");
    assert_eq!(last["texts"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn clients_errors_are_400s_that_name_the_field_and_call_nothing() {
    let gw = gateway("").await;
    for (body, param) in [
        (json!({"model": "titan-embed", "input": [1, 2, 3]}), "input"),
        (
            json!({"model": "titan-embed", "input": "x", "dimensions": 300}),
            "dimensions",
        ),
        (
            json!({"model": "cohere-embed", "input": "x", "dimensions": 256}),
            "dimensions",
        ),
        (
            json!({"model": "titan-embed", "input": "x", "encoding_format": "hex"}),
            "encoding_format",
        ),
        (json!({"model": "claude-3-sonnet", "input": "x"}), "model"),
    ] {
        let res = embed(&gw, body.clone()).await;
        let err = res.assert_error(400, "invalid_request_error");
        assert_eq!(err["error"]["param"], param, "{body}");
    }
    // And chat on an embedding model.
    let chat = gw
        .chat(json!({"model": "titan-embed", "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    let err = chat.assert_error(400, "invalid_request_error");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/v1/embeddings"));
    let unknown = embed(&gw, json!({"model": "nope", "input": "x"})).await;
    unknown.assert_error(404, "invalid_request_error");
    assert_eq!(
        gw.fake.invoke_calls(TITAN) + gw.fake.invoke_calls(COHERE),
        0
    );
    assert_eq!(gw.fake.calls(SONNET), 0);
    // Each refused request is recorded.
    assert_eq!(gw.usage_records().await.len(), 7);
}

#[tokio::test]
async fn keys_need_access_to_the_embedding_group() {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = priced_embedding_yaml(&fake.endpoint(), "");
    let store = Arc::new(MemoryKeyStore::new());
    store.insert(
        "sk-chat-only",
        VirtualKey {
            models: vec!["claude-3-sonnet".into()],
            ..VirtualKey::default()
        },
    );
    store.insert(
        "sk-embedder",
        VirtualKey {
            models: vec!["titan-embed".into()],
            ..VirtualKey::default()
        },
    );
    let keys = Arc::clone(&store);
    let gw = TestGateway::customized(fake, &yaml, move |b| b.key_store(keys)).await;
    let ask = json!({"model": "titan-embed", "input": "x"});
    let refused = embed_as(&gw, "sk-chat-only", ask.clone()).await;
    let err = refused.assert_error(403, "permission_error");
    assert_eq!(err["error"]["code"], "model_not_allowed");
    assert_eq!(gw.fake.invoke_calls(TITAN), 0);
    let allowed = embed_as(&gw, "sk-embedder", ask).await;
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    let nobody = embed_as(
        &gw,
        "sk-wrong",
        json!({"model": "titan-embed", "input": "x"}),
    )
    .await;
    nobody.assert_error(401, "authentication_error");
    assert_eq!(gw.fake.invoke_calls(TITAN), 1);
}

#[tokio::test]
async fn input_guardrails_mask_what_the_model_embeds() {
    let fake = FakeBedrock::start().await.unwrap();
    let endpoint = fake.endpoint();
    let guardrails = format!(
        "guardrails:\n  - guardrail_name: pii\n    litellm_params:\n      guardrail: bedrock\n      \
         mode: pre_call\n      guardrailIdentifier: gpii\n      guardrailVersion: '1'\n      \
         aws_region_name: us-east-1\n      aws_bedrock_runtime_endpoint: {endpoint}\n      \
         aws_access_key_id: test-access-key\n      aws_secret_access_key: test-secret-key\n      \
         default_on: true\n      mask_request_content: true\n"
    );
    let gw = TestGateway::with_yaml(fake, &priced_embedding_yaml(&endpoint, &guardrails)).await;
    let res = embed(
        &gw,
        json!({"model": "titan-embed", "input": "mail alice.smith@example.com now"}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let sent = gw.fake.last_request(TITAN).unwrap();
    let text = sent["inputText"].as_str().unwrap();
    assert!(!text.contains("alice.smith"), "{text}");
    assert!(text.contains("{EMAIL}"), "{text}");
    assert_eq!(gw.fake.guardrail_calls("gpii", "1"), 1);
    gw.fake.add_blocked_word("BLOCKME");
    let blocked = embed(
        &gw,
        json!({"model": "titan-embed", "input": ["ok", "BLOCKME"]}),
    )
    .await;
    blocked.assert_error(400, "invalid_request_error");
    assert_eq!(gw.fake.invoke_calls(TITAN), 1);
}

#[tokio::test]
async fn a_spent_budget_refuses_embeddings_before_bedrock() {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = priced_embedding_yaml(&fake.endpoint(), "");
    let store = Arc::new(MemoryKeyStore::new());
    store.insert(
        "sk-small-budget",
        VirtualKey {
            models: vec!["titan-embed".into()],
            // Less than one 4-token Titan request costs (4 × 0.00000002).
            max_budget: Some(0.00000005),
            ..VirtualKey::default()
        },
    );
    let keys = Arc::clone(&store);
    let gw = TestGateway::customized(fake, &yaml, move |b| b.key_store(keys)).await;
    let ask = json!({"model": "titan-embed", "input": "the quick brown fox"});
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(embed_as(&gw, "sk-small-budget", ask.clone()).await);
    }
    let refused = answers.last().unwrap();
    let err = refused.assert_error(429, "budget_exceeded");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("budget"),
        "{err}"
    );
    assert!(gw.fake.invoke_calls(TITAN) < 3);
    let records = gw.usage_records().await;
    assert_eq!(records.len(), 3, "refusals are recorded too");
}

#[tokio::test]
async fn cohere_takes_the_requests_input_type_and_defaults_to_documents() {
    let gw = gateway("").await;
    let query = embed(
        &gw,
        json!({"model": "cohere-embed", "input": "rain in Paris", "input_type": "search_query"}),
    )
    .await;
    assert_eq!(query.status, 200, "{}", query.text());
    let sent = gw.fake.last_request(COHERE).unwrap();
    assert_eq!(sent["input_type"], "search_query");
    let document = embed(&gw, json!({"model": "cohere-embed", "input": "rain"})).await;
    assert_eq!(document.status, 200, "{}", document.text());
    assert_eq!(
        gw.fake.last_request(COHERE).unwrap()["input_type"],
        "search_document"
    );
    let wrong = embed(
        &gw,
        json!({"model": "cohere-embed", "input": "rain", "input_type": "query"}),
    )
    .await;
    let err = wrong.assert_error(400, "invalid_request_error");
    assert_eq!(err["error"]["param"], "input_type");
    assert_eq!(gw.fake.invoke_calls(COHERE), 2);
}
