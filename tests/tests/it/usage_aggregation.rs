//! Usage aggregates built off the request path (moto, real SDK): a request writes its record as
//! one item and no aggregate; the stream consumer's code, fed the records as DynamoDB stream
//! events, builds aggregates equal to the sum of the records; a batch delivered twice (or a
//! record twice in one batch) counts once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_dynamodb::types::AttributeValue;
use gateway::usage::aggregator::{aggregate, records_from_stream_event, stream_event_for};
use gateway::usage::{
    day, month, report_from_records, Billed, DynamoUsageStore, GroupBy, Period, ReportQuery,
    SpendStore, UsageRecord, Written,
};
use gateway_tests::harness::{config_yaml, load_config};
use gateway_tests::moto::MotoServer;
use gateway_tests::usage_table::{scan_all, store, with_prefix};
use serde_json::Value;

/// 40 records over 3 keys, 2 teams (and none), 2 models, one failed and one unpriced.
fn records(now_ms: u64) -> Vec<UsageRecord> {
    (0..40u32)
        .map(|i| UsageRecord {
            request_id: format!("chatcmpl-agg-{i}"),
            started_at_ms: now_ms + u64::from(i),
            key_id: format!("key{}", i % 3),
            team: match i % 3 {
                0 => Some("search".into()),
                1 => Some("support".into()),
                _ => None,
            },
            model: if i % 2 == 0 { "sonnet" } else { "haiku" }.into(),
            prompt_tokens: 10 + i,
            completion_tokens: 2 * i,
            total_tokens: 10 + 3 * i,
            cost_usd: (i != 7).then_some(0.001 * f64::from(i + 1)),
            ..UsageRecord::default()
        })
        .collect()
}

fn json(record: &UsageRecord) -> serde_json::Map<String, Value> {
    match serde_json::to_value(record).unwrap() {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

fn is_record(item: &std::collections::HashMap<String, AttributeValue>) -> bool {
    item.get("sk") == Some(&AttributeValue::S("REQ".into()))
}

#[tokio::test]
async fn aggregates_from_stream_batches_equal_the_sum_of_the_records_and_replays_count_once() {
    let config = load_config(&config_yaml("http://127.0.0.1:9"));
    let (store, client) = store(MotoServer::shared(), &config).await;
    let store = std::sync::Arc::new((*store).clone().aggregated_by_stream());
    let table = store.table().to_owned();
    let now_ms = gateway::clock::WallClock::system().unix_ms();
    let records = records(now_ms);
    for record in &records {
        assert_eq!(store.write_json(&json(record)).await.unwrap(), Written::New);
    }
    // The request path wrote one item per record and no aggregate.
    let items = scan_all(&client, &table).await;
    assert_eq!(items.len(), records.len(), "{items:?}");
    assert!(items.iter().all(is_record));
    assert!(with_prefix(&client, &table, "AGG#").await.is_empty());

    // The stream delivers the inserts in batches of 16 (and sees other items: skipped).
    let mut stream_items: Vec<_> = items.clone();
    stream_items.push(
        [
            (
                "pk".to_owned(),
                AttributeValue::S("LIMIT#team#search".into()),
            ),
            ("sk".to_owned(), AttributeValue::S("RPM#1".into())),
        ]
        .into(),
    );
    let batches: Vec<Value> = stream_items.chunks(16).map(stream_event_for).collect();
    let mut aggregated = 0;
    for batch in &batches {
        let billed = records_from_stream_event(batch);
        aggregated += aggregate(&store, &billed).await.unwrap().aggregated;
    }
    assert_eq!(aggregated, records.len());
    // Delivered again (Lambda retries a batch that failed after a partial write): no change.
    let again = aggregate(&store, &records_from_stream_event(&batches[0]))
        .await
        .unwrap();
    assert_eq!((again.aggregated, again.duplicates), (0, 16));
    // Overlapping batches and a record twice in one batch.
    let mut twice = records_from_stream_event(&batches[1]);
    twice.extend(records_from_stream_event(&batches[2]));
    twice.push(twice[0].clone());
    let again = aggregate(&store, &twice).await.unwrap();
    assert_eq!(again.aggregated, 0);

    let billed: Vec<Billed> = records
        .iter()
        .map(|r| Billed::from_json(&json(r)).unwrap())
        .collect();
    let today = day(now_ms);
    for (period, group_by) in [
        (Period::Day, GroupBy::Team),
        (Period::Month, GroupBy::Team),
        (Period::Day, GroupBy::Key),
        (Period::Month, GroupBy::Key),
    ] {
        let query = ReportQuery {
            period,
            group_by,
            team: None,
            key_id: None,
            start_day: today.clone(),
            end_day: today.clone(),
        };
        let rows = store.report(&query).await.unwrap();
        let expected = report_from_records(&billed, &query);
        assert!(!expected.is_empty());
        assert_eq!(rows.len(), expected.len(), "{period:?} {group_by:?}");
        for (row, want) in rows.iter().zip(&expected) {
            let (mut row, mut want) = (
                serde_json::to_value(row).unwrap(),
                serde_json::to_value(want).unwrap(),
            );
            let (a, b) = (
                row["spend"].as_f64().unwrap(),
                want["spend"].as_f64().unwrap(),
            );
            assert!((a - b).abs() < 1e-9, "{row} vs {want}");
            row["spend"] = Value::Null;
            want["spend"] = Value::Null;
            assert_eq!(row, want);
        }
    }
    // The key totals too.
    let totals = with_prefix(&client, &table, "AGG#KEY#").await;
    let total_requests: f64 = totals
        .iter()
        .filter(|i| i.get("sk") == Some(&AttributeValue::S("TOTAL".into())))
        .map(|i| gateway_tests::usage_table::number(i, "requests"))
        .sum();
    assert_eq!(total_requests as usize, records.len());
    assert!(month(now_ms).len() == 7);
}

#[tokio::test]
async fn a_request_writes_one_item_and_the_aggregator_one_transaction_per_batch() {
    let config = load_config(&config_yaml("http://127.0.0.1:9"));
    let moto = MotoServer::shared();
    let table = moto.new_table("usage-wire").await;
    let (client, calls) = gateway_tests::keys::counted_client(moto).await;
    let streamed = DynamoUsageStore::new(&client, &table, &config.usage).aggregated_by_stream();
    let inline = DynamoUsageStore::new(&client, &table, &config.usage);
    let now_ms = gateway::clock::WallClock::system().unix_ms();
    let records = records(now_ms);
    // In Lambda (stream mode) the request path sends one PutItem, not a transaction.
    streamed.write_json(&json(&records[0])).await.unwrap();
    assert_eq!(calls.calls(), ["PutItem"]);
    // Locally (inline) the same aggregation follows in the same process.
    calls.clear();
    inline.write_json(&json(&records[1])).await.unwrap();
    assert_eq!(calls.calls(), ["PutItem", "TransactWriteItems"]);
    // The consumer: 16 records of one batch in one transaction.
    calls.clear();
    let batch: Vec<Billed> = records[2..18]
        .iter()
        .map(|r| Billed::from_json(&json(r)).unwrap())
        .collect();
    let summary = aggregate(&streamed, &batch).await.unwrap();
    assert_eq!((summary.aggregated, summary.transactions), (16, 1));
    assert_eq!(calls.calls(), ["TransactWriteItems"]);
}
