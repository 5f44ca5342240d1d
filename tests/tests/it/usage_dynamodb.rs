//! Usage records in DynamoDB (moto, real SDK): one item per request with every field and a TTL,
//! aggregates per team/day/model, team/month/model and per key, counted once even when a record
//! is written twice, the spend API over them, Lex turns billed to their team, and no key
//! material anywhere in the table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::body::Body;
use gateway::keys::{KeyHash, MemoryKeyStore, VirtualKey};
use gateway::lex::LexFulfillment;
use gateway::usage::{
    report_from_records, Billed, GroupBy, Period, ReportQuery, UsageRecord, UsageSink, Written,
};
use gateway_tests::fake_bedrock::{FakeBedrock, Fault};
use gateway_tests::harness::{
    build_gateway, config_yaml, load_config, sample_event, TestGateway, TestResponse, MASTER_KEY,
    SONNET,
};
use gateway_tests::moto::MotoServer;
use gateway_tests::usage_table::{must_get, number, scan_all, store, text, with_prefix};
use http::Request;
use serde_json::{json, Value};

const SEARCH_KEY: &str = "sk-search-team-key-0001";
const SUPPORT_KEY: &str = "sk-support-team-key-0002";
const DAY_SECS: u64 = 24 * 60 * 60;

fn ask(text: &str, stream: bool) -> Value {
    json!({"model":"claude-3-sonnet","stream":stream,"stream_options":{"include_usage":true},
           "user":"alice","messages":[{"role":"user","content":text}]})
}

/// The test config with prices on the Sonnet deployment, and `extra` YAML.
fn priced(endpoint: &str, extra: &str) -> String {
    let yaml = config_yaml(endpoint).replace(
        "      aws_region_name: us-east-1\n",
        "      aws_region_name: us-east-1\n      input_cost_per_token: 0.000003\n      output_cost_per_token: 0.000015\n",
    );
    format!("{yaml}{extra}")
}

fn keys() -> Arc<MemoryKeyStore> {
    let keys = Arc::new(MemoryKeyStore::new());
    for (key, alias, team) in [
        (SEARCH_KEY, "search-ci", "search"),
        (SUPPORT_KEY, "support-bot", "support"),
    ] {
        keys.insert(
            key,
            VirtualKey {
                alias: Some(alias.into()),
                team: Some(team.into()),
                ..VirtualKey::default()
            },
        );
    }
    keys
}

fn key_id(key: &str) -> String {
    KeyHash::of(key).prefix().to_owned()
}

struct Setup {
    gw: TestGateway,
    table: String,
    client: aws_sdk_dynamodb::Client,
}

async fn setup(extra: &str) -> Setup {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = priced(&fake.endpoint(), extra);
    let config = load_config(&yaml);
    let (store, client) = store(MotoServer::shared(), &config).await;
    let table = store.table().to_owned();
    let keys = keys();
    let gw =
        TestGateway::customized(fake, &yaml, move |b| b.usage_sink(store).key_store(keys)).await;
    Setup { gw, table, client }
}

async fn chat_as(gw: &TestGateway, key: &str, body: Value) -> TestResponse {
    gw.send(
        Request::post("/v1/chat/completions")
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

async fn get_as(gw: &TestGateway, key: Option<&str>, path: &str) -> TestResponse {
    let mut request = Request::get(path);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    gw.send(request.body(Body::empty()).unwrap()).await
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test]
async fn whole_streamed_and_failed_requests_leave_records_and_aggregates() {
    let Setup { gw, table, client } = setup("").await;
    let whole = chat_as(&gw, SEARCH_KEY, ask("How are you", false)).await;
    assert_eq!(whole.status, 200, "{}", whole.text());
    let streamed = chat_as(&gw, SEARCH_KEY, ask("And you", true)).await;
    assert_eq!(streamed.status, 200);
    streamed.sse_events();
    gw.fake.set_fault(SONNET, Fault::Throttle);
    let failed = gw.chat(ask("x", false)).await;
    failed.assert_error(429, "rate_limit_error");
    gw.gateway.after_response().flush().await;
    let stats = gw.gateway.after_response().stats();
    assert_eq!((stats.written, stats.failed), (3, 0), "{stats:?}");

    let id_of = |r: &TestResponse| r.headers["x-request-id"].to_str().unwrap().to_owned();
    let search = key_id(SEARCH_KEY);
    let w = must_get(&client, &table, &format!("REQ#{}", id_of(&whole)), "REQ").await;
    let s = must_get(&client, &table, &format!("REQ#{}", id_of(&streamed)), "REQ").await;
    let f = must_get(&client, &table, &format!("REQ#{}", id_of(&failed)), "REQ").await;

    // Every field of a record is an attribute (nulls left out), plus the table's own.
    let fields = serde_json::to_value(UsageRecord {
        cost_usd: Some(0.0),
        ..UsageRecord::default()
    })
    .unwrap();
    for name in fields
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, _)| k)
    {
        assert!(w.contains_key(name), "{name} missing from {w:?}");
    }
    let body = whole.json();
    assert_eq!(text(&w, "request_id"), body["id"]);
    assert_eq!(text(&w, "caller"), "api");
    assert_eq!(text(&w, "key_id"), search);
    assert_eq!(text(&w, "key_alias"), "search-ci");
    assert_eq!((text(&w, "team"), text(&w, "user")), ("search", "alice"));
    assert_eq!(text(&w, "model"), "claude-3-sonnet");
    assert_eq!(text(&w, "deployment_id"), "claude-3-sonnet-0");
    assert_eq!(text(&w, "provider_model"), SONNET);
    assert_eq!(text(&w, "outcome"), "success");
    assert_eq!(
        number(&w, "prompt_tokens"),
        body["usage"]["prompt_tokens"].as_f64().unwrap()
    );
    let cost = number(&w, "prompt_tokens") * 0.000003 + number(&w, "completion_tokens") * 0.000015;
    assert!(close(number(&w, "cost_usd"), cost));
    assert_eq!(
        w["streamed"],
        aws_sdk_dynamodb::types::AttributeValue::Bool(false)
    );
    assert_eq!(
        s["streamed"],
        aws_sdk_dynamodb::types::AttributeValue::Bool(true)
    );
    assert!(number(&s, "time_to_first_token_ms") >= 0.0);
    assert_eq!(text(&f, "outcome"), "failure");
    assert_eq!(text(&f, "error_type"), "provider.throttled");
    assert_eq!(text(&f, "key_id"), "master");

    // Index keys and the TTL.
    let started = number(&w, "started_at_ms") as u64;
    assert_eq!(text(&w, "gsi1pk"), format!("USAGE_KEY#{search}"));
    assert_eq!(text(&w, "gsi2pk"), "USAGE_TEAM#search");
    assert_eq!(
        text(&w, "gsi1sk"),
        format!("{started:013}#{}", body["id"].as_str().unwrap())
    );
    assert_eq!(text(&f, "gsi2pk"), "USAGE_TEAM#none");
    assert_eq!(
        number(&w, "expires_at") as u64,
        started / 1000 + 90 * DAY_SECS
    );

    // Aggregates: two successes for team search, one failure for no team.
    let day = gateway::usage::day(started);
    let month = gateway::usage::month(started);
    let tokens = |name: &str| number(&w, name) + number(&s, name);
    for sk in [
        format!("DAY#{day}#claude-3-sonnet"),
        format!("MONTH#{month}#claude-3-sonnet"),
    ] {
        let agg = must_get(&client, &table, "AGG#TEAM#search", &sk).await;
        assert_eq!(
            (number(&agg, "requests"), number(&agg, "errors")),
            (2.0, 0.0),
            "{agg:?}"
        );
        for name in ["prompt_tokens", "completion_tokens", "total_tokens"] {
            assert_eq!(number(&agg, name), tokens(name), "{name}");
        }
        assert!(close(
            number(&agg, "cost_usd"),
            number(&w, "cost_usd") + number(&s, "cost_usd")
        ));
        assert_eq!(
            (text(&agg, "team"), text(&agg, "model")),
            ("search", "claude-3-sonnet")
        );
    }
    for sk in [
        format!("DAY#{day}"),
        format!("MONTH#{month}"),
        "TOTAL".to_owned(),
    ] {
        let agg = must_get(&client, &table, &format!("AGG#KEY#{search}"), &sk).await;
        assert_eq!(number(&agg, "requests"), 2.0, "{sk}");
        assert_eq!(number(&agg, "total_tokens"), tokens("total_tokens"));
    }
    let none = must_get(
        &client,
        &table,
        "AGG#TEAM#none",
        &format!("DAY#{day}#claude-3-sonnet"),
    )
    .await;
    assert_eq!(
        (number(&none, "requests"), number(&none, "errors")),
        (1.0, 1.0)
    );
    // Aggregates have no TTL; records do.
    assert!(!none.contains_key("expires_at"));

    // No key material: neither key, nor a full key hash, in any item.
    let everything = format!("{:?}", scan_all(&client, &table).await);
    for secret in [
        SEARCH_KEY.to_owned(),
        MASTER_KEY.to_owned(),
        KeyHash::of(SEARCH_KEY).as_str().to_owned(),
    ] {
        assert!(!everything.contains(&secret), "key material in the table");
    }
    // One record item per request, nothing else with REQ#.
    assert_eq!(with_prefix(&client, &table, "REQ#").await.len(), 3);
}

#[tokio::test]
async fn a_record_written_twice_is_counted_once() {
    let moto = MotoServer::shared();
    let config = load_config(&config_yaml("http://127.0.0.1:9"));
    let (store, client) = store(moto, &config).await;
    let record = UsageRecord {
        request_id: "chatcmpl-twice".into(),
        started_at_ms: 1_796_182_607_123,
        caller: "api",
        key_id: "abc123abc123".into(),
        team: Some("finance".into()),
        model: "claude-3-haiku".into(),
        prompt_tokens: 10,
        completion_tokens: 5,
        total_tokens: 15,
        cost_usd: Some(0.25),
        ..UsageRecord::default()
    };
    store.write(&record).await.unwrap();
    store.write(&record).await.unwrap();
    let json = serde_json::to_value(&record).unwrap();
    let again = store.write_json(json.as_object().unwrap()).await.unwrap();
    assert_eq!(again, Written::Duplicate);
    let agg = must_get(&client, store.table(), "AGG#KEY#abc123abc123", "TOTAL").await;
    assert_eq!(number(&agg, "requests"), 1.0);
    assert!(close(number(&agg, "cost_usd"), 0.25));
    let team = must_get(
        &client,
        store.table(),
        "AGG#TEAM#finance",
        "MONTH#2026-12#claude-3-haiku",
    )
    .await;
    assert_eq!(number(&team, "total_tokens"), 15.0);
    // A record whose price is unknown counts as unpriced, not free.
    let unpriced = UsageRecord {
        request_id: "chatcmpl-unpriced".into(),
        cost_usd: None,
        ..record.clone()
    };
    store.write(&unpriced).await.unwrap();
    let agg = must_get(&client, store.table(), "AGG#KEY#abc123abc123", "TOTAL").await;
    assert_eq!(
        (number(&agg, "requests"), number(&agg, "unpriced_requests")),
        (2.0, 1.0)
    );
}

#[tokio::test]
async fn spend_endpoints_answer_from_the_table_for_the_master_key_only() {
    let Setup { gw, .. } = setup("").await;
    for (key, stream) in [
        (SEARCH_KEY, false),
        (SEARCH_KEY, true),
        (SUPPORT_KEY, false),
    ] {
        let res = chat_as(&gw, key, ask("hello", stream)).await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
    let master = gw.chat(ask("from the admin", false)).await;
    let master_id = master.json()["id"].as_str().unwrap().to_owned();
    gw.gateway.after_response().flush().await;

    let logs = |query: &str| {
        let path = format!("/spend/logs{query}");
        let gw = &gw;
        async move {
            let res = get_as(gw, Some(MASTER_KEY), &path).await;
            assert_eq!(res.status, 200, "{path}: {}", res.text());
            res.json().as_array().unwrap().clone()
        }
    };
    let all = logs("").await;
    assert_eq!(all.len(), 4);
    let entry = all.iter().find(|e| e["request_id"] == master_id).unwrap();
    for field in [
        "api_key",
        "spend",
        "startTime",
        "endTime",
        "model",
        "model_group",
        "call_type",
        "total_tokens",
        "prompt_tokens",
        "completion_tokens",
        "user",
        "metadata",
    ] {
        assert!(entry.get(field).is_some(), "{field} missing: {entry}");
    }
    assert_eq!(entry["api_key"], "master");
    assert_eq!(entry["model_group"], "claude-3-sonnet");
    assert_eq!(entry["model"], SONNET);
    assert_eq!(entry["metadata"]["request_id"], master_id);
    assert!(entry["spend"].as_f64().unwrap() > 0.0);
    // Newest first.
    let starts: Vec<_> = all
        .iter()
        .map(|e| e["startTime"].as_str().unwrap().to_owned())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]), "{starts:?}");

    let search = logs(&format!("?api_key={SEARCH_KEY}")).await;
    assert_eq!(search.len(), 2);
    assert!(search.iter().all(|e| e["api_key"] == key_id(SEARCH_KEY)));
    assert_eq!(
        logs(&format!("?api_key={}", key_id(SEARCH_KEY)))
            .await
            .len(),
        2
    );
    let support = logs("?team_id=support").await;
    assert_eq!(support.len(), 1);
    assert_eq!(support[0]["team_id"], "support");
    let one = logs(&format!("?request_id={master_id}")).await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["request_id"], master_id);
    assert_eq!(logs("?user_id=alice").await.len(), 4);
    assert_eq!(logs("?user_id=bob").await.len(), 0);
    let today = gateway::usage::day(gateway::openai::response::unix_now() * 1000);
    assert_eq!(
        logs(&format!("?start_date={today}&end_date={today}"))
            .await
            .len(),
        4
    );
    assert_eq!(
        logs(&format!("?team_id=search&start_date={today}"))
            .await
            .len(),
        2
    );
    assert_eq!(
        logs("?start_date=2020-01-01&end_date=2020-01-31")
            .await
            .len(),
        0
    );
    assert_eq!(logs("?limit=1").await.len(), 1);
    let bad = get_as(&gw, Some(MASTER_KEY), "/spend/logs?start_date=yesterday").await;
    let body = bad.assert_error(400, "invalid_request_error");
    assert_eq!(body["error"]["param"], "start_date");

    // The report from the aggregates equals the report computed from the records.
    let records: Vec<Billed> = all
        .iter()
        .map(|e| Billed::from_json(e["metadata"].as_object().unwrap()).unwrap())
        .collect();
    for (period, group, query) in [
        (Period::Day, GroupBy::Team, "period=day&group_by=team"),
        (Period::Month, GroupBy::Team, "period=month"),
        (Period::Day, GroupBy::Key, "group_by=api_key"),
    ] {
        let res = get_as(
            &gw,
            Some(MASTER_KEY),
            &format!("/spend/report?{query}&start_date={today}&end_date={today}"),
        )
        .await;
        assert_eq!(res.status, 200, "{}", res.text());
        let data = res.json()["data"].clone();
        let expected = report_from_records(
            &records,
            &ReportQuery {
                period,
                group_by: group,
                team: None,
                key_id: None,
                start_day: today.clone(),
                end_day: today.clone(),
            },
        );
        let rows = data.as_array().unwrap();
        assert_eq!(rows.len(), expected.len(), "{query}: {data}");
        for (row, want) in rows.iter().zip(&expected) {
            let mut want = serde_json::to_value(want).unwrap();
            assert!(close(
                row["spend"].as_f64().unwrap(),
                want["spend"].as_f64().unwrap()
            ));
            want["spend"] = row["spend"].clone();
            assert_eq!(row, &want, "{query}");
        }
    }
    let team_rows = get_as(
        &gw,
        Some(MASTER_KEY),
        "/spend/report?team_id=search&period=month",
    )
    .await;
    let rows = team_rows.json()["data"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0]["team_id"].as_str(), rows[0]["requests"].as_u64()),
        (Some("search"), Some(2))
    );
    assert_eq!(rows[0]["period"].as_str().unwrap().len(), 7);

    let global = get_as(
        &gw,
        Some(MASTER_KEY),
        &format!("/global/spend/report?start_date={today}&end_date={today}"),
    )
    .await;
    assert_eq!(global.status, 200, "{}", global.text());
    let days = global.json();
    assert_eq!(days.as_array().unwrap().len(), 1);
    assert_eq!(days[0]["group_by_day"], today);
    let teams = days[0]["teams"].as_array().unwrap();
    let names: Vec<_> = teams
        .iter()
        .map(|t| t["team_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["none", "search", "support"]);
    let search_team = &teams[1];
    let spent: f64 = search.iter().map(|e| e["spend"].as_f64().unwrap()).sum();
    assert!(close(search_team["total_spend"].as_f64().unwrap(), spent));
    assert_eq!(search_team["metadata"][0]["model"], "claude-3-sonnet");

    // Admin only: a virtual key is refused, no key is unauthenticated; OpenAI's error shape.
    for path in ["/spend/logs", "/spend/report", "/global/spend/report"] {
        get_as(&gw, Some(SEARCH_KEY), path)
            .await
            .assert_error(403, "permission_error");
        get_as(&gw, None, path)
            .await
            .assert_error(401, "authentication_error");
    }
    get_as(&gw, Some(MASTER_KEY), "/spend/report?period=week")
        .await
        .assert_error(400, "invalid_request_error");
    get_as(
        &gw,
        Some(MASTER_KEY),
        "/spend/report?start_date=2026-12-02&end_date=2026-12-01",
    )
    .await
    .assert_error(400, "invalid_request_error");
}

#[tokio::test]
async fn a_lex_turn_is_recorded_in_the_table_billed_to_its_team() {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = priced(&fake.endpoint(), "lex:\n  teams: {QK7W2NPXHD: support}\n");
    let config = load_config(&yaml);
    let (store, client) = store(MotoServer::shared(), &config).await;
    let table = store.table().to_owned();
    let gateway = build_gateway(&config, Default::default(), move |b| b.usage_sink(store)).await;
    let lex = LexFulfillment::new(Arc::clone(&gateway), &config).unwrap();
    let reply = lex
        .handle_json(sample_event("lex-first-turn.json"), None)
        .await;
    assert_eq!(
        reply["sessionState"]["intent"]["state"], "Fulfilled",
        "{reply}"
    );
    gateway.after_response().flush().await;

    let records = with_prefix(&client, &table, "REQ#").await;
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(text(r, "caller"), "lex");
    assert_eq!(text(r, "team"), "support");
    assert_eq!(text(r, "session_id"), "812503478910267");
    assert_eq!(text(r, "gsi2pk"), "USAGE_TEAM#support");
    assert_eq!(text(r, "outcome"), "success");
    assert!(number(r, "total_tokens") > 0.0);
    let day = gateway::usage::day(number(r, "started_at_ms") as u64);
    let agg = must_get(
        &client,
        &table,
        "AGG#TEAM#support",
        &format!("DAY#{day}#{}", text(r, "model")),
    )
    .await;
    assert_eq!(number(&agg, "requests"), 1.0);
    assert!(close(number(&agg, "cost_usd"), number(r, "cost_usd")));
}

#[tokio::test]
async fn the_memory_sink_answers_the_same_spend_api_without_aws() {
    let gw = TestGateway::start().await;
    let res = gw.chat(ask("hello", false)).await;
    let id = res.json()["id"].as_str().unwrap().to_owned();
    gw.usage_records().await;
    let logs = get_as(
        &gw,
        Some(MASTER_KEY),
        &format!("/spend/logs?request_id={id}"),
    )
    .await;
    assert_eq!(logs.status, 200, "{}", logs.text());
    assert_eq!(logs.json()[0]["request_id"], id);
    let report = get_as(&gw, Some(MASTER_KEY), "/spend/report?period=month")
        .await
        .json();
    assert_eq!(report["data"][0]["requests"], 1);
    assert_eq!(report["data"][0]["team_id"], "none");
}

#[tokio::test]
async fn from_config_writes_to_the_table_gateway_table_name_names() {
    let moto = MotoServer::shared();
    let fake = FakeBedrock::start().await.unwrap();
    let table = format!("wired-{}", std::process::id());
    let mut pairs = moto.env_pairs();
    pairs.push(("GATEWAY_TABLE_NAME".into(), table.clone()));
    pairs.push(("GATEWAY_CREATE_TABLES".into(), "1".into()));
    let env = gateway::env::Environment::from_pairs(pairs);
    let config = gateway::config::from_yaml_str(&config_yaml(&fake.endpoint()), &env).unwrap();
    let gateway = Arc::new(
        gateway::gateway::Gateway::from_config(&config, &env)
            .await
            .unwrap(),
    );
    let gw = TestGateway {
        fake,
        router: gateway::http::router(Arc::clone(&gateway)),
        gateway,
        usage: Default::default(),
    };
    let res = gw.chat(ask("wired", false)).await;
    let id = res.json()["id"].as_str().unwrap().to_owned();
    gw.gateway.after_response().flush().await;
    let client = moto.clients().await.dynamodb;
    let item = must_get(&client, &table, &format!("REQ#{id}"), "REQ").await;
    assert_eq!(text(&item, "request_id"), id);
    let logs = get_as(
        &gw,
        Some(MASTER_KEY),
        &format!("/spend/logs?request_id={id}"),
    )
    .await;
    assert_eq!(logs.json()[0]["request_id"], id.as_str());

    // Unset: the configured sink, with a memory copy for the spend API.
    let local =
        gateway::usage::sink_from_environment(&config.usage, &gateway_tests::harness::test_env())
            .await
            .unwrap();
    assert!(local.spend_store().is_some());
}

#[tokio::test]
async fn retention_is_configurable_and_checked_strictly() {
    let env = gateway_tests::harness::test_env();
    let base = config_yaml("http://127.0.0.1:9");
    for (bad, path) in [
        ("retention_days: 0", "usage.retention_days"),
        ("retention_days: 99999", "usage.retention_days"),
        ("write_attempts: 0", "usage.write_attempts"),
        ("retention: 7", "retention"),
    ] {
        let err = gateway::config::from_yaml_str(&format!("{base}usage:\n  {bad}\n"), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains(path), "{bad}: {err}");
    }
    let config = load_config(&format!("{base}usage:\n  retention_days: 7\n"));
    assert_eq!(config.usage.retention_days, 7);
    let (store, client) = store(MotoServer::shared(), &config).await;
    let record = UsageRecord {
        request_id: "chatcmpl-ttl".into(),
        started_at_ms: 1_796_182_607_123,
        ..UsageRecord::default()
    };
    store.write(&record).await.unwrap();
    let item = must_get(&client, store.table(), "REQ#chatcmpl-ttl", "REQ").await;
    assert_eq!(
        number(&item, "expires_at") as u64,
        1_796_182_607 + 7 * DAY_SECS
    );
}
