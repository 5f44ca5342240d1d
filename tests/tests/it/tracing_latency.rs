//! Tracing adds no latency: spans leave after the response, so a collector that takes 300 ms
//! per export does not slow answers, and one that is not there fails no request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway::env::Environment;
use gateway::observability::{PhoenixExporter, Telemetry, TraceSettings};
use gateway_tests::collector::{dead_url, Collector};
use gateway_tests::fake_bedrock::FakeBedrock;
use gateway_tests::harness::{config_yaml, TestGateway};
use serde_json::json;

async fn traced_to(url: &str) -> TestGateway {
    let env = Environment::from_pairs([
        ("PHOENIX_COLLECTOR_ENDPOINT", url),
        ("PHOENIX_EXPORT_TIMEOUT_MS", "2000"),
    ]);
    let settings = TraceSettings::from_env(&env).unwrap();
    let t = Telemetry {
        phoenix: Some(Arc::new(PhoenixExporter::new(settings).unwrap())),
        metrics: None,
    };
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = config_yaml(&fake.endpoint());
    TestGateway::customized(fake, &yaml, move |b| b.telemetry(t)).await
}

fn ask(stream: bool) -> serde_json::Value {
    json!({"model": "claude-3-sonnet", "stream": stream,
           "messages": [{"role": "user", "content": "hello"}]})
}

#[tokio::test]
async fn a_collector_that_answers_in_300_ms_does_not_move_response_latency() {
    let collector = Collector::start(Duration::from_millis(300)).await;
    let gw = traced_to(&collector.url()).await;
    for i in 0..6 {
        let started = Instant::now();
        let res = gw.chat(ask(i % 2 == 1)).await;
        let took = started.elapsed();
        assert_eq!(res.status, 200, "{}", res.text());
        // The fake answers in a few ms; an export in the path would take 300 ms.
        assert!(
            took < Duration::from_millis(250),
            "request {i} took {took:?}"
        );
    }
    gw.gateway.after_response().flush().await;
    assert!(collector.exports() >= 1, "spans were exported");
    let stats = gw.gateway.after_response().stats();
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert_eq!(stats.written, 12, "6 usage records and 6 traces: {stats:?}");
    assert!(collector.text().contains("Fake answer to: hello"));
}

#[tokio::test]
async fn a_dead_collector_fails_no_request_and_loses_no_usage_record() {
    let gw = traced_to(&dead_url()).await;
    for stream in [false, true, false] {
        let res = gw.chat(ask(stream)).await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
    let records = gw.usage_records().await;
    assert_eq!(records.len(), 3);
    let stats = gw.gateway.after_response().stats();
    assert!(stats.failed >= 1, "the lost traces are counted: {stats:?}");
    assert_eq!(stats.written + stats.failed, 6, "{stats:?}");
}
