//! Bounded by construction (issue 17, item 3): caller strings that reach records, logs and
//! traces have caps; over a cap is a 400 naming the field before any model call, whole and
//! streamed; at the caps the record still fits DynamoDB's item and CloudWatch's event.
#![allow(clippy::unwrap_used)]

use gateway::chat::caps::{
    MAX_METADATA_VALUE_CHARS, MAX_SESSION_ID_CHARS, MAX_TAGS, MAX_TAG_CHARS, MAX_USER_CHARS,
};
use gateway_tests::harness::TestGateway;
use serde_json::{json, Value};

fn ask(stream: bool, extra: Value) -> Value {
    let mut body = json!({"model": "claude-3-sonnet", "stream": stream,
                          "messages": [{"role": "user", "content": "hi"}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[tokio::test]
async fn a_megabyte_user_field_or_metadata_is_a_400_naming_the_field_before_any_model_call() {
    let gw = TestGateway::start().await;
    let mega = "u".repeat(1 << 20);
    for stream in [false, true] {
        for (extra, param) in [
            (json!({"user": mega}), "user"),
            (json!({"user": "u".repeat(MAX_USER_CHARS + 1)}), "user"),
            (
                json!({"metadata": {"session_id": "s".repeat(MAX_SESSION_ID_CHARS + 1)}}),
                "metadata.session_id",
            ),
            (
                json!({"metadata": {"tags": vec!["t"; MAX_TAGS + 1]}}),
                "metadata.tags",
            ),
            (
                json!({"metadata": {"tags": ["a", "t".repeat(MAX_TAG_CHARS + 1)]}}),
                "metadata.tags[1]",
            ),
            (
                json!({"metadata": {"note": "n".repeat(MAX_METADATA_VALUE_CHARS + 1)}}),
                "metadata.note",
            ),
            (json!({"metadata": {"blob": [mega]}}), "metadata"),
        ] {
            let res = gw.chat(ask(stream, extra)).await;
            let error = res.assert_error(400, "invalid_request_error");
            assert_eq!(error["error"]["param"], param, "stream {stream}: {error}");
        }
    }
    assert_eq!(gw.fake.total_calls(), 0);
}

#[tokio::test]
async fn caller_fields_at_their_caps_give_a_record_that_fits_dynamodb_and_cloudwatch() {
    let gw = TestGateway::start().await;
    // Control characters are the worst case: each escapes to 6 bytes of JSON.
    let at = |n: usize| "\u{1}".repeat(n);
    for stream in [false, true] {
        let extra = json!({
            "user": at(MAX_USER_CHARS),
            "metadata": {"session_id": at(MAX_SESSION_ID_CHARS),
                         "tags": vec![at(MAX_TAG_CHARS); MAX_TAGS]},
        });
        let res = gw.chat(ask(stream, extra)).await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
    let records = gw.usage_records().await;
    assert_eq!(records.len(), 2);
    for record in &records {
        assert_eq!(record.user.as_deref(), Some(at(MAX_USER_CHARS).as_str()));
        let json = serde_json::to_string(record).unwrap();
        let line = json!({"level": "ERROR", "target": "usage_fallback",
            "fields": {"message": format!("{} {json}", gateway::usage::fallback::MARKER)}})
        .to_string();
        assert!(json.len() < 400 * 1024 && line.len() < 256 * 1024 - 26);
    }
}
