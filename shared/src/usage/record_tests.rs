//! A record with every caller-reachable string and list at an absurd size still fits
//! DynamoDB's item limit and CloudWatch Logs' event limit once bounded.

use super::*;
use crate::usage::fallback::MARKER;

/// DynamoDB's item limit (names and values).
const DYNAMODB_ITEM_LIMIT: usize = 400 * 1024;
/// CloudWatch Logs' event limit (26 bytes of it are overhead).
const CLOUDWATCH_EVENT_LIMIT: usize = 256 * 1024 - 26;
/// Room for what the store adds to the item (keys, TTL, `billed` figures) and the log line
/// adds around the message (timestamp, level, target, span fields, request id).
const MARGIN: usize = 8 * 1024;

fn maximal(fill: char) -> UsageRecord {
    // Far past every cap, small enough for a test's memory.
    let huge = fill.to_string().repeat(1 << 20);
    let long = fill.to_string().repeat(1 << 14);
    UsageRecord {
        request_id: huge.clone(),
        started_at_ms: u64::MAX,
        caller: "lex",
        key_id: huge.clone(),
        key_alias: Some(huge.clone()),
        team: Some(huge.clone()),
        user: Some(huge.clone()),
        session_id: Some(huge.clone()),
        model: huge.clone(),
        deployment_id: Some(huge.clone()),
        provider_model: Some(huge.clone()),
        streamed: true,
        prompt_tokens: u32::MAX,
        completion_tokens: u32::MAX,
        total_tokens: u32::MAX,
        cache_read_tokens: Some(u32::MAX),
        cache_write_tokens: Some(u32::MAX),
        reasoning_tokens: Some(u32::MAX),
        cost_usd: Some(f64::MAX),
        usage_estimated: true,
        latency_ms: u64::MAX,
        time_to_first_token_ms: Some(u64::MAX),
        finish_reason: Some("content_filter"),
        outcome: Outcome::ClientClosed,
        error_type: Some("provider.timeout.idle"),
        attempts: u32::MAX,
        retries: u32::MAX,
        fallbacks: vec![long.clone(); 1_000],
        guardrails: vec![long.clone(); 1_000],
        guardrail_entities: vec![long; 1_000],
        cache_hit: Some(true),
    }
}

#[test]
fn a_maximal_record_fits_a_dynamodb_item_and_a_cloudwatch_log_event() {
    // Control characters escape to 6 bytes in JSON (7 once escaped again inside a JSON log
    // line's message); quotes and backslashes double; 4-byte characters stay raw.
    for fill in ['\u{1}', '"', '\\', '😀', 'x'] {
        let record = maximal(fill).bounded();
        let json = serde_json::to_string(&record).unwrap();
        assert!(
            json.len() + MARGIN <= DYNAMODB_ITEM_LIMIT,
            "{fill:?}: record {} bytes",
            json.len()
        );
        let text_line =
            format!("2026-12-07T05:00:00.000000Z ERROR usage_fallback: {MARKER} {json}");
        let json_line = serde_json::json!({
            "timestamp": "2026-12-07T05:00:00.000000Z",
            "level": "ERROR",
            "fields": {"message": format!("{MARKER} {json}")},
            "target": "usage_fallback",
        })
        .to_string();
        for line in [text_line, json_line] {
            assert!(
                line.len() + MARGIN <= CLOUDWATCH_EVENT_LIMIT,
                "{fill:?}: log line {} bytes",
                line.len()
            );
        }
    }
}

#[test]
fn bounding_keeps_short_fields_and_marks_cut_ones() {
    let mut record = UsageRecord {
        user: Some("alice".into()),
        session_id: Some("é".repeat(MAX_FIELD_CHARS + 1)),
        fallbacks: vec!["b".into(); MAX_LIST_ITEMS + 3],
        ..UsageRecord::default()
    };
    record = record.bounded();
    assert_eq!(record.user.as_deref(), Some("alice"));
    let session = record.session_id.unwrap();
    assert_eq!(session.chars().count(), MAX_FIELD_CHARS);
    assert!(session.ends_with(TRUNCATED));
    assert_eq!(record.fallbacks.len(), MAX_LIST_ITEMS);
}
