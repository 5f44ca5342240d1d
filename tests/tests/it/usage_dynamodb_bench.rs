//! The cost of the DynamoDB usage store, measured in-process (ignored by default; run with
//! `cargo test -p gateway-tests --test usage_dynamodb_bench -- --ignored --nocapture`):
//! the same gateway with the log sink and with the DynamoDB store on a private moto_server, in
//! alternating rounds: response latency at c=1 (p50/p99), throughput at c=16, and how fast the
//! after-response queue writes the records to the table. Figures: BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use gateway::usage::{LogUsageSink, UsageSink};
use gateway_tests::fake_bedrock::FakeBedrock;
use gateway_tests::harness::{config_yaml, load_config, TestGateway};
use gateway_tests::moto::MotoServer;
use gateway_tests::usage_table::{store, with_prefix};
use serde_json::json;

const SEQUENTIAL: usize = 60;
const BURST: usize = 120;
const CONCURRENCY: usize = 16;
const ROUNDS: usize = 2;

fn ask() -> serde_json::Value {
    json!({"model":"claude-3-sonnet","messages":[{"role":"user","content":"hello"}]})
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at].as_secs_f64() * 1000.0
}

struct Round {
    /// Queue still busy after the last sequential answer.
    tail_ms: f64,
    p50: f64,
    p99: f64,
    rps: f64,
    drain_ms: f64,
}

async fn round(gw: &TestGateway) -> Round {
    let mut times = Vec::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        let started = Instant::now();
        let res = gw.chat(ask()).await;
        times.push(started.elapsed());
        assert_eq!(res.status, 200);
    }
    let flushing = Instant::now();
    gw.gateway.after_response().flush().await;
    let sequential_tail = flushing.elapsed();
    times.sort();
    let started = Instant::now();
    let mut pending = FuturesUnordered::new();
    let mut sent = 0;
    while sent < BURST || !pending.is_empty() {
        while sent < BURST && pending.len() < CONCURRENCY {
            pending.push(gw.chat(ask()));
            sent += 1;
        }
        let res = pending.next().await.unwrap();
        assert_eq!(res.status, 200);
    }
    let answered = started.elapsed();
    gw.gateway.after_response().flush().await;
    let drained = started.elapsed();
    Round {
        tail_ms: sequential_tail.as_secs_f64() * 1000.0,
        p50: percentile(&times, 0.5),
        p99: percentile(&times, 0.99),
        rps: BURST as f64 / answered.as_secs_f64(),
        drain_ms: (drained - answered).as_secs_f64() * 1000.0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run with --ignored --nocapture"]
async fn dynamodb_store_against_the_log_sink() {
    let moto = MotoServer::spawn();
    let fake = FakeBedrock::start().await.unwrap();
    let yaml = config_yaml(&fake.endpoint());
    let config = load_config(&yaml);
    let (dynamo, client) = store(&moto, &config).await;
    let table = dynamo.table().to_owned();
    let log: Arc<dyn UsageSink> = Arc::new(LogUsageSink);
    let with_log = TestGateway::customized(fake, &yaml, move |b| b.usage_sink(log)).await;
    let fake2 = FakeBedrock::start().await.unwrap();
    let yaml2 = config_yaml(&fake2.endpoint());
    let sink = Arc::clone(&dynamo);
    let with_dynamo = TestGateway::customized(fake2, &yaml2, move |b| b.usage_sink(sink)).await;
    // Warm both (connections, first-use costs).
    round(&with_log).await;
    round(&with_dynamo).await;

    let mut rows: Vec<(&str, Round)> = Vec::new();
    for _ in 0..ROUNDS {
        rows.push(("log", round(&with_log).await));
        rows.push(("dynamodb", round(&with_dynamo).await));
    }
    println!(
        "variant   p50 ms  p99 ms  seq tail ms  req/s c={CONCURRENCY}  drain after burst of {BURST} (ms)"
    );
    for (name, r) in &rows {
        println!(
            "{name:<9} {:>6.3}  {:>6.3}  {:>11.1}  {:>10.0}  {:>8.0}",
            r.p50, r.p99, r.tail_ms, r.rps, r.drain_ms
        );
    }
    let median = |name: &str, f: fn(&Round) -> f64| {
        let mut v: Vec<f64> = rows
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, r)| f(r))
            .collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for (label, f) in [
        ("p50", (|r: &Round| r.p50) as fn(&Round) -> f64),
        ("p99", |r: &Round| r.p99),
        ("req/s", |r: &Round| r.rps),
    ] {
        let (l, d) = (median("log", f), median("dynamodb", f));
        println!(
            "median {label}: log {l:.3}, dynamodb {d:.3}, ratio dynamodb/log {:.2}",
            d / l
        );
    }
    let stats = with_dynamo.gateway.after_response().stats();
    println!("dynamodb queue: {stats:?}");
    let written = with_prefix(&client, &table, "REQ#").await.len();
    println!("record items in the table: {written}");
    assert_eq!(stats.failed + stats.dropped, 0, "{stats:?}");
    assert_eq!(
        written,
        (ROUNDS + 1) * (SEQUENTIAL + BURST),
        "every record is in the table"
    );
}
