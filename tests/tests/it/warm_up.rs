//! The cold-start warm-up against a server at the wire: one CountTokens call per client, an error
//! answer counts as a warmed connection, and a server that never answers cannot hold init up.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::Region;
use aws_sdk_bedrockruntime::Client;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use gateway::providers::bedrock::warm_up::warm_up;
use serde_json::{json, Value};

fn client(endpoint: &str) -> Client {
    let config = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

/// A Bedrock Runtime stand-in for `POST /model/{id}/count-tokens`: answers 200 for `ok-*` model
/// ids and Bedrock's AccessDeniedException otherwise; counts calls.
async fn count_tokens_server() -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route(
            "/model/{model_id}/count-tokens",
            post(
                |State(calls): State<Arc<AtomicUsize>>,
                 Path(model_id): Path<String>,
                 Json(body): Json<Value>| async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    assert!(body["input"]["converse"]["messages"].is_array(), "{body}");
                    if model_id.starts_with("ok-") {
                        (
                            StatusCode::OK,
                            [("x-amzn-requestid", "warm-up-test")],
                            Json(json!({"inputTokens": 1})),
                        )
                    } else {
                        (
                            StatusCode::FORBIDDEN,
                            [("x-amzn-errortype", "AccessDeniedException")],
                            Json(json!({"message": "not authorized"})),
                        )
                    }
                },
            ),
        )
        .with_state(Arc::clone(&calls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), calls)
}

#[tokio::test]
async fn one_call_per_client_and_an_error_answer_still_counts() {
    let (endpoint, calls) = count_tokens_server().await;
    let done = warm_up(
        vec![
            (client(&endpoint), "ok-model".to_owned()),
            (client(&endpoint), "denied-model".to_owned()),
        ],
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(done.calls, 2);
    assert_eq!(done.answered, 2);
}

#[tokio::test]
async fn a_server_that_never_answers_cannot_hold_init_up() {
    // Accepts connections and never writes a byte.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = Instant::now();
    let done = warm_up(
        vec![(client(&format!("http://{addr}")), "ok-model".to_owned())],
        Duration::from_millis(300),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(done.answered, 0);
}

#[tokio::test]
async fn nothing_listening_is_not_an_answer() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let done = warm_up(
        vec![(client(&format!("http://{addr}")), "ok-model".to_owned())],
        Duration::from_secs(3),
    )
    .await;
    assert_eq!((done.calls, done.answered), (1, 0));
}
