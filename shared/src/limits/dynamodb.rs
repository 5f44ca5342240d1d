//! Budgets and rate limits in DynamoDB: a request's whole reservation (budget amounts, open
//! `RES#` items, request and token counts, for its key and its team) is ONE `TransactWriteItems`
//! whose conditions admit it or refuse it as a whole; settling and releasing happen after the
//! response. The item layout and the release of crashed reservations are in [`super::plan`];
//! `SETTLED#<request id>` marks a settlement applied, so one replayed is applied once.

use std::time::Duration;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use futures_util::future::BoxFuture;

use super::plan::{
    reservation_sort_key, rpm_sort_key, tpm_sort_key, LimitKind, Refusal, ReserveError, Scope,
    ScopePlan,
};
use super::{LimitStore, ReservationPlan, Settlement};
use crate::keys::dynamodb::store_error;
use crate::keys::dynamodb_items::{float, n, number, s, text, Item};
use crate::keys::KeyStoreError;

/// Budgets and rate-limit counters in DynamoDB (the keys' table). Cheap to clone.
#[derive(Clone, Debug)]
pub struct DynamoLimitStore {
    client: Client,
    table: String,
}

impl DynamoLimitStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoLimitStore {
            client,
            table: table.into(),
        }
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn table(&self) -> &str {
        &self.table
    }
}

impl LimitStore for DynamoLimitStore {
    fn reserve<'a>(&'a self, plan: &'a ReservationPlan) -> BoxFuture<'a, Result<(), ReserveError>> {
        Box::pin(reserve(self, plan))
    }

    fn settle<'a>(
        &'a self,
        settlement: &'a Settlement,
    ) -> BoxFuture<'a, Result<(), KeyStoreError>> {
        Box::pin(settle(self, settlement))
    }

    fn spend<'a>(
        &'a self,
        scope: &'a Scope,
        period: &'a str,
    ) -> BoxFuture<'a, Result<f64, KeyStoreError>> {
        Box::pin(async move {
            let output = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", s(scope.partition_key()))
                .key("sk", s(period))
                .consistent_read(true)
                .send()
                .await
                .map_err(store_error)?;
            Ok(output
                .item
                .as_ref()
                .and_then(|i| float(i, "spend"))
                .unwrap_or(0.0))
        })
    }
}

/// Transactions retried after a conflict with a concurrent one on the same counter.
const CONFLICT_ATTEMPTS: u32 = 6;
/// A budget counter (and its reservations) outlives its period by this long, for reports.
const BUDGET_RETENTION_SECS: u64 = 35 * 86_400;
/// A rate-limit window outlives its minute by this long.
const WINDOW_RETENTION_SECS: u64 = 120;

/// What each item of the transaction is, to name the one a cancellation points at.
#[derive(Clone, Copy)]
enum Part {
    Limit(usize, LimitKind),
    Other,
}

async fn reserve(store: &DynamoLimitStore, plan: &ReservationPlan) -> Result<(), ReserveError> {
    // Without this, `attribute_not_exists(...)` below would admit the first request of a
    // period or minute whatever its cost, and one request under a zero limit.
    if let Some(refusal) = plan.refused_outright() {
        return Err(ReserveError::Refused(refusal));
    }
    let mut released = false;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (items, parts) = reservation_items(store, plan)?;
        let sent = store
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let err = match sent {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            err.as_service_error()
        else {
            return Err(store_error(err).into());
        };
        let codes: Vec<&str> = cancelled
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().unwrap_or("None"))
            .collect();
        let failed = codes
            .iter()
            .position(|code| *code == "ConditionalCheckFailed")
            .and_then(|i| parts.get(i).copied());
        match failed {
            Some(Part::Limit(index, LimitKind::Budget)) if !released => {
                released = true;
                let freed = match plan.scopes.get(index) {
                    Some(scope) => release_expired(store, scope, plan.now).await?,
                    None => 0,
                };
                if freed == 0 {
                    return Err(ReserveError::Refused(
                        plan.refusal(index, LimitKind::Budget),
                    ));
                }
            }
            Some(Part::Limit(index, kind)) => {
                return Err(ReserveError::Refused(plan.refusal(index, kind)))
            }
            Some(Part::Other) | None if codes.contains(&"TransactionConflict") => {
                if attempt >= CONFLICT_ATTEMPTS {
                    tracing::warn!(request_id = %plan.request_id, "limit counters stayed contended");
                    return Err(ReserveError::Refused(Refusal::RateLimited {
                        limit: "limit counters busy".to_owned(),
                        retry_after: Duration::from_secs(1),
                    }));
                }
                tokio::time::sleep(conflict_backoff(attempt)).await;
            }
            _ => {
                return Err(
                    KeyStoreError(format!("reservation cancelled: {}", codes.join(","))).into(),
                )
            }
        }
    }
}

/// 5 to 20 ms times the attempt, jittered so contending requests spread out.
fn conflict_backoff(attempt: u32) -> Duration {
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 16;
    Duration::from_millis((5 + jitter) * u64::from(attempt))
}

fn reservation_items(
    store: &DynamoLimitStore,
    plan: &ReservationPlan,
) -> Result<(Vec<TransactWriteItem>, Vec<Part>), KeyStoreError> {
    let mut items = Vec::new();
    let mut parts = Vec::new();
    let minute = plan.minute();
    let window_expiry = (minute + 1) * 60 + WINDOW_RETENTION_SECS;
    for (index, scope) in plan.scopes.iter().enumerate() {
        let pk = scope.scope.partition_key();
        if let Some(budget) = &scope.budget {
            let mut update = Update::builder()
                .table_name(&store.table)
                .key("pk", s(pk.clone()))
                .key("sk", s(budget.period.clone()))
                .condition_expression("attribute_not_exists(#used) OR #used <= :cap")
                .expression_attribute_names("#used", "used")
                .expression_attribute_values(":cost", n(plan.cost))
                .expression_attribute_values(":cap", n(budget.max - plan.cost));
            update = match budget.period_end {
                Some(end) => update
                    .update_expression(
                        "SET expires_at = if_not_exists(expires_at, :exp) ADD #used :cost",
                    )
                    .expression_attribute_values(":exp", n(end + BUDGET_RETENTION_SECS)),
                None => update.update_expression("ADD #used :cost"),
            };
            items.push(
                TransactWriteItem::builder()
                    .update(build(update.build())?)
                    .build(),
            );
            parts.push(Part::Limit(index, LimitKind::Budget));
            let mut reservation = Put::builder()
                .table_name(&store.table)
                .item("pk", s(pk.clone()))
                .item("sk", s(reservation_sort_key(&plan.request_id)))
                .item("amount", n(plan.cost))
                .item("period", s(budget.period.clone()))
                .item("release_after", n(plan.reservation_expires_at));
            if let Some(end) = budget.period_end {
                reservation = reservation.item("expires_at", n(end + BUDGET_RETENTION_SECS));
            }
            items.push(
                TransactWriteItem::builder()
                    .put(build(reservation.build())?)
                    .build(),
            );
            parts.push(Part::Other);
        }
        for (kind, limit, sk, amount) in [
            (LimitKind::Rpm, scope.rpm_limit, rpm_sort_key(minute), 1),
            (
                LimitKind::Tpm,
                scope.tpm_limit,
                tpm_sort_key(minute),
                plan.tokens,
            ),
        ] {
            let Some(limit) = limit else { continue };
            let update = Update::builder()
                .table_name(&store.table)
                .key("pk", s(pk.clone()))
                .key("sk", s(sk))
                .update_expression(
                    "SET expires_at = if_not_exists(expires_at, :exp) ADD #c :amount",
                )
                .condition_expression("attribute_not_exists(#c) OR #c < :limit")
                .expression_attribute_names("#c", "count")
                .expression_attribute_values(":exp", n(window_expiry))
                .expression_attribute_values(":amount", n(amount))
                .expression_attribute_values(":limit", n(limit));
            items.push(
                TransactWriteItem::builder()
                    .update(build(update.build())?)
                    .build(),
            );
            parts.push(Part::Limit(index, kind));
        }
    }
    Ok((items, parts))
}

fn build<T>(built: Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T, KeyStoreError> {
    built.map_err(|e| KeyStoreError(e.to_string()))
}

/// Releases the scope's reservations past `release_after` (requests that never settled):
/// each one's item is deleted and its amount subtracted in one transaction, so two instances
/// cannot release it twice. Returns how many were released.
async fn release_expired(
    store: &DynamoLimitStore,
    scope: &ScopePlan,
    now: u64,
) -> Result<usize, KeyStoreError> {
    let pk = scope.scope.partition_key();
    let output = store
        .client
        .query()
        .table_name(&store.table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :res)")
        .expression_attribute_values(":pk", s(pk.clone()))
        .expression_attribute_values(":res", s("RES#"))
        .send()
        .await
        .map_err(store_error)?;
    let mut released = 0;
    for item in output.items() {
        if number(item, "release_after").is_none_or(|after| after >= now) {
            continue;
        }
        if release(store, &pk, item, now).await? {
            released += 1;
        }
    }
    if released > 0 {
        tracing::warn!(scope = %scope.scope.label(), released, "released expired budget reservations");
    }
    Ok(released)
}

async fn release(
    store: &DynamoLimitStore,
    pk: &str,
    item: &Item,
    now: u64,
) -> Result<bool, KeyStoreError> {
    let (Some(sk), Some(period), Some(amount)) = (
        text(item, "sk"),
        text(item, "period"),
        float(item, "amount"),
    ) else {
        return Ok(false);
    };
    let delete = Delete::builder()
        .table_name(&store.table)
        .key("pk", s(pk))
        .key("sk", s(sk))
        .condition_expression("release_after < :now")
        .expression_attribute_values(":now", n(now));
    let update = Update::builder()
        .table_name(&store.table)
        .key("pk", s(pk))
        .key("sk", s(period))
        .update_expression("ADD #used :back")
        .expression_attribute_names("#used", "used")
        .expression_attribute_values(":back", n(-amount));
    let sent = store
        .client
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .delete(build(delete.build())?)
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .update(build(update.build())?)
                .build(),
        )
        .send()
        .await;
    match sent {
        Ok(_) => Ok(true),
        // Settled or released meanwhile.
        Err(err)
            if matches!(
                err.as_service_error(),
                Some(TransactWriteItemsError::TransactionCanceledException(_))
            ) =>
        {
            Ok(false)
        }
        Err(err) => Err(store_error(err)),
    }
}

/// `SETTLED#<request id>`: the marker that a request's settlement was applied to a scope.
pub fn settled_sort_key(request_id: &str) -> String {
    format!("SETTLED#{request_id}")
}

/// Replaces each scope's reservation by the actual cost (deleting its `RES#` item in the same
/// transaction; a reservation already released gets the whole cost added instead) and corrects
/// the minute's token count.
async fn settle(store: &DynamoLimitStore, settlement: &Settlement) -> Result<(), KeyStoreError> {
    settle_once(store, settlement).await.map(drop)
}

/// [`settle`], at most once per request and scope: each scope's transaction also puts a
/// `SETTLED#<request id>` marker on the condition that there is none, so a settlement written
/// again (replayed from its fallback line, or after a write that did land) changes nothing.
/// `true` when this call changed some counter.
pub(crate) async fn settle_once(
    store: &DynamoLimitStore,
    settlement: &Settlement,
) -> Result<bool, KeyStoreError> {
    let plan = &settlement.plan;
    let mut applied = false;
    for scope in &plan.scopes {
        let pk = scope.scope.partition_key();
        let marker = Put::builder()
            .table_name(&store.table)
            .item("pk", s(pk.clone()))
            .item("sk", s(settled_sort_key(&plan.request_id)))
            .item("expires_at", n(plan.now + BUDGET_RETENTION_SECS))
            .condition_expression("attribute_not_exists(pk)");
        let mut items = vec![TransactWriteItem::builder()
            .put(build(marker.build())?)
            .build()];
        if scope.tpm_limit.is_some() {
            let update = Update::builder()
                .table_name(&store.table)
                .key("pk", s(pk.clone()))
                .key("sk", s(tpm_sort_key(plan.minute())))
                .update_expression("SET expires_at = if_not_exists(expires_at, :exp) ADD #c :delta")
                .expression_attribute_names("#c", "count")
                .expression_attribute_values(
                    ":exp",
                    n((plan.minute() + 1) * 60 + WINDOW_RETENTION_SECS),
                )
                .expression_attribute_values(":delta", n(settlement.token_delta()));
            items.push(
                TransactWriteItem::builder()
                    .update(build(update.build())?)
                    .build(),
            );
        }
        let Some(budget) = &scope.budget else {
            applied |= transact(store, items).await? == Sent::Done;
            continue;
        };
        let spend = |delta: f64| {
            Update::builder()
                .table_name(&store.table)
                .key("pk", s(pk.clone()))
                .key("sk", s(budget.period.clone()))
                .update_expression("ADD #used :delta, spend :cost")
                .expression_attribute_names("#used", "used")
                .expression_attribute_values(":delta", n(delta))
                .expression_attribute_values(":cost", n(settlement.cost))
                .build()
        };
        let delete = Delete::builder()
            .table_name(&store.table)
            .key("pk", s(pk.clone()))
            .key("sk", s(reservation_sort_key(&plan.request_id)))
            .condition_expression("attribute_exists(pk)");
        let mut with_reservation = items.clone();
        with_reservation.push(
            TransactWriteItem::builder()
                .delete(build(delete.build())?)
                .build(),
        );
        with_reservation.push(
            TransactWriteItem::builder()
                .update(build(spend(settlement.budget_delta()))?)
                .build(),
        );
        match transact(store, with_reservation).await? {
            Sent::Done => applied = true,
            // The marker is there: settled before.
            Sent::Refused(failed) if failed.contains(&0) => {}
            Sent::Refused(_) => {
                // Released meanwhile: its amount no longer counts, the whole cost does.
                items.push(
                    TransactWriteItem::builder()
                        .update(build(spend(settlement.cost))?)
                        .build(),
                );
                applied |= transact(store, items).await? == Sent::Done;
            }
        }
    }
    Ok(applied)
}

/// How a transaction ended.
#[derive(Debug, PartialEq)]
enum Sent {
    Done,
    /// Conditions refused it: the indexes of the items whose condition failed.
    Refused(Vec<usize>),
}

/// Sends a transaction, again after a conflict with a concurrent one.
async fn transact(
    store: &DynamoLimitStore,
    items: Vec<TransactWriteItem>,
) -> Result<Sent, KeyStoreError> {
    if items.is_empty() {
        return Ok(Sent::Done);
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        let sent = store
            .client
            .transact_write_items()
            .set_transact_items(Some(items.clone()))
            .send()
            .await;
        let err = match sent {
            Ok(_) => return Ok(Sent::Done),
            Err(err) => err,
        };
        let codes: Vec<String> = match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect(),
            _ => return Err(store_error(err)),
        };
        let refused: Vec<usize> = codes
            .iter()
            .enumerate()
            .filter(|(_, c)| *c == "ConditionalCheckFailed")
            .map(|(i, _)| i)
            .collect();
        if !refused.is_empty() {
            return Ok(Sent::Refused(refused));
        }
        if !codes.iter().any(|c| c == "TransactionConflict") || attempt >= CONFLICT_ATTEMPTS * 2 {
            return Err(store_error(err));
        }
        tokio::time::sleep(conflict_backoff(attempt)).await;
    }
}
