//! The response cache (`litellm_settings.cache`): hits whole and streamed at no cost, the
//! caller's scope, expiry on the injected clock, `no-cache`/`no-store`/`ttl`/`s-maxage`/
//! `use-cache`, single flight, guardrails on a hit, Lex left out, and the DynamoDB store in
//! moto shared by two instances (answers over 350 KB not stored).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use gateway::cache::ResponseCache;
use gateway::clock::WallClock;
use gateway::lex::LexFulfillment;
use gateway_tests::fake_bedrock::FakeBedrock;
use gateway_tests::harness::{
    build_gateway, load_config, sample_event, TestGateway, TestResponse, SONNET,
};
use gateway_tests::keys::{moto, priced_yaml, settings, Instance, PRICE_PER_TOKEN};
use serde_json::{json, Value};

const CACHE_ON: &str =
    "litellm_settings:\n  cache: true\n  cache_params:\n    type: local\n    ttl: 60\n";

/// A gateway with priced models, the cache as `cache_yaml` says, and a clock tests move.
async fn cached(cache_yaml: &str) -> (TestGateway, WallClock) {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = priced_yaml(&fake.endpoint(), cache_yaml);
    let clock = WallClock::system();
    let moved = clock.clone();
    let gw = TestGateway::customized(fake, &yaml, move |b| b.clock(moved)).await;
    (gw, clock)
}

fn ask(text: &str) -> Value {
    json!({"model": "claude-3-sonnet", "messages": [{"role": "user", "content": text}]})
}

fn with(mut body: Value, field: &str, value: Value) -> Value {
    body[field] = value;
    body
}

fn content(res: &TestResponse) -> String {
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn streamed_text(res: &TestResponse) -> String {
    assert_eq!(res.status, 200, "{}", res.text());
    res.sse_events()
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect()
}

fn header<'a>(res: &'a TestResponse, name: &str) -> &'a str {
    res.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn a_repeated_question_is_answered_from_the_cache_at_no_cost() {
    let (gw, _) = cached(CACHE_ON).await;
    let first = gw.chat(ask("What is DynamoDB?")).await;
    let second = gw.chat(ask("What is DynamoDB?")).await;
    assert_eq!(content(&first), content(&second));
    assert_eq!(gw.fake.converse_calls(SONNET), 1, "one model call");
    assert_eq!(header(&first, "x-litellm-cache-hit"), "False");
    assert_eq!(header(&second, "x-litellm-cache-hit"), "True");
    let key = header(&first, "x-litellm-cache-key");
    assert_eq!(key.len(), 64);
    assert_eq!(header(&second, "x-litellm-cache-key"), key);
    assert_eq!(header(&second, "x-litellm-response-cost"), "0");
    // The client sees the cached answer's usage, as LiteLLM returns it.
    assert_eq!(first.json()["usage"], second.json()["usage"]);

    let records = gw.usage_records().await;
    assert_eq!(records.len(), 2);
    let (miss, hit) = (&records[0], &records[1]);
    assert_eq!(miss.cache_hit, Some(false));
    assert!(miss.cost_usd.unwrap() > 0.0 && miss.total_tokens > 0);
    assert_eq!(miss.attempts, 1);
    assert_eq!(hit.cache_hit, Some(true));
    assert_eq!(hit.cost_usd, Some(0.0));
    assert_eq!(
        (hit.prompt_tokens, hit.total_tokens, hit.attempts),
        (0, 0, 0)
    );
    assert_eq!(hit.outcome, gateway::usage::Outcome::Success);
    assert_eq!(hit.finish_reason, Some("stop"));

    // Another question, or another parameter, is another answer.
    gw.chat(ask("What is S3?")).await;
    gw.chat(with(ask("What is DynamoDB?"), "temperature", json!(0.2)))
        .await;
    assert_eq!(gw.fake.converse_calls(SONNET), 3);
}

#[tokio::test]
async fn a_stream_is_served_from_the_cache_as_a_stream() {
    let (gw, _) = cached(CACHE_ON).await;
    let streamed = |text: &str| {
        json!({"model": "claude-3-sonnet", "stream": true,
               "stream_options": {"include_usage": true},
               "messages": [{"role": "user", "content": text}]})
    };
    let long = "tell me a long story ".repeat(20);
    let first = gw.chat(streamed(&long)).await;
    let second = gw.chat(streamed(&long)).await;
    assert_eq!(gw.fake.stream_calls(SONNET), 1);
    assert_eq!(streamed_text(&first), streamed_text(&second));
    assert_eq!(header(&second, "x-litellm-cache-hit"), "True");
    let events = second.sse_events();
    assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant");
    let deltas = events
        .iter()
        .filter(|e| e["choices"][0]["delta"]["content"].is_string())
        .count();
    assert!(deltas > 1, "replayed in several chunks: {deltas}");
    assert_eq!(
        events[events.len() - 2]["choices"][0]["finish_reason"],
        "stop"
    );
    assert_eq!(
        events.last().unwrap()["usage"],
        first.sse_events().last().unwrap()["usage"]
    );

    // A whole answer serves a stream and a stream serves a whole answer: one answer, two shapes.
    let whole = gw.chat(ask(&long)).await;
    assert_eq!(content(&whole), streamed_text(&first));
    let _ = gw.chat(ask("short")).await;
    let as_stream = gw.chat(streamed("short")).await;
    assert_eq!(header(&as_stream, "x-litellm-cache-hit"), "True");
    assert_eq!(gw.fake.converse_calls(SONNET), 1);
    assert_eq!(gw.fake.stream_calls(SONNET), 1);

    let records = gw.usage_records().await;
    let hits: Vec<_> = records
        .iter()
        .filter(|r| r.cache_hit == Some(true))
        .collect();
    assert_eq!(hits.len(), 3);
    assert!(hits
        .iter()
        .all(|r| r.cost_usd == Some(0.0) && r.total_tokens == 0));
    assert!(records[1].streamed && records[1].time_to_first_token_ms.is_some());
}

#[tokio::test]
async fn one_team_never_reads_another_teams_answers() {
    let table = moto().new_table("cache-scope").await;
    let gw = Instance::start(&table, CACHE_ON, settings(10.0, 900.0)).await;
    for team in ["red", "blue"] {
        let made = gw.admin("/team/new", Some(json!({"team_id": team}))).await;
        assert_eq!(made.status, 200, "{}", made.text());
    }
    let red_a = gw.new_key(json!({"team_id": "red"})).await;
    let red_b = gw.new_key(json!({"team_id": "red"})).await;
    let blue = gw.new_key(json!({"team_id": "blue"})).await;
    let loner = gw.new_key(json!({})).await;

    let first = gw.ask(&red_a).await;
    assert_eq!(header(&first, "x-litellm-cache-hit"), "False");
    assert_eq!(gw.gw.fake.converse_calls(SONNET), 1);
    let teammate = gw.ask(&red_b).await;
    assert_eq!(
        header(&teammate, "x-litellm-cache-hit"),
        "True",
        "same team"
    );
    assert_eq!(gw.gw.fake.converse_calls(SONNET), 1);
    let other_team = gw.ask(&blue).await;
    assert_eq!(header(&other_team, "x-litellm-cache-hit"), "False");
    assert_ne!(
        header(&other_team, "x-litellm-cache-key"),
        header(&first, "x-litellm-cache-key")
    );
    assert_eq!(gw.gw.fake.converse_calls(SONNET), 2, "another team misses");
    // A key without a team is its own scope.
    let alone = gw.ask(&loner).await;
    assert_eq!(header(&alone, "x-litellm-cache-hit"), "False");
    assert_eq!(gw.gw.fake.converse_calls(SONNET), 3);
    assert_eq!(content(&alone), content(&first));
}

#[tokio::test]
async fn answers_expire_after_their_ttl_and_s_maxage_limits_their_age() {
    let (gw, clock) = cached(CACHE_ON).await;
    gw.chat(ask("q")).await;
    clock.advance(Duration::from_secs(30));
    gw.chat(ask("q")).await;
    assert_eq!(gw.fake.converse_calls(SONNET), 1, "within the 60 s ttl");
    // Older than the request accepts: answered again (and stored afresh).
    let fresh = gw
        .chat(with(ask("q"), "cache", json!({"s-maxage": 10})))
        .await;
    assert_eq!(header(&fresh, "x-litellm-cache-hit"), "False");
    assert_eq!(gw.fake.converse_calls(SONNET), 2);
    clock.advance(Duration::from_secs(59));
    gw.chat(ask("q")).await;
    assert_eq!(
        gw.fake.converse_calls(SONNET),
        2,
        "the fresh copy is 59 s old"
    );
    clock.advance(Duration::from_secs(2));
    gw.chat(ask("q")).await;
    assert_eq!(gw.fake.converse_calls(SONNET), 3, "expired");

    // A request's own `ttl` replaces the configured one.
    gw.chat(with(ask("short-lived"), "cache", json!({"ttl": 5})))
        .await;
    clock.advance(Duration::from_secs(6));
    gw.chat(ask("short-lived")).await;
    assert_eq!(gw.fake.converse_calls(SONNET), 5);
}

#[tokio::test]
async fn no_cache_skips_reading_and_no_store_skips_storing() {
    let (gw, _) = cached(CACHE_ON).await;
    gw.chat(with(ask("q"), "cache", json!({"no-store": true})))
        .await;
    let after_no_store = gw.chat(ask("q")).await;
    assert_eq!(header(&after_no_store, "x-litellm-cache-hit"), "False");
    assert_eq!(gw.fake.converse_calls(SONNET), 2, "nothing was stored");
    let no_cache = gw
        .chat(with(ask("q"), "cache", json!({"no-cache": true})))
        .await;
    assert_eq!(header(&no_cache, "x-litellm-cache-hit"), "False");
    assert_eq!(gw.fake.converse_calls(SONNET), 3, "the cache was not read");
    gw.chat(ask("q")).await;
    assert_eq!(gw.fake.converse_calls(SONNET), 3, "a hit");
    // Both: the cache takes no part at all.
    let neither = gw
        .chat(with(
            ask("q"),
            "cache",
            json!({"no-cache": true, "no-store": true}),
        ))
        .await;
    assert!(neither.headers.get("x-litellm-cache-key").is_none());
    assert_eq!(gw.fake.converse_calls(SONNET), 4);
    // A namespace keeps its answers apart.
    gw.chat(with(ask("q"), "cache", json!({"namespace": "eval"})))
        .await;
    assert_eq!(gw.fake.converse_calls(SONNET), 5);
    // Wrong types are the client's error, named.
    let wrong = gw
        .chat(with(ask("q"), "cache", json!({"no-cache": "yes"})))
        .await;
    let body = wrong.assert_error(400, "invalid_request_error");
    assert_eq!(body["error"]["param"], "cache.no-cache", "{body}");
    let long = gw
        .chat(with(
            ask("q"),
            "cache",
            json!({"namespace": "n".repeat(200)}),
        ))
        .await;
    assert_eq!(
        long.assert_error(400, "invalid_request_error")["error"]["param"],
        "cache.namespace"
    );
    assert_eq!(gw.fake.converse_calls(SONNET), 5);
}

#[tokio::test]
async fn default_off_caches_only_requests_that_opt_in() {
    let (gw, _) = cached(
        "litellm_settings:\n  cache: true\n  cache_params:\n    type: local\n    mode: default_off\n",
    )
    .await;
    gw.chat(ask("q")).await;
    let plain = gw.chat(ask("q")).await;
    assert!(plain.headers.get("x-litellm-cache-key").is_none());
    assert_eq!(gw.fake.converse_calls(SONNET), 2);
    let opted = with(ask("q"), "cache", json!({"use-cache": true}));
    gw.chat(opted.clone()).await;
    let hit = gw.chat(opted).await;
    assert_eq!(header(&hit, "x-litellm-cache-hit"), "True");
    assert_eq!(gw.fake.converse_calls(SONNET), 3);
}

#[tokio::test]
async fn concurrent_identical_requests_share_one_model_call() {
    let (gw, _) = cached(CACHE_ON).await;
    gw.fake
        .set_latency(Duration::from_millis(300), Duration::ZERO);
    let gw = Arc::new(gw);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let gw = Arc::clone(&gw);
        tasks.push(tokio::spawn(async move { gw.chat(ask("same")).await }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(content(&task.await.unwrap()));
    }
    assert_eq!(gw.fake.converse_calls(SONNET), 1, "single flight");
    assert!(answers.windows(2).all(|w| w[0] == w[1]));
    let records = gw.usage_records().await;
    let hits = records.iter().filter(|r| r.cache_hit == Some(true)).count();
    assert_eq!((records.len(), hits), (6, 5));

    // Streams too.
    let streamed = json!({"model": "claude-3-sonnet", "stream": true,
                          "messages": [{"role": "user", "content": "same stream"}]});
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (gw, body) = (Arc::clone(&gw), streamed.clone());
        tasks.push(tokio::spawn(async move { gw.chat(body).await }));
    }
    let mut texts = Vec::new();
    for task in tasks {
        texts.push(streamed_text(&task.await.unwrap()));
    }
    assert_eq!(gw.fake.stream_calls(SONNET), 1);
    assert!(texts.windows(2).all(|w| w[0] == w[1]) && !texts[0].is_empty());
}

#[tokio::test]
async fn a_hit_still_runs_input_guardrails() {
    let fake = FakeBedrock::start().await.unwrap();
    let endpoint = fake.endpoint();
    let guardrails = format!(
        "guardrails:\n  - guardrail_name: in\n    litellm_params:\n      guardrail: bedrock\n      \
         mode: pre_call\n      guardrailIdentifier: gin\n      guardrailVersion: '1'\n      \
         aws_region_name: us-east-1\n      aws_bedrock_runtime_endpoint: {endpoint}\n      \
         aws_access_key_id: test-access-key\n      aws_secret_access_key: test-secret-key\n      \
         default_on: true\n{CACHE_ON}"
    );
    let gw = TestGateway::with_yaml(fake, &priced_yaml(&endpoint, &guardrails)).await;
    gw.chat(ask("q")).await;
    let hit = gw.chat(ask("q")).await;
    assert_eq!(header(&hit, "x-litellm-cache-hit"), "True");
    assert_eq!(gw.fake.converse_calls(SONNET), 1);
    assert_eq!(
        gw.fake.guardrail_calls("gin", "1"),
        2,
        "the hit's input was checked"
    );
    // A blocked question is refused before the cache is read.
    gw.fake.add_blocked_word("BLOCKME");
    let blocked = gw.chat(ask("BLOCKME")).await;
    blocked.assert_error(400, "invalid_request_error");
    assert_eq!(gw.fake.converse_calls(SONNET), 1);
}

#[tokio::test]
async fn lex_conversations_are_not_cached() {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = format!(
        "{}{CACHE_ON}",
        gateway_tests::harness::config_yaml(&fake.endpoint())
    );
    let config = load_config(&yaml);
    let usage = Arc::new(gateway::usage::MemoryUsageSink::default());
    let gateway = build_gateway(&config, Arc::clone(&usage), |b| b).await;
    assert!(gateway.response_cache().is_some());
    let lex = LexFulfillment::new(Arc::clone(&gateway), &config).unwrap();
    let event = sample_event("lex-first-turn.json");
    lex.handle_json(event.clone(), None).await;
    lex.handle_json(event, None).await;
    assert_eq!(fake.total_calls(), 2, "each turn asks the model");
    gateway.after_response().flush().await;
    assert!(usage.records().iter().all(|r| r.cache_hit.is_none()));
}

/// An instance whose cache is DynamoDB items in `table` (moto), on its own fake Bedrock.
async fn dynamo_instance(table: &str, clock: &WallClock) -> TestGateway {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = priced_yaml(
        &fake.endpoint(),
        "litellm_settings:\n  cache: true\n  cache_params:\n    type: redis\n    ttl: 60\n",
    );
    let config = load_config(&yaml);
    let clients = moto().clients().await;
    let cache = ResponseCache::from_settings(&config.cache, Some((&clients, table)), clock.clone());
    assert_eq!(cache.as_ref().unwrap().store_kind(), "dynamodb");
    let clock = clock.clone();
    TestGateway::customized(fake, &yaml, move |b| b.clock(clock).response_cache(cache)).await
}

/// Polls until `check` holds (the store is written in the background).
async fn eventually(mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never held");
}

#[tokio::test]
async fn the_dynamodb_cache_is_shared_by_instances_and_expires() {
    let table = moto().new_table("cache-dynamo").await;
    let clock = WallClock::system();
    let one = dynamo_instance(&table, &clock).await;
    let two = dynamo_instance(&table, &clock).await;
    let first = one.chat(ask("shared question")).await;
    let key = header(&first, "x-litellm-cache-key").to_owned();
    let scan = || async {
        gateway_tests::keys::scan_text(moto(), &table)
            .await
            .contains(&format!("CACHE#key:master#{key}"))
    };
    eventually(scan).await;
    let from_two = two.chat(ask("shared question")).await;
    assert_eq!(header(&from_two, "x-litellm-cache-hit"), "True");
    assert_eq!(content(&from_two), content(&first));
    assert_eq!(two.fake.total_calls(), 0, "the other instance's answer");
    let (stream_hit, _) = (
        two.chat(json!({"model": "claude-3-sonnet", "stream": true,
                         "messages": [{"role": "user", "content": "shared question"}]}))
            .await,
        (),
    );
    assert_eq!(streamed_text(&stream_hit), content(&first));
    assert_eq!(two.fake.total_calls(), 0);
    // Expired items are not served, even before DynamoDB's TTL deletes them.
    clock.advance(Duration::from_secs(61));
    let expired = two.chat(ask("shared question")).await;
    assert_eq!(header(&expired, "x-litellm-cache-hit"), "False");
    assert_eq!(two.fake.converse_calls(SONNET), 1);
    let records = two.usage_records().await;
    assert_eq!(records[0].cost_usd, Some(0.0));
    assert!(records[2].cost_usd.unwrap() > PRICE_PER_TOKEN);
}

/// The Lambda extension holds the sandbox until the after-response queue is flushed: a DynamoDB
/// cache write, made in a task of its own, is part of what it waits for. The store is frozen
/// (SIGSTOP) while the model answers, so the write is still pending when the answer is out.
#[tokio::test]
async fn a_flush_waits_for_the_dynamodb_cache_write() {
    let mut server = gateway_tests::moto::MotoServer::spawn();
    let table = server.new_table("cache-held").await;
    let fake = FakeBedrock::start().await.unwrap();
    fake.set_latency(Duration::from_millis(600), Duration::ZERO);
    let yaml = priced_yaml(
        &fake.endpoint(),
        "litellm_settings:\n  cache: true\n  cache_params:\n    type: redis\n    ttl: 60\n",
    );
    let config = load_config(&yaml);
    let clients = server.clients().await;
    let cache =
        ResponseCache::from_settings(&config.cache, Some((&clients, &table)), WallClock::system());
    let gw = Arc::new(TestGateway::customized(fake, &yaml, move |b| b.response_cache(cache)).await);
    let asking = tokio::spawn({
        let gw = Arc::clone(&gw);
        async move { gw.chat(ask("held")).await }
    });
    // The lookup (a miss) is done; the model is still answering.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.freeze();
    let res = asking.await.unwrap();
    assert_eq!(header(&res, "x-litellm-cache-hit"), "False");
    let key = header(&res, "x-litellm-cache-key").to_owned();
    let flush = gw.gateway.after_response().flush();
    let held = tokio::time::timeout(Duration::from_millis(500), flush).await;
    assert!(
        held.is_err(),
        "the flush waits while the cache write is pending"
    );
    server.thaw();
    tokio::time::timeout(Duration::from_secs(20), gw.gateway.after_response().flush())
        .await
        .expect("the flush ends once the write is done");
    let items = gateway_tests::keys::scan_text(&server, &table).await;
    assert!(
        items.contains(&key),
        "the answer was stored before the flush returned"
    );
}

#[tokio::test]
async fn answers_too_large_for_an_item_are_not_stored() {
    let table = moto().new_table("cache-large").await;
    let clock = WallClock::system();
    let one = dynamo_instance(&table, &clock).await;
    // The fake echoes the question: a 360 KB question gets a 360 KB answer (with a `max_tokens`
    // that allows it: without one the gateway sends its default, 512).
    let big = "word ".repeat(72 * 1024);
    let big_ask = || {
        let mut body = ask(&big);
        body["max_tokens"] = json!(100_000);
        body
    };
    let first = one.chat(big_ask()).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let small = one.chat(ask("small")).await;
    let small_key = header(&small, "x-litellm-cache-key").to_owned();
    let table_ref = &table;
    eventually(|| async {
        gateway_tests::keys::scan_text(moto(), table_ref)
            .await
            .contains(&small_key)
    })
    .await;
    let again = one.chat(big_ask()).await;
    assert!(
        content(&again).len() > 350_000,
        "the whole answer came back"
    );
    assert_eq!(header(&again, "x-litellm-cache-hit"), "False");
    assert_eq!(one.fake.converse_calls(SONNET), 3);
}
