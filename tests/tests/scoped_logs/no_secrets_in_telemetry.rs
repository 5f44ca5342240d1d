//! No key ever leaves in telemetry: requests with the master key and virtual keys (whole,
//! streamed, refused, unknown), then every captured log line (TRACE level), every exported span
//! body and every EMF metrics line is scanned for the keys.
//! In the `scoped_logs` test binary: it installs a scoped log subscriber (see request_logs.rs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use gateway::env::Environment;
use gateway::keys::{MemoryKeyStore, VirtualKey};
use gateway::observability::{
    EmfMetrics, MetricsSettings, PhoenixExporter, Telemetry, TraceSettings,
};
use gateway_tests::captured::Captured;
use gateway_tests::collector::Collector;
use gateway_tests::fake_bedrock::FakeBedrock;
use gateway_tests::harness::{config_yaml, TestGateway, MASTER_KEY};
use http::Request;
use serde_json::json;

const TEAM_KEY: &str = "sk-team-support-7f3a9c";
const USER_KEY: &str = "sk-user-alice-2b8e41";
const UNKNOWN_KEY: &str = "sk-not-a-key-d00d";

fn request(key: &str, header: &str, body: serde_json::Value) -> Request<Body> {
    let value = if header == "authorization" {
        format!("Bearer {key}")
    } else {
        key.to_owned()
    };
    Request::post("/v1/chat/completions")
        .header(header, value)
        .header("content-type", "application/json")
        .header("x-session-id", "scan-session")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn no_key_reaches_logs_spans_or_metrics() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let collector = Collector::start(Duration::ZERO).await;
    let env = Environment::from_pairs([("PHOENIX_COLLECTOR_ENDPOINT", collector.url())]);
    let metrics_out = Captured::default();
    let telemetry = Telemetry {
        phoenix: Some(Arc::new(
            PhoenixExporter::new(TraceSettings::from_env(&env).unwrap()).unwrap(),
        )),
        metrics: Some(Arc::new(EmfMetrics::to_writer(
            MetricsSettings {
                namespace: "Scan".into(),
            },
            Box::new(metrics_out.clone()),
        ))),
    };
    let store = Arc::new(MemoryKeyStore::new());
    store.insert(
        TEAM_KEY,
        VirtualKey {
            alias: Some("support-bot".into()),
            team: Some("support".into()),
            models: vec!["claude-3-haiku".into()],
            ..VirtualKey::default()
        },
    );
    store.insert(
        USER_KEY,
        VirtualKey {
            user: Some("alice".into()),
            ..VirtualKey::default()
        },
    );
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = config_yaml(&fake.endpoint());
    let gw = TestGateway::customized(fake, &yaml, move |b| {
        b.key_store(store).telemetry(telemetry)
    })
    .await;

    let ask = |model: &str, stream: bool| json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
    let cases = [
        (
            MASTER_KEY,
            "authorization",
            ask("claude-3-sonnet", false),
            200,
        ),
        (
            MASTER_KEY,
            "authorization",
            ask("claude-3-sonnet", true),
            200,
        ),
        (TEAM_KEY, "authorization", ask("claude-3-haiku", false), 200),
        (TEAM_KEY, "x-api-key", ask("claude-3-haiku", true), 200),
        (
            TEAM_KEY,
            "authorization",
            ask("claude-3-sonnet", false),
            403,
        ),
        (
            USER_KEY,
            "authorization",
            ask("claude-3-sonnet", false),
            200,
        ),
        (
            USER_KEY,
            "authorization",
            json!({"model": "claude-3-sonnet"}),
            400,
        ),
        (
            UNKNOWN_KEY,
            "authorization",
            ask("claude-3-sonnet", false),
            401,
        ),
    ];
    for (key, header, body, status) in cases {
        let res = gw.send(request(key, header, body)).await;
        assert_eq!(res.status.as_u16(), status, "{}", res.text());
    }
    gw.gateway.after_response().flush().await;

    let spans = collector.text();
    let log_text = logs.text();
    let metric_lines = metrics_out.text();
    // What was captured is real: spans, logs and metrics of these requests.
    assert!(spans.contains("scan-session") && spans.contains("support-bot"));
    assert!(
        log_text.contains("request{request_id=chatcmpl-"),
        "{log_text}"
    );
    assert_eq!(metric_lines.lines().count(), 7, "{metric_lines}");
    for key in [MASTER_KEY, TEAM_KEY, USER_KEY, UNKNOWN_KEY] {
        assert!(!spans.contains(key), "{key} in an exported span");
        assert!(!log_text.contains(key), "{key} in the logs");
        assert!(!metric_lines.contains(key), "{key} in a metrics line");
    }
}
