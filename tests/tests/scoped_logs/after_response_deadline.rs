//! Issue 18 part A: after-response work still pending when the invocation's deadline comes (a
//! usage record and a budget settlement queued, another pair being written to a DynamoDB that
//! does not answer) goes to the replayable fallback line, as does a settlement the store
//! refuses; `replay-usage` then writes the records and applies the settlements to the budget
//! once (moto, real SDK), and a second replay changes nothing.
//! In the `scoped_logs` test binary: it reads the fallback lines from captured log output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use gateway::after_response::{AfterResponse, Job, SettleJob};
use gateway::keys::limits::Scope;
use gateway::keys::{DynamoKeyStore, KeyStore, Limits, ReservationPlan, Settlement};
use gateway::observability::Telemetry;
use gateway::usage::{fallback, replay_lines, DynamoUsageStore, UsageRecord};
use gateway_tests::captured::Captured;
use gateway_tests::harness::{config_yaml, load_config};
use gateway_tests::moto::MotoServer;
use gateway_tests::usage_table::{get, must_get, number, store};

const RESERVED: f64 = 1.0;
const COST: f64 = 0.25;

fn record(id: &str) -> UsageRecord {
    UsageRecord {
        request_id: id.to_owned(),
        started_at_ms: 1_796_182_607_000,
        caller: "api",
        key_id: "deadline-key".to_owned(),
        model: "claude-3-sonnet".to_owned(),
        prompt_tokens: 10,
        completion_tokens: 15,
        total_tokens: 25,
        cost_usd: Some(COST),
        ..UsageRecord::default()
    }
}

/// A DynamoDB endpoint that accepts connections and never answers.
async fn stalled_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "current_thread")]
async fn work_pending_at_the_deadline_is_replayed_once_from_the_fallback_line() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let moto = MotoServer::spawn();
    let config = load_config(&config_yaml("http://127.0.0.1:9"));
    let (usage, client) = store(&moto, &config).await;
    let table = usage.table().to_owned();
    // Per-request reservations (no leases): each one a `RES#` item the replay must settle once.
    let keys = DynamoKeyStore::with_leases(client.clone(), &table, None);
    let scope = Scope::Key("deadline-key".into());
    let limits = Limits::new(Some(10.0), None, 0, None, None);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let settlement = |id: &str| Settlement {
        plan: ReservationPlan::new(
            id,
            now,
            RESERVED,
            100,
            Duration::from_secs(900),
            &[(scope.clone(), &limits)],
        )
        .unwrap(),
        cost: COST,
        tokens: 25,
    };
    let ids = ["queued", "writing", "refused"];
    for id in ids {
        keys.reserve(&settlement(id).plan).await.unwrap();
    }
    let budget = || async {
        let item = must_get(&client, &table, &scope.partition_key(), "BUDGET#all").await;
        (
            number(&item, "used"),
            item.get("spend").map_or(0.0, |_| number(&item, "spend")),
        )
    };
    assert_eq!(budget().await, (3.0 * RESERVED, 0.0));

    let stalled = client
        .config()
        .to_builder()
        .endpoint_url(stalled_endpoint().await)
        .build();
    let stalled = aws_sdk_dynamodb::Client::from_conf(stalled);
    let stalled_usage = Arc::new(DynamoUsageStore::new(&stalled, &table, &config.usage));
    let stalled_keys: Arc<dyn KeyStore> =
        Arc::new(DynamoKeyStore::with_leases(stalled, &table, None));
    let queue = AfterResponse::start_with_telemetry(16, stalled_usage, Telemetry::off());
    let submit = |id: &str| {
        queue.submit(Job::Usage(Box::new(record(id))));
        queue.submit(Job::Settle(Box::new(SettleJob {
            store: Arc::clone(&stalled_keys),
            settlement: settlement(id),
        })));
    };
    // Being written (the drain task has taken them) when the deadline comes...
    submit("writing");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ...and still queued.
    submit("queued");
    let in_time = queue
        .flush_until(tokio::time::Instant::now() + Duration::from_millis(50))
        .await;
    assert!(
        !in_time,
        "nothing can be written to a store that does not answer"
    );
    assert_eq!(queue.stats().spilled, 4, "{:?}", queue.stats());

    // A settlement the store refuses (nothing listens there) goes to the same line.
    let refusing = client
        .config()
        .to_builder()
        .endpoint_url("http://127.0.0.1:9")
        .build();
    let refusing: Arc<dyn KeyStore> = Arc::new(DynamoKeyStore::with_leases(
        aws_sdk_dynamodb::Client::from_conf(refusing),
        &table,
        None,
    ));
    queue.submit(Job::Settle(Box::new(SettleJob {
        store: refusing,
        settlement: settlement("refused"),
    })));
    let settled = tokio::time::timeout(Duration::from_secs(30), async {
        while queue.stats().failed == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    settled.await.expect("the refused settlement fails");

    let captured = logs.text();
    assert_eq!(captured.matches(fallback::MARKER).count(), 2, "{captured}");
    assert_eq!(
        captured.matches(fallback::SETTLEMENT_MARKER).count(),
        3,
        "{captured}"
    );
    assert_eq!(budget().await, (3.0 * RESERVED, 0.0), "nothing settled yet");

    let summary = replay_lines(&usage, captured.as_bytes()).await.unwrap();
    assert_eq!(
        (
            summary.written,
            summary.settled,
            summary.failed,
            summary.refused
        ),
        (2, 3, 0, 0),
        "{summary:?}"
    );
    for id in ["queued", "writing"] {
        let item = must_get(&client, &table, &format!("REQ#{id}"), "REQ").await;
        assert!((number(&item, "cost_usd") - COST).abs() < 1e-9);
    }
    let settled = (3.0 * COST, 3.0 * COST);
    let (used, spend) = budget().await;
    assert!(
        (used - settled.0).abs() < 1e-9 && (spend - settled.1).abs() < 1e-9,
        "each reservation replaced by its cost: used {used}, spend {spend}"
    );
    for id in ids {
        let reservation = get(
            &client,
            &table,
            &scope.partition_key(),
            &format!("RES#{id}"),
        )
        .await;
        assert!(reservation.is_none(), "{id}'s reservation is settled");
    }

    // Replayed again (or a write that landed after all): nothing counts twice.
    let again = replay_lines(&usage, captured.as_bytes()).await.unwrap();
    assert_eq!(
        (
            again.written,
            again.duplicates,
            again.settled,
            again.settlement_duplicates
        ),
        (0, 2, 0, 3),
        "{again:?}"
    );
    let (used, spend) = budget().await;
    assert!((used - settled.0).abs() < 1e-9 && (spend - settled.1).abs() < 1e-9);
}
