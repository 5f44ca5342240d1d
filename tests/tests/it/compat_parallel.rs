//! `max_parallel_requests` on keys and teams (issue 23, item 6), enforced in each instance and
//! across instances through TTL'd slots in the DynamoDB table (moto): one request too many is a
//! 429 in OpenAI's shape and never reaches Bedrock; a stream holds its slot until its body
//! ends, so streaming cannot escape the limit; a slot comes back once the answer is done.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::body::Body;
use gateway_tests::harness::SONNET;
use gateway_tests::keys::{moto, scan_text, settings, Instance};
use http::Request;
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

fn stream_body() -> String {
    json!({"model": "claude-3-sonnet", "stream": true, "max_tokens": 4,
           "messages": [{"role": "user", "content": "hi"}]})
    .to_string()
}

/// Starts a stream with `key` and returns its response with the body not yet read.
async fn open_stream(gw: &Instance, key: &str) -> axum::response::Response {
    let request = Request::post("/v1/chat/completions")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Body::from(stream_body()))
        .unwrap();
    gw.gw.router.clone().oneshot(request).await.unwrap()
}

async fn finish(response: axum::response::Response) -> String {
    let bytes = tokio::time::timeout(Duration::from_secs(20), response.into_body().collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test]
async fn a_stream_holds_its_slot_across_instances_until_it_ends() {
    let table = moto().new_table("compat-parallel").await;
    let a = Instance::start(&table, "", settings(0.0, 900.0)).await;
    let b = Instance::start(&table, "", settings(0.0, 900.0)).await;
    let key = a.new_key(json!({"max_parallel_requests": 1})).await;
    // Slow events, so the stream is still running while the others ask.
    a.gw.fake
        .set_latency(Duration::ZERO, Duration::from_millis(300));

    let open = open_stream(&a, &key).await;
    assert_eq!(open.status(), 200);
    assert!(scan_text(moto(), &table).await.contains("PARALLEL#key#"));
    // The same instance, and another instance on the same table: both refused, no model call.
    for instance in [&a, &b] {
        let refused = instance.ask(&key).await;
        let body = refused.assert_error(429, "rate_limit_error");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("max_parallel_requests"),
            "{body}"
        );
    }
    let streamed_again = open_stream(&b, &key).await;
    assert_eq!(
        streamed_again.status(),
        429,
        "a second stream is refused too"
    );
    assert_eq!(b.gw.fake.total_calls(), 0);
    assert_eq!(a.gw.fake.stream_calls(SONNET), 1);

    let text = finish(open).await;
    assert!(text.contains("[DONE]"), "{text}");
    // The slot comes back (the shared one in the background right after the body ends).
    let mut answered = None;
    for _ in 0..50 {
        let response = b.ask(&key).await;
        if response.status == 200 {
            answered = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered.is_some(), "the slot was given back");
    assert_eq!(b.gw.fake.converse_calls(SONNET), 1);
    // Refusals were accounted like any refused request.
    let refused =
        a.gw.usage_records()
            .await
            .into_iter()
            .filter(|r| r.error_type == Some("rate_limited"))
            .count();
    assert!(refused >= 1, "refusals are recorded");
}

#[tokio::test]
async fn a_teams_limit_holds_across_its_keys_and_whole_answers_give_slots_back() {
    let table = moto().new_table("compat-parallel-team").await;
    let gw = Instance::start(&table, "", settings(0.0, 900.0)).await;
    assert_eq!(
        gw.admin(
            "/team/new",
            Some(json!({"team_id": "t", "max_parallel_requests": 1}))
        )
        .await
        .status,
        200
    );
    let first = gw.new_key(json!({"team_id": "t"})).await;
    let second = gw.new_key(json!({"team_id": "t"})).await;
    gw.gw
        .fake
        .set_latency(Duration::ZERO, Duration::from_millis(300));
    let open = open_stream(&gw, &first).await;
    assert_eq!(open.status(), 200);
    gw.ask(&second).await.assert_error(429, "rate_limit_error");
    finish(open).await;
    gw.gw.fake.set_latency(Duration::ZERO, Duration::ZERO);
    // Whole answers one after another: each gives its slot back before the next.
    for key in [&first, &second, &first] {
        let mut status = 0;
        for _ in 0..50 {
            status = gw.ask(key).await.status.as_u16();
            if status == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, 200);
    }
    // The key's own info shows the limit; the team's too.
    let info = gw.admin("/team/info?team_id=t", None).await.json();
    assert_eq!(info["team_info"]["max_parallel_requests"], 1);
}

/// Attack: a key limited to one request at a time opens a chat stream, then tries the other
/// model routes. `/v1/messages` (whole and streamed) and `/v1/embeddings` are refused while the
/// stream runs, and none of them reaches Bedrock.
#[tokio::test]
async fn the_other_routes_do_not_escape_the_limit() {
    let table = moto().new_table("compat-parallel-routes").await;
    let a = Instance::start(&table, "", settings(0.0, 900.0)).await;
    let key = a.new_key(json!({"max_parallel_requests": 1})).await;
    a.gw.fake
        .set_latency(Duration::ZERO, Duration::from_millis(300));
    let open = open_stream(&a, &key).await;
    assert_eq!(open.status(), 200);
    let routes = [
        (
            "/v1/messages",
            json!({"model": "claude-3-sonnet", "max_tokens": 4,
            "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "/v1/messages",
            json!({"model": "claude-3-sonnet", "max_tokens": 4, "stream": true,
            "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "/v1/embeddings",
            json!({"model": "claude-3-sonnet", "input": "hi"}),
        ),
    ];
    for (path, body) in routes {
        let request = Request::post(path)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = a.gw.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let text = finish(response).await;
        // The slot is checked before the model group is (a chat group here on embeddings).
        assert_eq!(status, 429, "{path}: {text}");
        assert!(text.contains("max_parallel_requests"), "{path}: {text}");
    }
    assert_eq!(a.gw.fake.stream_calls(SONNET), 1);
    assert_eq!(a.gw.fake.converse_calls(SONNET), 0);
    let text = finish(open).await;
    assert!(text.contains("[DONE]"), "{text}");
}
