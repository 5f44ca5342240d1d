//! OpenInference traces in a real Arize Phoenix (`phoenix serve`), read back through its REST
//! API: a plain request, a stream, a fallback, a masked guardrail result, a Lex conversation,
//! the hide switches and a caller's `traceparent`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::body::Body;
use gateway::env::Environment;
use gateway::guardrails::{Guardrail, WordListGuardrail};
use gateway::observability::{PhoenixExporter, Telemetry, TraceSettings};
use gateway_tests::fake_bedrock::{FakeBedrock, Fault};
use gateway_tests::harness::{config_yaml, TestGateway, MASTER_KEY, SONNET};
use gateway_tests::phoenix::{attr, of_kind, phoenix_url, unique_project, wait_for_spans};
use http::Request;
use serde_json::{json, Value};

fn telemetry(project: &str, extra: &[(&str, &str)]) -> Telemetry {
    let mut pairs = vec![
        (
            "PHOENIX_COLLECTOR_ENDPOINT".to_owned(),
            phoenix_url().to_owned(),
        ),
        ("PHOENIX_PROJECT_NAME".to_owned(), project.to_owned()),
    ];
    pairs.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let settings = TraceSettings {
        // The projects a request may name (`telemetry.phoenix_projects` in a config).
        allowed_projects: vec!["own-*".to_owned()],
        ..TraceSettings::from_env(&Environment::from_pairs(pairs)).unwrap()
    };
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

fn text(v: Option<&Value>) -> String {
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
    // Phoenix files a trace under the project of its first spans: a fresh trace id each run.
    let trace_id = format!(
        "{:032x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let parent = format!("00-{trace_id}-b7ad6b7169203331-01");
    let res = gw
        .send(post(
            &body,
            &[("x-session-id", "sess-42"), ("traceparent", &parent)],
        ))
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let answer = res.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    gw.gateway.after_response().flush().await;
    let spans = wait_for_spans(&project, 2).await;
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let chain = of_kind(&spans, "CHAIN");
    let llm = of_kind(&spans, "LLM");
    assert_eq!((chain.len(), llm.len()), (1, 1));
    let (chain, llm) = (chain[0], llm[0]);
    // The caller's trace continues.
    assert_eq!(chain["context"]["trace_id"], trace_id.as_str());
    assert_eq!(chain["parent_id"], "b7ad6b7169203331");
    assert_eq!(llm["parent_id"], chain["context"]["span_id"]);
    assert_eq!(text(attr(llm, "llm.model_name")), SONNET);
    assert_eq!(text(attr(llm, "llm.provider")), "aws");
    assert_eq!(text(attr(llm, "llm.system")), "anthropic");
    let params: Value =
        serde_json::from_str(&text(attr(llm, "llm.invocation_parameters"))).unwrap();
    assert_eq!(params["max_tokens"], 50);
    assert_eq!(
        text(attr(llm, "llm.input_messages.0.message.role")),
        "system"
    );
    assert_eq!(
        text(attr(llm, "llm.input_messages.1.message.content")),
        "hello phoenix"
    );
    assert_eq!(
        text(attr(llm, "llm.output_messages.0.message.content")),
        answer
    );
    assert_eq!(text(attr(llm, "output.value")), answer);
    assert!(text(attr(llm, "input.value")).contains("hello phoenix"));
    let prompt = attr(llm, "llm.token_count.prompt")
        .and_then(Value::as_i64)
        .unwrap();
    let completion = attr(llm, "llm.token_count.completion")
        .and_then(Value::as_i64)
        .unwrap();
    assert!(prompt > 0 && completion > 0);
    assert!(attr(llm, "llm.cost.total").and_then(Value::as_f64).unwrap() > 0.0);
    assert_eq!(text(attr(llm, "session.id")), "sess-42");
    assert_eq!(text(attr(chain, "session.id")), "sess-42");
    assert_eq!(text(attr(llm, "user.id")), "alice");
    assert_eq!(attr(llm, "tag.tags"), Some(&json!(["blue", "eu"])));
    // Phoenix unfolds the `metadata` JSON into `metadata.*`.
    assert_eq!(text(attr(chain, "metadata.purpose")), "test");
    assert_eq!(text(attr(chain, "metadata.key_id")), "master");
    assert_eq!(text(attr(chain, "gateway.status")), "success");
    assert_eq!(chain["status_code"], "OK");
}

#[tokio::test]
async fn a_stream_is_traced_with_the_text_the_client_received() {
    let project = unique_project("stream");
    let gw = traced(&project).await;
    let body = json!({"model": "claude-3-haiku", "stream": true,
                      "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "tell me a story"}]});
    let res = gw.send(post(&body, &[])).await;
    assert_eq!(res.status, 200);
    let streamed: String = res
        .sse_events()
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(!streamed.is_empty());
    gw.gateway.after_response().flush().await;
    let spans = wait_for_spans(&project, 2).await;
    let llm = of_kind(&spans, "LLM");
    assert_eq!(llm.len(), 1, "{spans:#?}");
    assert_eq!(
        text(attr(llm[0], "llm.output_messages.0.message.content")),
        streamed
    );
    assert!(text(attr(llm[0], "llm.invocation_parameters")).contains("\"stream\":true"));
    assert!(
        attr(llm[0], "llm.token_count.completion")
            .and_then(Value::as_i64)
            .unwrap()
            > 0
    );
    let chain = of_kind(&spans, "CHAIN");
    assert_eq!(text(attr(chain[0], "gateway.streamed")), "true");
    assert!(attr(chain[0], "gateway.time_to_first_token_ms").is_some());
}

const MAIN: &str = "anthropic.claude-3-sonnet-20240229-v1:0";
const BACKUP: &str = "amazon.titan-text-express-v1";

#[tokio::test]
async fn a_fallback_shows_every_attempt_as_its_own_llm_span() {
    let project = unique_project("fallback");
    let fake = FakeBedrock::start().await.unwrap();
    let e = fake.endpoint();
    let dep = |group: &str, model: &str| {
        format!(
            "  - model_name: {group}\n    litellm_params:\n      model: bedrock/{model}\n      \
             aws_region_name: us-east-1\n      aws_bedrock_runtime_endpoint: {e}\n      \
             aws_access_key_id: k\n      aws_secret_access_key: s\n"
        )
    };
    let yaml = format!(
        "model_list:\n{}{}general_settings:\n  master_key: {MASTER_KEY}\n\
         router_settings:\n  num_retries: 1\n  fallbacks: [{{main: [backup]}}]\n",
        dep("main", MAIN),
        dep("backup", BACKUP)
    );
    fake.set_fault(MAIN, Fault::Throttle);
    let t = telemetry(&project, &[]);
    let gw = TestGateway::customized(fake, &yaml, move |b| b.telemetry(t)).await;
    let body = json!({"model": "main", "messages": [{"role": "user", "content": "hello"}]});
    for stream in [false, true] {
        let mut body = body.clone();
        body["stream"] = json!(stream);
        let res = gw.send(post(&body, &[])).await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
    gw.gateway.after_response().flush().await;
    // Per request: the chain, two throttled attempts on `main`, one answer from `backup`.
    let spans = wait_for_spans(&project, 8).await;
    assert_eq!(spans.len(), 8, "{spans:#?}");
    for chain in of_kind(&spans, "CHAIN") {
        let trace = &chain["context"]["trace_id"];
        let mut llm: Vec<&Value> = of_kind(&spans, "LLM")
            .into_iter()
            .filter(|s| &s["context"]["trace_id"] == trace)
            .collect();
        llm.sort_by_key(|s| s["start_time"].as_str().unwrap().to_owned());
        let models: Vec<String> = llm
            .iter()
            .map(|span| text(attr(span, "llm.model_name")))
            .collect();
        assert_eq!(models, [MAIN, MAIN, BACKUP]);
        let statuses: Vec<&str> = llm
            .iter()
            .map(|s| s["status_code"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["ERROR", "ERROR", "OK"]);
        assert!(
            text(attr(llm[0], "error.type")).starts_with("provider"),
            "{:#?}",
            llm[0]
        );
        assert!(attr(llm[0], "llm.output_messages.0.message.content").is_none());
        assert_eq!(text(attr(llm[2], "gateway.model_group")), "backup");
        assert_eq!(text(attr(chain, "gateway.fallbacks")), "backup");
        assert_eq!(text(attr(chain, "gateway.retries")), "1");
    }
}

fn words(name: &str, blocked: &[&str], masked: &[&str]) -> Arc<dyn Guardrail> {
    Arc::new(WordListGuardrail::new(name, blocked, masked))
}

#[tokio::test]
async fn masked_content_is_exported_masked_with_guardrail_spans() {
    let project = unique_project("guardrail");
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = config_yaml(&fake.endpoint());
    let t = telemetry(&project, &[]);
    let gw = TestGateway::customized(fake, &yaml, move |b| {
        b.telemetry(t)
            .input_guardrail(words("pii-in", &[], &["4111-1111"]))
            .output_guardrail(words("words-out", &[], &["answer"]))
    })
    .await;
    let body = json!({"model": "claude-3-sonnet",
                      "messages": [{"role": "user", "content": "my card is 4111-1111"}]});
    let res = gw.send(post(&body, &[])).await;
    assert_eq!(res.status, 200, "{}", res.text());
    gw.gateway.after_response().flush().await;
    let spans = wait_for_spans(&project, 4).await;
    let all = serde_json::to_string(&spans).unwrap();
    assert!(!all.contains("4111-1111"), "unmasked input reached Phoenix");
    let llm = of_kind(&spans, "LLM");
    assert_eq!(llm.len(), 1, "{spans:#?}");
    assert!(text(attr(llm[0], "llm.input_messages.0.message.content")).contains("{MASKED}"));
    assert!(text(attr(llm[0], "output.value")).contains("{MASKED}"));
    assert!(!text(attr(llm[0], "output.value")).contains("answer"));
    let mut guards: Vec<(String, String, String)> = of_kind(&spans, "GUARDRAIL")
        .iter()
        .map(|g| {
            (
                text(attr(g, "guardrail.name")),
                text(attr(g, "guardrail.mode")),
                text(attr(g, "guardrail.action")),
            )
        })
        .collect();
    guards.sort();
    assert_eq!(
        guards,
        [
            ("pii-in".into(), "pre_call".into(), "masked".into()),
            ("words-out".into(), "post_call".into(), "masked".into())
        ]
    );
}

#[tokio::test]
async fn a_lex_conversation_is_grouped_by_its_lex_session() {
    let project = unique_project("lex");
    let fake = FakeBedrock::start().await.unwrap();
    let config = gateway_tests::harness::load_config(&config_yaml(&fake.endpoint()));
    let usage = Arc::new(gateway::usage::MemoryUsageSink::default());
    let t = telemetry(&project, &[]);
    let gateway =
        gateway_tests::harness::build_gateway(&config, usage, move |b| b.telemetry(t)).await;
    let lex = gateway::lex::LexFulfillment::new(Arc::clone(&gateway), &config).unwrap();
    let first = gateway_tests::harness::sample_event("lex-first-turn.json");
    let session = first["sessionId"].as_str().unwrap().to_owned();
    let answered = lex.handle_json(first, None).await;
    let mut second = gateway_tests::harness::sample_event("lex-follow-up.json");
    second["sessionState"]["sessionAttributes"] =
        answered["sessionState"]["sessionAttributes"].clone();
    lex.handle_json(second, None).await;
    gateway.after_response().flush().await;
    let spans = wait_for_spans(&project, 4).await;
    let chains = of_kind(&spans, "CHAIN");
    assert_eq!(chains.len(), 2, "{spans:#?}");
    for span in &spans {
        assert_eq!(text(attr(span, "session.id")), session, "{span:#?}");
    }
    for chain in &chains {
        assert_eq!(chain["name"], "lex.fulfillment");
        assert_eq!(text(attr(chain, "gateway.route")), "lex");
    }
    // The follow-up's LLM span holds the earlier turn as input messages.
    let follow_up = of_kind(&spans, "LLM")
        .into_iter()
        .find(|span| {
            text(attr(span, "llm.input_messages.3.message.content")).contains("second one")
        })
        .unwrap_or_else(|| panic!("no follow-up span in {spans:#?}"));
    assert_eq!(
        text(attr(follow_up, "llm.input_messages.2.message.role")),
        "assistant"
    );
}

#[tokio::test]
async fn hide_switches_drop_inputs_and_outputs_and_a_bad_traceparent_starts_a_new_trace() {
    let project = unique_project("hidden");
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = config_yaml(&fake.endpoint());
    let t = telemetry(
        &project,
        &[
            ("OPENINFERENCE_HIDE_INPUTS", "true"),
            ("OPENINFERENCE_HIDE_OUTPUTS", "true"),
        ],
    );
    let gw = TestGateway::customized(fake, &yaml, move |b| b.telemetry(t)).await;
    let body = json!({"model": "claude-3-sonnet",
                      "messages": [{"role": "user", "content": "a private question"}]});
    let res = gw
        .send(post(&body, &[("traceparent", "00-zz-bad-01")]))
        .await;
    assert_eq!(res.status, 200);
    gw.gateway.after_response().flush().await;
    let spans = wait_for_spans(&project, 2).await;
    assert_eq!(spans.len(), 2);
    let all = serde_json::to_string(&spans).unwrap();
    assert!(
        !all.contains("private question") && !all.contains("Fake answer"),
        "{all}"
    );
    let llm = of_kind(&spans, "LLM")[0];
    assert!(attr(llm, "llm.token_count.total").is_some(), "counts stay");
    assert!(attr(llm, "input.value").is_none() && attr(llm, "output.value").is_none());
    let chain = of_kind(&spans, "CHAIN")[0];
    assert!(chain["parent_id"].is_null(), "{chain:#?}");
}

#[tokio::test]
async fn a_per_request_project_from_metadata_and_a_failed_request_with_error_status() {
    let default_project = unique_project("default");
    let own = unique_project("own");
    let gw = traced(&default_project).await;
    let body = json!({"model": "claude-3-sonnet", "metadata": {"project_name": own, "session_id": "meta-session"},
                      "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(gw.send(post(&body, &[])).await.status, 200);
    // A project the config does not list (`telemetry.phoenix_projects`): the default one.
    let unlisted = json!({"model": "claude-3-sonnet",
                          "metadata": {"project_name": unique_project("unlisted"),
                                       "session_id": "unlisted-session"},
                          "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(gw.send(post(&unlisted, &[])).await.status, 200);
    gw.fake
        .set_fault(SONNET, Fault::Validation("the model refuses".into()));
    let failing =
        json!({"model": "claude-3-sonnet", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(gw.send(post(&failing, &[])).await.status, 400);
    gw.gateway.after_response().flush().await;
    let mine = wait_for_spans(&own, 2).await;
    assert_eq!(mine.len(), 2);
    assert_eq!(text(attr(&mine[0], "session.id")), "meta-session");
    let failed = wait_for_spans(&default_project, 4).await;
    assert_eq!(failed.len(), 4, "{failed:#?}");
    let chains = of_kind(&failed, "CHAIN");
    assert!(chains
        .iter()
        .any(|c| text(attr(c, "session.id")) == "unlisted-session"));
    let chain = *chains.iter().find(|c| c["status_code"] == "ERROR").unwrap();
    assert_eq!(text(attr(chain, "gateway.status")), "failure");
    assert!(of_kind(&failed, "LLM")
        .iter()
        .any(|llm| llm["status_code"] == "ERROR"));
}

/// `/v1/embeddings` is traced like chat: a CHAIN root and, per model call, an OpenInference
/// EMBEDDING span with the model, the texts embedded (not the vectors), the tokens and the cost.
#[tokio::test]
async fn an_embeddings_request_is_a_chain_with_an_embedding_span() {
    use gateway_tests::harness::{embedding_models, TITAN_EMBED};
    let project = unique_project("embed");
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = config_yaml(&fake.endpoint()).replacen(
        "general_settings:",
        &format!("{}general_settings:", embedding_models(&fake.endpoint())),
        1,
    );
    let t = telemetry(&project, &[]);
    let gw = TestGateway::customized(fake, &yaml, move |b| b.telemetry(t)).await;
    let request = Request::post("/v1/embeddings")
        .header("authorization", format!("Bearer {MASTER_KEY}"))
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"model": "titan-embed", "input": ["first text", "second text"],
                   "user": "alice"})
            .to_string(),
        ))
        .unwrap();
    let res = gw.send(request).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(gw.fake.invoke_calls(TITAN_EMBED), 2);
    gw.gateway.after_response().flush().await;
    let spans = wait_for_spans(&project, 2).await;
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let chain = of_kind(&spans, "CHAIN");
    let embedding = of_kind(&spans, "EMBEDDING");
    assert_eq!((chain.len(), embedding.len()), (1, 1), "{spans:#?}");
    let (chain, embedding) = (chain[0], embedding[0]);
    assert_eq!(embedding["parent_id"], chain["context"]["span_id"]);
    assert_eq!(text(attr(embedding, "embedding.model_name")), TITAN_EMBED);
    assert_eq!(
        text(attr(embedding, "embedding.embeddings.0.embedding.text")),
        "first text"
    );
    assert_eq!(
        text(attr(embedding, "embedding.embeddings.1.embedding.text")),
        "second text"
    );
    assert!(attr(embedding, "llm.invocation_parameters").is_none());
    let prompt = attr(embedding, "llm.token_count.prompt")
        .and_then(Value::as_i64)
        .unwrap();
    assert_eq!(
        res.json()["usage"]["prompt_tokens"].as_i64().unwrap(),
        prompt
    );
    assert!(
        attr(embedding, "llm.cost.total")
            .and_then(Value::as_f64)
            .unwrap()
            > 0.0
    );
    assert_eq!(text(attr(embedding, "user.id")), "alice");
    assert_eq!(text(attr(chain, "gateway.status")), "success");
}
