//! Routing against the fake Bedrock: retries, fallbacks, cooldowns and strategies, asserting
//! how often each deployment was called, what the client got and what was recorded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use axum::body::Body;
use gateway::usage::Outcome;
use gateway_tests::fake_bedrock::{FakeBedrock, Fault};
use gateway_tests::harness::{TestGateway, MASTER_KEY};
use http::Request;
use serde_json::{json, Value};

const CHEAP: &str = "us.anthropic.claude-3-haiku-20240307-v1:0";
const DEAR: &str = "anthropic.claude-3-sonnet-20240229-v1:0";
const OTHER: &str = "amazon.titan-text-express-v1";

/// One deployment entry of `model_list`.
fn deployment(group: &str, model_id: &str, endpoint: &str, extra: &str) -> String {
    format!(
        "  - model_name: {group}\n    litellm_params:\n      model: bedrock/{model_id}\n      \
         aws_region_name: us-east-1\n      aws_bedrock_runtime_endpoint: {endpoint}\n      \
         aws_access_key_id: k\n      aws_secret_access_key: s\n{extra}"
    )
}

/// `main` with the given deployments (two by default) and `backup` with one, plus settings.
async fn gateway(main: &[(&str, &str)], settings: &str) -> TestGateway {
    let fake = FakeBedrock::start().await.unwrap();
    let e = fake.endpoint();
    let mut yaml = String::from("model_list:\n");
    for (model_id, extra) in main {
        yaml.push_str(&deployment("main", model_id, &e, extra));
    }
    yaml.push_str(&deployment("backup", OTHER, &e, ""));
    yaml.push_str(&format!(
        "general_settings:\n  master_key: {MASTER_KEY}\n{settings}"
    ));
    TestGateway::with_yaml(fake, &yaml).await
}

fn ask(text: &str) -> Value {
    json!({"model":"main","messages":[{"role":"user","content":text}]})
}

fn header<'a>(res: &'a gateway_tests::harness::TestResponse, name: &str) -> &'a str {
    res.headers.get(name).map_or("", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn a_throttled_deployment_is_retried_then_the_group_falls_back() {
    let gw = gateway(
        &[(DEAR, "")],
        "router_settings:\n  num_retries: 1\n  fallbacks: [{main: [backup]}]\n",
    )
    .await;
    gw.fake.set_fault(DEAR, Fault::Throttle);
    let res = gw.chat(ask("hello")).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json()["choices"][0]["message"]["content"],
        "Fake answer to: hello"
    );
    assert_eq!(
        (gw.fake.calls(DEAR), gw.fake.calls(OTHER)),
        (2, 1),
        "tried twice, then backup"
    );
    assert_eq!(header(&res, "x-litellm-attempted-retries"), "1");
    assert_eq!(header(&res, "x-litellm-attempted-fallbacks"), "1");
    assert_eq!(header(&res, "x-litellm-model-id"), "backup-1");
    let r = &gw.usage_records().await[0];
    assert_eq!((r.attempts, r.retries), (3, 1));
    assert_eq!(r.fallbacks, ["backup"]);
    assert_eq!(r.provider_model.as_deref(), Some(OTHER));
    assert_eq!(r.model, "main", "billed under the group asked for");
}

#[tokio::test]
async fn without_fallbacks_or_with_them_disabled_the_failure_is_the_answer() {
    let gw = gateway(
        &[(DEAR, "")],
        "router_settings:\n  num_retries: 0\n  fallbacks: [{main: [backup]}]\n",
    )
    .await;
    gw.fake.set_fault(DEAR, Fault::Throttle);
    let mut body = ask("x");
    body["disable_fallbacks"] = json!(true);
    gw.chat(body).await.assert_error(429, "rate_limit_error");
    assert_eq!((gw.fake.calls(DEAR), gw.fake.calls(OTHER)), (1, 0));
    // A request's own `fallbacks` replace the configured ones.
    let gw = gateway(&[(DEAR, "")], "").await;
    gw.fake.set_fault(DEAR, Fault::Unavailable);
    let mut body = ask("x");
    body["fallbacks"] = json!(["backup"]);
    assert_eq!(gw.chat(body).await.status, 200);
    assert_eq!(gw.fake.calls(OTHER), 1);
}

#[tokio::test]
async fn a_failing_deployment_cools_down_and_comes_back() {
    let gw = gateway(
        &[(DEAR, ""), (CHEAP, "")],
        "router_settings:\n  num_retries: 1\n  cooldown_time: 0.5\n",
    )
    .await;
    gw.fake.set_fault(DEAR, Fault::Throttle);
    for _ in 0..12 {
        let res = gw.chat(ask("spread")).await;
        assert_eq!(
            res.status,
            200,
            "the other deployment answers: {}",
            res.text()
        );
    }
    assert!(
        gw.fake.calls(DEAR) <= 1,
        "cooled down after its first 429: {}",
        gw.fake.calls(DEAR)
    );
    assert_eq!(gw.fake.calls(CHEAP), 12);
    gw.fake.clear_faults();
    tokio::time::sleep(Duration::from_millis(600)).await;
    for _ in 0..30 {
        gw.chat(ask("again")).await;
    }
    assert!(
        gw.fake.calls(DEAR) >= 3,
        "back after its cooldown: {}",
        gw.fake.calls(DEAR)
    );
}

#[tokio::test]
async fn an_input_too_long_goes_to_the_context_window_fallback_only() {
    let settings =
        "router_settings:\n  num_retries: 2\n  context_window_fallbacks: [{main: [backup]}]\n";
    let gw = gateway(&[(DEAR, "")], settings).await;
    gw.fake.set_fault(
        DEAR,
        Fault::Validation("Input is too long for requested model.".into()),
    );
    let res = gw.chat(ask("long")).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        (gw.fake.calls(DEAR), gw.fake.calls(OTHER)),
        (1, 1),
        "not retried: the input's fault"
    );
    // Any other validation error is the request's: no retry, no fallback.
    gw.fake.reset();
    gw.fake
        .set_fault(DEAR, Fault::Validation("Malformed input request.".into()));
    let res = gw.chat(ask("bad")).await;
    assert_eq!(
        res.assert_error(400, "invalid_request_error")["error"]["code"],
        "upstream_rejected"
    );
    assert_eq!((gw.fake.calls(DEAR), gw.fake.calls(OTHER)), (1, 0));
    // With no context-window fallback, the client learns the input is too long.
    let gw = gateway(&[(DEAR, "")], "").await;
    gw.fake.set_fault(
        DEAR,
        Fault::Validation("Input is too long for requested model.".into()),
    );
    let res = gw.chat(ask("long")).await;
    assert_eq!(
        res.assert_error(400, "invalid_request_error")["error"]["code"],
        "context_length_exceeded"
    );
}

#[tokio::test]
async fn a_stream_fails_over_before_its_first_chunk_but_not_after() {
    let gw = gateway(
        &[(DEAR, "")],
        "router_settings:\n  fallbacks: [{main: [backup]}]\n",
    )
    .await;
    gw.fake.set_fault(DEAR, Fault::Throttle);
    let mut body = ask("stream me");
    body["stream"] = json!(true);
    let res = gw.chat(body.clone()).await;
    assert_eq!(res.status, 200);
    let text: String = res
        .sse_events()
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        text.trim_end(),
        "Fake answer to: stream me",
        "invisible fallback"
    );
    assert_eq!(header(&res, "x-litellm-attempted-fallbacks"), "1");
    assert_eq!(
        (gw.fake.stream_calls(DEAR), gw.fake.stream_calls(OTHER)),
        (1, 1)
    );

    gw.fake.reset();
    gw.fake
        .set_fault(DEAR, Fault::StreamCut { after_events: 3 });
    let res = gw.chat(body).await;
    let text = res.text();
    assert!(
        text.contains("\"error\"") && !text.contains("[DONE]"),
        "{text}"
    );
    assert_eq!(
        gw.fake.stream_calls(OTHER),
        0,
        "no fallback once chunks went out"
    );
    let records = gw.usage_records().await;
    let last = records.last().unwrap();
    assert_eq!(
        (last.outcome, last.error_type),
        (Outcome::Failure, Some("provider.stream_broken"))
    );
}

#[tokio::test]
async fn cost_based_routing_picks_the_cheapest_for_the_request_and_survives_its_failure() {
    // The seed's router settings, with prices per deployment.
    let priced = |i: f64, o: f64| {
        format!("      input_cost_per_token: {i}\n      output_cost_per_token: {o}\n")
    };
    let (cheap, dear) = (priced(0.00000025, 0.00000125), priced(0.000003, 0.000015));
    let gw = gateway(
        &[(DEAR, dear.as_str()), (CHEAP, cheap.as_str())],
        "router_settings:\n  routing_strategy: \"cost-based-routing\"\n  num_retries: 3\n",
    )
    .await;
    for _ in 0..10 {
        let res = gw.chat(ask("which one")).await;
        assert_eq!(header(&res, "x-litellm-model-id"), "main-1");
        let cost: f64 = header(&res, "x-litellm-response-cost").parse().unwrap();
        let usage = &res.json()["usage"];
        let expected = usage["prompt_tokens"].as_f64().unwrap() * 0.00000025
            + usage["completion_tokens"].as_f64().unwrap() * 0.00000125;
        assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");
    }
    assert_eq!((gw.fake.calls(CHEAP), gw.fake.calls(DEAR)), (10, 0));
    // The cheapest throttles: retried on the next cheapest, at once.
    gw.fake.set_fault(CHEAP, Fault::Throttle);
    let res = gw.chat(ask("again")).await;
    assert_eq!(res.status, 200);
    assert_eq!(header(&res, "x-litellm-model-id"), "main-0");
    assert_eq!((gw.fake.calls(CHEAP), gw.fake.calls(DEAR)), (11, 1));
}

#[tokio::test]
async fn weighted_shuffle_follows_the_weights() {
    let gw = gateway(
        &[(DEAR, "      weight: 1\n"), (CHEAP, "      weight: 4\n")],
        "",
    )
    .await;
    for _ in 0..100 {
        gw.chat(ask("w")).await;
    }
    let (dear, cheap) = (gw.fake.calls(DEAR), gw.fake.calls(CHEAP));
    assert_eq!(dear + cheap, 100);
    assert!(
        (60..=95).contains(&cheap),
        "about 80 of 100 to weight 4: {cheap}"
    );
}

#[tokio::test]
async fn request_headers_set_retries_and_timeouts() {
    let gw = gateway(
        &[(DEAR, "")],
        "router_settings:\n  num_retries: 3\n  retry_after: 0\n",
    )
    .await;
    gw.fake.set_fault(DEAR, Fault::Unavailable);
    let send = |headers: &[(&str, &str)]| {
        let mut builder = Request::post("/v1/chat/completions")
            .header("authorization", format!("Bearer {MASTER_KEY}"))
            .header("content-type", "application/json");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::from(ask("h").to_string())).unwrap()
    };
    let res = gw.send(send(&[("x-litellm-num-retries", "0")])).await;
    res.assert_error(503, "api_error");
    assert_eq!(gw.fake.calls(DEAR), 1, "no retry when the request says 0");
    gw.fake.set_fault(DEAR, Fault::Hang);
    let started = std::time::Instant::now();
    let res = tokio::time::timeout(
        Duration::from_secs(10),
        gw.send(send(&[("x-litellm-timeout", "0.3")])),
    )
    .await
    .unwrap();
    res.assert_error(504, "api_error");
    assert!(started.elapsed() < Duration::from_secs(5));
    let res = gw.send(send(&[("x-litellm-timeout", "soon")])).await;
    assert_eq!(
        res.assert_error(400, "invalid_request_error")["error"]["param"],
        "x-litellm-timeout"
    );
}

#[tokio::test]
async fn a_lex_turn_survives_a_throttled_deployment() {
    use gateway::lex::LexFulfillment;
    use gateway::usage::MemoryUsageSink;
    use gateway_tests::harness::{build_gateway, load_config, sample_event};
    use std::sync::Arc;

    let fake = FakeBedrock::start().await.unwrap();
    let e = fake.endpoint();
    let yaml = format!(
        "model_list:\n{}{}router_settings:\n  fallbacks: [{{main: [backup]}}]\nlex:\n  model: main\n",
        deployment("main", DEAR, &e, ""),
        deployment("backup", OTHER, &e, "")
    );
    let config = load_config(&yaml);
    let usage = Arc::new(MemoryUsageSink::default());
    let gateway = build_gateway(&config, Arc::clone(&usage), |b| b).await;
    let lex = LexFulfillment::new(Arc::clone(&gateway), &config).unwrap();
    fake.set_fault(DEAR, Fault::Throttle);
    let event = sample_event("lex-first-turn.json");
    let response = lex.handle_json(event, None).await;
    assert_eq!(
        response["sessionState"]["intent"]["state"], "Fulfilled",
        "{response}"
    );
    assert!(response["messages"][0]["content"]
        .as_str()
        .unwrap()
        .starts_with("Fake answer to:"));
    assert_eq!((fake.calls(DEAR), fake.calls(OTHER)), (1, 1));
    gateway.after_response().flush().await;
    assert_eq!(usage.records()[0].fallbacks, ["backup"]);
}

#[tokio::test]
async fn a_caller_cannot_ask_for_more_retries_than_the_router_allows() {
    let gw = gateway(
        &[(DEAR, "")],
        "router_settings:\n  num_retries: 1\n  retry_after: 0\n",
    )
    .await;
    gw.fake.set_fault(DEAR, Fault::Unavailable);
    let mut body = ask("h");
    body["num_retries"] = json!(50);
    for (name, value) in [
        ("x-litellm-num-retries", "50"),
        ("x-litellm-max-retries", "50"),
    ] {
        let before = gw.fake.calls(DEAR);
        let res = gw
            .send(
                Request::post("/v1/chat/completions")
                    .header("authorization", format!("Bearer {MASTER_KEY}"))
                    .header("content-type", "application/json")
                    .header(name, value)
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await;
        res.assert_error(503, "api_error");
        assert_eq!(
            gw.fake.calls(DEAR) - before,
            2,
            "{name}: one call and the router's one retry"
        );
    }
}

#[tokio::test]
async fn a_caller_with_a_tiny_timeout_cannot_cool_down_a_deployment() {
    // Two deployments, no retries: a deployment that cooled down would get no more calls.
    let gw = gateway(
        &[(DEAR, ""), (CHEAP, "")],
        "router_settings:\n  num_retries: 0\n  allowed_fails: 1\n  cooldown_time: 60\n",
    )
    .await;
    gw.fake
        .set_latency(Duration::from_millis(300), Duration::ZERO);
    // Ten requests that give the model 50 ms: each times out, by the caller's choice.
    for _ in 0..10 {
        let res = gw
            .send(
                Request::post("/v1/chat/completions")
                    .header("authorization", format!("Bearer {MASTER_KEY}"))
                    .header("content-type", "application/json")
                    .header("x-litellm-timeout", "0.05")
                    .body(Body::from(ask("h").to_string()))
                    .unwrap(),
            )
            .await;
        res.assert_error(504, "api_error");
    }
    gw.fake.set_latency(Duration::ZERO, Duration::ZERO);
    let (dear, cheap) = (gw.fake.calls(DEAR), gw.fake.calls(CHEAP));
    for _ in 0..40 {
        assert_eq!(gw.chat(ask("h")).await.status, 200);
    }
    assert!(
        gw.fake.calls(DEAR) > dear && gw.fake.calls(CHEAP) > cheap,
        "both deployments still serve: {} and {}",
        gw.fake.calls(DEAR) - dear,
        gw.fake.calls(CHEAP) - cheap
    );
}
