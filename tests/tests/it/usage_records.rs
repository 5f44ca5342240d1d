//! One usage record per request, whole or streamed, success or failure, written after the
//! response: a sink that does not write until the test lets it cannot hold an answer back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use futures_util::future::BoxFuture;
use gateway::usage::{MemoryUsageSink, Outcome, UsageRecord, UsageSink, UsageSinkError};
use gateway_tests::fake_bedrock::{FakeBedrock, Fault};
use gateway_tests::harness::{config_yaml, TestGateway, MASTER_KEY, SONNET};
use http::Request;
use http_body_util::BodyExt;
use serde_json::json;
use tokio::sync::Semaphore;
use tower::ServiceExt;

fn ask(text: &str, stream: bool) -> serde_json::Value {
    json!({"model":"claude-3-sonnet","stream":stream,"stream_options":{"include_usage":true},
           "user":"alice","messages":[{"role":"user","content":text}]})
}

/// The test config with prices on the Sonnet deployment.
fn priced(endpoint: &str) -> String {
    config_yaml(endpoint).replace(
        "      aws_region_name: us-east-1\n",
        "      aws_region_name: us-east-1\n      input_cost_per_token: 0.000003\n      output_cost_per_token: 0.000015\n",
    )
}

#[tokio::test]
async fn whole_and_streamed_answers_leave_one_record_each() {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = priced(&fake.endpoint());
    let gw = TestGateway::with_yaml(fake, &yaml).await;
    let whole = gw.chat(ask("How are you", false)).await;
    assert_eq!(whole.status, 200, "{}", whole.text());
    let streamed = gw.chat(ask("And you", true)).await;
    assert_eq!(streamed.status, 200);
    let usage_chunk = streamed.sse_events().last().unwrap()["usage"].clone();

    let records = gw.usage_records().await;
    assert_eq!(records.len(), 2, "{records:#?}");
    let (w, s) = (&records[0], &records[1]);
    let body = whole.json();
    assert_eq!(w.request_id, body["id"]);
    assert_eq!(
        s.request_id,
        streamed.headers["x-request-id"].to_str().unwrap()
    );
    for r in [w, s] {
        assert_eq!((r.caller, r.key_id.as_str()), ("api", "master"));
        assert_eq!(r.user.as_deref(), Some("alice"));
        assert_eq!(r.model, "claude-3-sonnet");
        assert_eq!(r.deployment_id.as_deref(), Some("claude-3-sonnet-0"));
        assert_eq!(r.provider_model.as_deref(), Some(SONNET));
        assert_eq!(
            (r.outcome, r.error_type, r.attempts),
            (Outcome::Success, None, 1)
        );
        assert_eq!(r.finish_reason, Some("stop"));
        let cost =
            f64::from(r.prompt_tokens) * 0.000003 + f64::from(r.completion_tokens) * 0.000015;
        assert!((r.cost_usd.unwrap() - cost).abs() < 1e-12, "{r:?}");
    }
    assert_eq!(w.prompt_tokens, body["usage"]["prompt_tokens"]);
    assert_eq!(w.completion_tokens, body["usage"]["completion_tokens"]);
    assert_eq!((w.streamed, w.time_to_first_token_ms), (false, None));
    assert!(s.streamed && s.time_to_first_token_ms.is_some());
    assert_eq!(s.total_tokens, usage_chunk["total_tokens"]);
    assert_eq!(gw.gateway.after_response().stats().written, 2);
}

#[tokio::test]
async fn failures_are_recorded_with_what_happened() {
    let gw = TestGateway::start().await;
    let unknown = gw
        .chat(json!({"model":"gpt-4","messages":[{"role":"user","content":"x"}]}))
        .await;
    unknown.assert_error(404, "invalid_request_error");
    let invalid = gw
        .chat(json!({"model":"claude-3-sonnet","n":2,"messages":[{"role":"user","content":"x"}]}))
        .await;
    invalid.assert_error(400, "invalid_request_error");
    gw.fake.set_fault(SONNET, Fault::Throttle);
    let throttled = gw.chat(ask("x", false)).await;
    throttled.assert_error(429, "rate_limit_error");
    let throttled_stream = gw.chat(ask("x", true)).await;
    throttled_stream.assert_error(429, "rate_limit_error");
    // No key: nobody to bill, so no record.
    let anonymous = gw
        .send(
            Request::post("/v1/chat/completions")
                .header("content-type", "application/json")
                .body(Body::from(ask("x", false).to_string()))
                .unwrap(),
        )
        .await;
    anonymous.assert_error(401, "authentication_error");

    let records = gw.usage_records().await;
    let kinds: Vec<_> = records
        .iter()
        .map(|r| (r.model.as_str(), r.outcome, r.error_type, r.streamed))
        .collect();
    assert_eq!(
        kinds,
        vec![
            // A name the config does not know is recorded as `unknown`: callers cannot mint
            // metric dimensions or aggregate items (issue 17, item 3).
            ("unknown", Outcome::Failure, Some("model_not_found"), false),
            (
                "claude-3-sonnet",
                Outcome::Failure,
                Some("invalid_request"),
                false
            ),
            (
                "claude-3-sonnet",
                Outcome::Failure,
                Some("provider.throttled"),
                false
            ),
            (
                "claude-3-sonnet",
                Outcome::Failure,
                Some("provider.throttled"),
                true
            ),
        ]
    );
    assert_eq!(records[2].attempts, 1);
    // Error answers carry the request id too, so they can be found in the records.
    assert_eq!(
        records[0].request_id,
        unknown.headers["x-request-id"].to_str().unwrap()
    );
    assert_eq!(
        records[2].request_id,
        throttled.headers["x-request-id"].to_str().unwrap()
    );
    assert_eq!(
        records[2].deployment_id.as_deref(),
        Some("claude-3-sonnet-0")
    );
    let text = serde_json::to_string(&records).unwrap();
    assert!(!text.contains(MASTER_KEY), "no key in a record");
}

/// Holds every write until the test opens the gate.
struct GatedSink {
    gate: Semaphore,
    records: MemoryUsageSink,
}

impl UsageSink for GatedSink {
    fn write<'a>(&'a self, r: &'a UsageRecord) -> BoxFuture<'a, Result<(), UsageSinkError>> {
        Box::pin(async move {
            let _open = self.gate.acquire().await;
            self.records.write(r).await
        })
    }
}

#[tokio::test]
async fn a_sink_that_has_not_written_yet_never_holds_an_answer_back() {
    let fake = FakeBedrock::start().await.unwrap();
    let sink = Arc::new(GatedSink {
        gate: Semaphore::new(0),
        records: MemoryUsageSink::default(),
    });
    let yaml = config_yaml(&fake.endpoint());
    let gated = Arc::clone(&sink);
    let gw = TestGateway::customized(fake, &yaml, move |b| b.usage_sink(gated)).await;
    let answers = async {
        let whole = gw.chat(ask("first", false)).await;
        let streamed = gw.chat(ask("second", true)).await;
        (whole, streamed)
    };
    // Every write waits at the closed gate; were a write on the request path, no answer would
    // arrive and this would time out.
    let (whole, streamed) = tokio::time::timeout(Duration::from_secs(10), answers)
        .await
        .expect("answers arrive while the sink is blocked");
    assert_eq!(whole.status, 200);
    assert_eq!(streamed.sse_events().len(), 7, "{}", streamed.text());
    assert!(sink.records.records().is_empty(), "nothing written yet");
    assert_eq!(gw.gateway.after_response().stats().written, 0);

    sink.gate.add_permits(100);
    gw.gateway.after_response().flush().await;
    let records = sink.records.records();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.outcome == Outcome::Success));
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_is_recorded_as_such() {
    let gw = TestGateway::start().await;
    gw.fake
        .set_latency(Duration::ZERO, Duration::from_millis(50));
    let response = gw
        .router
        .clone()
        .oneshot(
            Request::post("/v1/chat/completions")
                .header("authorization", format!("Bearer {MASTER_KEY}"))
                .header("content-type", "application/json")
                .body(Body::from(
                    ask("one two three four five six", true).to_string(),
                ))
                .unwrap(),
        )
        .await
        .unwrap();
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.into_data().unwrap().starts_with(b"data: {"));
    drop(body);
    let records = gw.usage_records().await;
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].outcome, records[0].streamed),
        (Outcome::ClientClosed, true)
    );
}

#[tokio::test]
async fn a_client_that_leaves_before_a_whole_answer_is_recorded_too() {
    let gw = TestGateway::start().await;
    gw.fake.set_latency(Duration::from_secs(5), Duration::ZERO);
    let call = gw.router.clone().oneshot(
        Request::post("/v1/chat/completions")
            .header("authorization", format!("Bearer {MASTER_KEY}"))
            .header("content-type", "application/json")
            .body(Body::from(ask("slow one", false).to_string()))
            .unwrap(),
    );
    // The client gives up (its connection closes, and the server drops the request's future).
    assert!(tokio::time::timeout(Duration::from_millis(200), call)
        .await
        .is_err());
    let records = gw.usage_records().await;
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(
        (r.outcome, r.streamed, r.attempts),
        (Outcome::ClientClosed, false, 1)
    );
    assert_eq!(r.deployment_id.as_deref(), Some("claude-3-sonnet-0"));
}

#[tokio::test]
async fn a_body_that_is_not_json_is_recorded_without_a_model() {
    let gw = TestGateway::start().await;
    let res = gw
        .send(
            Request::post("/v1/chat/completions")
                .header("authorization", format!("Bearer {MASTER_KEY}"))
                .body(Body::from("{not json"))
                .unwrap(),
        )
        .await;
    res.assert_error(400, "invalid_request_error");
    let records = gw.usage_records().await;
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].model.as_str(), records[0].error_type),
        ("", Some("invalid_request"))
    );
    assert_eq!(gw.fake.total_calls(), 0);
}
