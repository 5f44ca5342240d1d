//! Embeddings through the response cache (`supported_call_types` with `embedding`, LiteLLM's
//! default): a repeated request is served without an InvokeModel call at cost 0 in either
//! encoding; the key covers the texts as embedded (after masking), `dimensions` and the caller's
//! team; the per-request controls; single flight; `supported_call_types` without embeddings;
//! and the DynamoDB store shared by two instances.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use gateway::cache::ResponseCache;
use gateway::clock::WallClock;
use gateway::keys::{MemoryKeyStore, VirtualKey};
use gateway_tests::fake_bedrock::FakeBedrock;
use gateway_tests::harness::{load_config, TestGateway, TestResponse, MASTER_KEY, TITAN_EMBED};
use gateway_tests::keys::{moto, priced_embedding_yaml};
use serde_json::{json, Value};

const CACHE_ON: &str =
    "litellm_settings:\n  cache: true\n  cache_params:\n    type: local\n    ttl: 60\n";

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

fn ask(input: Value) -> Value {
    json!({"model": "titan-embed", "input": input, "dimensions": 256})
}

fn vectors(res: &TestResponse) -> Vec<Vec<f32>> {
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| match &d["embedding"] {
            Value::String(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            floats => floats
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect(),
        })
        .collect()
}

fn header<'a>(res: &'a TestResponse, name: &str) -> Option<&'a str> {
    res.headers.get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn repeated_embeddings_are_served_from_the_cache_at_no_cost() {
    let gw = gateway(CACHE_ON).await;
    let batch = json!(["the quick brown fox", "jumps over the lazy dog"]);
    let first = embed(&gw, ask(batch.clone())).await;
    assert_eq!(
        gw.fake.invoke_calls(TITAN_EMBED),
        2,
        "Titan: one call per text"
    );
    let second = embed(&gw, ask(batch.clone())).await;
    assert_eq!(
        gw.fake.invoke_calls(TITAN_EMBED),
        2,
        "the hit called no model"
    );
    assert_eq!(
        vectors(&first),
        vectors(&second),
        "the same vectors, bit for bit"
    );
    assert_eq!(vectors(&second).len(), 2);
    assert_eq!(vectors(&second)[0].len(), 256);
    assert_eq!(header(&first, "x-litellm-cache-hit"), Some("False"));
    assert_eq!(header(&second, "x-litellm-cache-hit"), Some("True"));
    let key = header(&first, "x-litellm-cache-key").unwrap();
    assert_eq!(key.len(), 64);
    assert_eq!(header(&second, "x-litellm-cache-key"), Some(key));
    assert_eq!(header(&second, "x-litellm-response-cost"), Some("0"));
    assert_eq!(first.json()["usage"], second.json()["usage"]);

    // The encoding is the answer's shape, not another answer: base64 is a hit too.
    let mut as_base64 = ask(batch.clone());
    as_base64["encoding_format"] = json!("base64");
    let third = embed(&gw, as_base64).await;
    assert_eq!(header(&third, "x-litellm-cache-hit"), Some("True"));
    assert_eq!(vectors(&third), vectors(&first));

    // Other texts, another order or other dimensions are other answers.
    embed(
        &gw,
        ask(json!(["jumps over the lazy dog", "the quick brown fox"])),
    )
    .await;
    let mut wider = ask(batch);
    wider["dimensions"] = json!(512);
    let wide = embed(&gw, wider).await;
    assert_eq!(vectors(&wide)[0].len(), 512);
    assert_eq!(gw.fake.invoke_calls(TITAN_EMBED), 6);

    let records = gw.usage_records().await;
    assert_eq!(records.len(), 5);
    assert_eq!(records[0].cache_hit, Some(false));
    assert!(records[0].cost_usd.unwrap() > 0.0 && records[0].prompt_tokens > 0);
    for hit in &records[1..3] {
        assert_eq!(hit.cache_hit, Some(true));
        assert_eq!(hit.cost_usd, Some(0.0));
        assert_eq!((hit.prompt_tokens, hit.attempts), (0, 0));
        assert_eq!(hit.outcome, gateway::usage::Outcome::Success);
    }
    assert_eq!(records[4].cache_hit, Some(false));
}

#[tokio::test]
async fn one_team_never_reads_another_teams_embeddings() {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = priced_embedding_yaml(&fake.endpoint(), CACHE_ON);
    let store = Arc::new(MemoryKeyStore::new());
    for (key, team) in [
        ("sk-red-a", "red"),
        ("sk-red-b", "red"),
        ("sk-blue-1", "blue"),
    ] {
        store.insert(
            key,
            VirtualKey {
                team: Some(team.into()),
                ..VirtualKey::default()
            },
        );
    }
    store.insert("sk-alone", VirtualKey::default());
    let keys = Arc::clone(&store);
    let gw = TestGateway::customized(fake, &yaml, move |b| b.key_store(keys)).await;
    let question = ask(json!("a shared sentence"));
    let red = embed_as(&gw, "sk-red-a", question.clone()).await;
    let teammate = embed_as(&gw, "sk-red-b", question.clone()).await;
    assert_eq!(header(&teammate, "x-litellm-cache-hit"), Some("True"));
    assert_eq!(gw.fake.invoke_calls(TITAN_EMBED), 1);
    let blue = embed_as(&gw, "sk-blue-1", question.clone()).await;
    assert_eq!(blue.status, 200, "{}", blue.text());
    assert_eq!(header(&blue, "x-litellm-cache-hit"), Some("False"));
    assert_ne!(
        header(&blue, "x-litellm-cache-key"),
        header(&red, "x-litellm-cache-key")
    );
    let alone = embed_as(&gw, "sk-alone", question).await;
    assert_eq!(alone.status, 200, "{}", alone.text());
    assert_eq!(header(&alone, "x-litellm-cache-hit"), Some("False"));
    assert_eq!(
        gw.fake.invoke_calls(TITAN_EMBED),
        3,
        "each other scope asks the model"
    );
    assert_eq!(vectors(&alone), vectors(&red));
}

#[tokio::test]
async fn per_request_controls_and_call_types_decide_what_is_cached() {
    let gw = gateway(CACHE_ON).await;
    let with_cache = |controls: Value| {
        let mut body = ask(json!("controlled"));
        body["cache"] = controls;
        body
    };
    embed(&gw, with_cache(json!({"no-store": true}))).await;
    let not_stored = embed(&gw, ask(json!("controlled"))).await;
    assert_eq!(header(&not_stored, "x-litellm-cache-hit"), Some("False"));
    assert_eq!(
        gw.fake.invoke_calls(TITAN_EMBED),
        2,
        "no-store kept nothing"
    );
    let skipped = embed(&gw, with_cache(json!({"no-cache": true}))).await;
    assert_eq!(header(&skipped, "x-litellm-cache-hit"), Some("False"));
    assert_eq!(
        gw.fake.invoke_calls(TITAN_EMBED),
        3,
        "no-cache read nothing"
    );
    let hit = embed(&gw, ask(json!("controlled"))).await;
    assert_eq!(header(&hit, "x-litellm-cache-hit"), Some("True"));
    let other = embed(&gw, with_cache(json!({"namespace": "elsewhere"}))).await;
    assert_eq!(header(&other, "x-litellm-cache-hit"), Some("False"));
    assert_eq!(gw.fake.invoke_calls(TITAN_EMBED), 4);
    let bad = embed(&gw, with_cache(json!({"ttl": -1}))).await;
    bad.assert_error(400, "invalid_request_error");
    assert_eq!(gw.fake.invoke_calls(TITAN_EMBED), 4);

    // A config that caches chat only leaves embeddings alone.
    let chat_only = gateway(
        "litellm_settings:\n  cache: true\n  cache_params:\n    type: local\n    \
         supported_call_types: [acompletion, completion]\n",
    )
    .await;
    embed(&chat_only, ask(json!("x"))).await;
    let again = embed(&chat_only, ask(json!("x"))).await;
    assert_eq!(header(&again, "x-litellm-cache-hit"), None);
    assert_eq!(chat_only.fake.invoke_calls(TITAN_EMBED), 2);
    let records = chat_only.usage_records().await;
    assert!(records.iter().all(|r| r.cache_hit.is_none()));
}

#[tokio::test]
async fn the_key_is_the_masked_text_so_masked_inputs_share_an_answer() {
    let fake = FakeBedrock::start().await.unwrap();
    let endpoint = fake.endpoint();
    let guardrails = format!(
        "guardrails:\n  - guardrail_name: pii\n    litellm_params:\n      guardrail: bedrock\n      \
         mode: pre_call\n      guardrailIdentifier: gpii\n      guardrailVersion: '1'\n      \
         aws_region_name: us-east-1\n      aws_bedrock_runtime_endpoint: {endpoint}\n      \
         aws_access_key_id: test-access-key\n      aws_secret_access_key: test-secret-key\n      \
         default_on: true\n      mask_request_content: true\n{CACHE_ON}"
    );
    let gw = TestGateway::with_yaml(fake, &priced_embedding_yaml(&endpoint, &guardrails)).await;
    let alice = embed(&gw, ask(json!("mail alice.smith@example.com now"))).await;
    let bob = embed(&gw, ask(json!("mail bob.jones@example.com now"))).await;
    // Both reach the model as "mail {EMAIL} now": one answer, and the hit's input was checked.
    assert_eq!(header(&bob, "x-litellm-cache-hit"), Some("True"));
    assert_eq!(vectors(&alice), vectors(&bob));
    assert_eq!(gw.fake.invoke_calls(TITAN_EMBED), 1);
    assert_eq!(gw.fake.guardrail_calls("gpii", "1"), 2);
    // A blocked text is refused before the cache is read.
    gw.fake.add_blocked_word("BLOCKME");
    let blocked = embed(&gw, ask(json!("mail alice.smith@example.com now BLOCKME"))).await;
    blocked.assert_error(400, "invalid_request_error");
    assert_eq!(gw.fake.invoke_calls(TITAN_EMBED), 1);
}

#[tokio::test]
async fn concurrent_identical_requests_share_one_call() {
    let gw = gateway(CACHE_ON).await;
    gw.fake
        .set_latency(Duration::from_millis(300), Duration::ZERO);
    let gw = Arc::new(gw);
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let gw = Arc::clone(&gw);
        tasks.push(tokio::spawn(async move {
            embed(&gw, ask(json!("at once"))).await
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(vectors(&task.await.unwrap()));
    }
    assert_eq!(gw.fake.invoke_calls(TITAN_EMBED), 1, "single flight");
    assert!(answers.windows(2).all(|w| w[0] == w[1]));
    let records = gw.usage_records().await;
    let hits = records.iter().filter(|r| r.cache_hit == Some(true)).count();
    assert_eq!((records.len(), hits), (5, 4));
}

#[tokio::test]
async fn the_dynamodb_cache_serves_another_instance_until_expiry() {
    let table = moto().new_table("cache-embed").await;
    let clock = WallClock::system();
    let instance = || async {
        let fake = FakeBedrock::start().await.unwrap();
        let yaml = priced_embedding_yaml(
            &fake.endpoint(),
            "litellm_settings:\n  cache: true\n  cache_params:\n    ttl: 60\n",
        );
        let config = load_config(&yaml);
        let clients = moto().clients().await;
        let cache =
            ResponseCache::from_settings(&config.cache, Some((&clients, &table)), clock.clone());
        assert_eq!(cache.as_ref().unwrap().store_kind(), "dynamodb");
        let clock = clock.clone();
        TestGateway::customized(fake, &yaml, move |b| b.clock(clock).response_cache(cache)).await
    };
    let one = instance().await;
    let two = instance().await;
    let first = embed(&one, ask(json!(["stored", "in DynamoDB"]))).await;
    let key = header(&first, "x-litellm-cache-key").unwrap().to_owned();
    let mut stored = false;
    for _ in 0..100 {
        if gateway_tests::keys::scan_text(moto(), &table)
            .await
            .contains(&key)
        {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stored, "the vectors were written to the table");
    let from_two = embed(&two, ask(json!(["stored", "in DynamoDB"]))).await;
    assert_eq!(header(&from_two, "x-litellm-cache-hit"), Some("True"));
    assert_eq!(vectors(&from_two), vectors(&first));
    assert_eq!(
        two.fake.invoke_calls(TITAN_EMBED),
        0,
        "the other instance's vectors"
    );
    clock.advance(Duration::from_secs(61));
    let expired = embed(&two, ask(json!(["stored", "in DynamoDB"]))).await;
    assert_eq!(header(&expired, "x-litellm-cache-hit"), Some("False"));
    assert_eq!(two.fake.invoke_calls(TITAN_EMBED), 2);
}
