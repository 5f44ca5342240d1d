//! DynamoDB stopped mid-run: answers continue, each record is tried again and then kept in ONE
//! fallback log line; with DynamoDB back (fresh, table created again), the replay writes every
//! record exactly once, and a second replay counts nothing twice.
//! In the `scoped_logs` test binary: it captures log output with a scoped subscriber (see
//! `request_logs.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use gateway::store::create_table;
use gateway::usage::{fallback, replay_lines, ReplaySummary};
use gateway_tests::captured::Captured;
use gateway_tests::fake_bedrock::FakeBedrock;
use gateway_tests::harness::{config_yaml, load_config, TestGateway, MASTER_KEY};
use gateway_tests::moto::MotoServer;
use gateway_tests::usage_table::{get, must_get, number, store};
use serde_json::json;

fn ask(stream: bool) -> serde_json::Value {
    json!({"model":"claude-3-sonnet","stream":stream,"stream_options":{"include_usage":true},
           "messages":[{"role":"user","content":"hello"}]})
}

#[tokio::test(flavor = "current_thread")]
async fn records_survive_an_outage_through_the_fallback_log_and_replay_once() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let mut moto = MotoServer::spawn();
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = format!(
        "{}usage:\n  write_attempts: 2\n",
        config_yaml(&fake.endpoint())
    );
    let config = load_config(&yaml);
    let (store, client) = store(&moto, &config).await;
    let table = store.table().to_owned();
    let sink = Arc::clone(&store);
    let gw = TestGateway::customized(fake, &yaml, move |b| b.usage_sink(sink)).await;

    let before = gw.chat(ask(false)).await;
    assert_eq!(before.status, 200);
    gw.gateway.after_response().flush().await;
    assert_eq!(gw.gateway.after_response().stats().written, 1);

    moto.stop();
    let mut ids = Vec::new();
    for stream in [false, true, false] {
        let res = gw.chat(ask(stream)).await;
        assert_eq!(res.status, 200, "answers continue: {}", res.text());
        if stream {
            assert!(res.sse_events().iter().any(|e| e["usage"].is_object()));
        } else {
            assert!(res.json()["choices"][0]["message"]["content"].is_string());
        }
        ids.push(res.headers["x-request-id"].to_str().unwrap().to_owned());
    }
    gw.gateway.after_response().flush().await;
    let stats = gw.gateway.after_response().stats();
    assert_eq!((stats.written, stats.failed), (1, 3), "{stats:?}");

    let captured = logs.text();
    let lines: Vec<&str> = captured
        .lines()
        .filter(|l| l.contains(fallback::MARKER))
        .collect();
    assert_eq!(lines.len(), 3, "one fallback line per record:\n{captured}");
    for id in &ids {
        assert_eq!(
            lines.iter().filter(|l| l.contains(id.as_str())).count(),
            1,
            "{id}"
        );
    }
    assert!(
        !captured.contains(MASTER_KEY),
        "the key never reaches a log"
    );

    // DynamoDB is back, empty (moto keeps nothing across a restart): create the table again.
    moto.start();
    create_table(&client, &table).await.unwrap();
    let replay = replay_lines(&store, captured.as_bytes()).await.unwrap();
    assert_eq!(
        replay,
        ReplaySummary {
            lines: captured.lines().count() as u64,
            written: 3,
            duplicates: 0,
            failed: 0,
            ..ReplaySummary::default()
        }
    );
    let again = replay_lines(&store, captured.as_bytes()).await.unwrap();
    assert_eq!((again.written, again.duplicates, again.failed), (0, 3, 0));

    let mut tokens = 0.0;
    for id in &ids {
        let item = must_get(&client, &table, &format!("REQ#{id}"), "REQ").await;
        tokens += number(&item, "total_tokens");
    }
    let total = must_get(&client, &table, "AGG#KEY#master", "TOTAL").await;
    assert_eq!(
        number(&total, "requests"),
        3.0,
        "each replayed record counted once"
    );
    assert_eq!(number(&total, "total_tokens"), tokens);
    let first = before.headers["x-request-id"].to_str().unwrap();
    assert!(get(&client, &table, &format!("REQ#{first}"), "REQ")
        .await
        .is_none());
}

/// A caller's text that reaches a log (inside another field, or a message it does not start)
/// cannot pose as a fallback record, and a record at a real marker still has to pass
/// validation: refused, counted with its reason, never written.
#[tokio::test(flavor = "current_thread")]
async fn replay_refuses_forged_markers_and_records_that_fail_validation() {
    let moto = MotoServer::spawn();
    let fake = FakeBedrock::start().await.unwrap();
    let config = load_config(&config_yaml(&fake.endpoint()));
    let (store, client) = store(&moto, &config).await;
    let table = store.table().to_owned();
    let record = |id: &str, cost: f64| {
        json!({"request_id": id, "started_at_ms": 1_764_633_600_000_u64, "caller": "api",
               "key_id": "k1", "model": "claude-3-sonnet", "outcome": "success",
               "prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, "cost_usd": cost})
    };
    let marker = fallback::MARKER;
    let good = record("r-good", 0.25);
    let forged = record("r-forged", -1000.0);
    let mut unknown = record("r-unknown", 0.1);
    unknown["is_admin"] = json!(true);
    let lambda_line = |message: String| {
        json!({"level": "ERROR", "fields": {"message": message}, "target": "usage_fallback"})
            .to_string()
    };
    let lines = [
        format!("2026-12-02T03:00:00Z ERROR usage_fallback: {marker} {good}"),
        // The caller's `user` field, logged by some other line.
        json!({"level": "WARN", "fields": {"message": "request refused",
               "user": format!("{marker} {forged}")}, "target": "gateway"})
        .to_string(),
        // A message that merely contains the marker.
        lambda_line(format!("model x not found: {marker} {forged}")),
        lambda_line(format!("{marker} {forged}")),
        lambda_line(format!("{marker} {unknown}")),
    ]
    .join("\n");
    let summary = replay_lines(&store, lines.as_bytes()).await.unwrap();
    assert_eq!(
        (summary.written, summary.refused, summary.failed),
        (1, 4, 0),
        "{summary:?}"
    );
    let reasons: Vec<(&str, u64)> = summary
        .refusals
        .iter()
        .map(|(reason, n)| (reason.split(',').next().unwrap(), *n))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("`cost_usd` is negative or not finite", 1),
            (fallback::NOT_A_MESSAGE_START, 2),
            ("unknown field `is_admin`", 1),
        ]
    );
    must_get(&client, &table, "REQ#r-good", "REQ").await;
    for id in ["r-forged", "r-unknown"] {
        assert!(get(&client, &table, &format!("REQ#{id}"), "REQ")
            .await
            .is_none());
    }
    let total = must_get(&client, &table, "AGG#KEY#k1", "TOTAL").await;
    assert_eq!(number(&total, "cost_usd"), 0.25);
    assert_eq!(number(&total, "requests"), 1.0);
}
