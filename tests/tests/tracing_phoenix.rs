//! OpenInference traces in a real Arize Phoenix (`phoenix serve`), read back through its REST
//! API: a plain request, a stream, a fallback, a masked guardrail result, a Lex conversation,
//! the hide switches and a caller's `traceparent`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::body::Body;
use gateway::env::Environment;
use gateway::guardrails::{Guardrail, WordListGuardrail};
use gateway::observability::{PhoenixExporter, Telemetry, TraceSettings};
use gateway_tests::fake_bedrock::{Fault, FakeBedrock};
use gateway_tests::harness::{config_yaml, TestGateway, MASTER_KEY, SONNET};
use gateway_tests::phoenix::{attr, of_kind, phoenix_url, unique_project, wait_for_spans};
use http::Request;
use serde_json::{json, Value};

fn telemetry(project: &str, extra: &[(&str, &str)]) -> Telemetry {
    let mut pairs = vec![
        ("PHOENIX_COLLECTOR_ENDPOINT".to_owned(), phoenix_url().to_owned()),
        ("PHOENIX_PROJECT_NAME".to_owned(), project.to_owned()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let settings = TraceSettings::from_env(&Environment::from_pairs(pairs)).unwrap();
    Telemetry {
        phoenix: Some(Arc::new(PhoenixExporter::new(settings).unwrap())),
        metrics: None,
    }
}

async fn traced(project: &str) -> TestGateway {
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = config_yaml(&fake.endpoint());
    let t = telemetry(project, &[]);
    TestGateway::customized(fake, &yaml, move |b| b.telemetry(t)).await
}

fn post(body: &Value, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::post("/v1/chat/completions")
        .header("authorization", format!("Bearer {MASTER_KEY}"))
        .header("content-type", "application/json");
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(Body::from(body.to_string())).unwrap()
}

fn s(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

#[tokio::test]
async fn a_plain_request_is_a_chain_with_one_llm_span_carrying_openinference_attributes() {
    let project = unique_project("plain");
    let gw = traced(&project).await;
    let body = json!({
        "model": "claude-3-sonnet",
        "user": "alice",
        "temperature": 0.2,
        "max_tokens": 50,
        "metadata": {"tags": ["blue", "eu"], "purpose": "test"},
        "messages": [{"role": "system", "content": "be brief"},
                     {"role": "user", "content": "hello phoenix"}]
    });
    let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let res = gw
        .send(post(&body, &[("x-session-id", "sess-42"), ("traceparent", parent)]))
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let answer = res.json()["choices"][0]["message"]["content"].as_str().unwrap().to_owned();
    gw.gateway.after_response().flush().await;
    let spans = wait_for_spans(&project, 2).await;
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let chain = of_kind(&spans, "CHAIN");
    let llm = of_kind(&spans, "LLM");
    assert_eq!((chain.len(), llm.len()), (1, 1));
    let (chain, llm) = (chain[0], llm[0]);
    // The caller's trace continues.
    assert_eq!(chain["context"]["trace_id"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(chain["parent_id"], "b7ad6b7169203331");
    assert_eq!(llm["parent_id"], chain["context"]["span_id"]);
    assert_eq!(s(attr(llm, "llm.model_name")), SONNET);
    assert_eq!(s(attr(llm, "llm.provider")), "aws");
    assert_eq!(s(attr(llm, "llm.system")), "anthropic");
    let params: Value = serde_json::from_str(&s(attr(llm, "llm.invocation_parameters"))).unwrap();
    assert_eq!(params["max_tokens"], 50);
    assert_eq!(s(attr(llm, "llm.input_messages.0.message.role")), "system");
    assert_eq!(s(attr(llm, "llm.input_messages.1.message.content")), "hello phoenix");
    assert_eq!(s(attr(llm, "llm.output_messages.0.message.content")), answer);
    assert_eq!(s(attr(llm, "output.value")), answer);
    assert!(s(attr(llm, "input.value")).contains("hello phoenix"));
    let prompt = attr(llm, "llm.token_count.prompt").and_then(Value::as_i64).unwrap();
    let completion = attr(llm, "llm.token_count.completion").and_then(Value::as_i64).unwrap();
    assert!(prompt > 0 && completion > 0);
    assert!(attr(llm, "llm.cost.total").and_then(Value::as_f64).unwrap() > 0.0);
    assert_eq!(s(attr(llm, "session.id")), "sess-42");
    assert_eq!(s(attr(chain, "session.id")), "sess-42");
    assert_eq!(s(attr(llm, "user.id")), "alice");
    assert_eq!(attr(llm, "tag.tags"), Some(&json!(["blue", "eu"])));
    // Phoenix unfolds the `metadata` JSON into `metadata.*`.
    assert_eq!(s(attr(chain, "metadata.purpose")), "test");
    assert_eq!(s(attr(chain, "metadata.key_id")), "master");
    assert_eq!(s(attr(chain, "gateway.status")), "success");
    assert_eq!(chain["status_code"], "OK");
}
