//! Leases from the DynamoDB counters: taking, renewing and returning a slice is ONE
//! `UpdateItem` on the counter (`ADD used`/`count`, and the settled `spend`), conditional on
//! the limit when it adds; a refusal returns the counter (`ReturnValuesOnConditionCheckFailure`)
//! so the slice can be sized again without a read.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    KeysAndAttributes, ReturnValue, ReturnValuesOnConditionCheckFailure,
};
use futures_util::future::BoxFuture;

use super::lease::{spend_partition_key, Counter, LeaseBackend, Taken, SPEND_SHARDS};
use super::DynamoLimitStore;
use crate::keys::dynamodb::store_error;
use crate::keys::dynamodb_items::{float, n, s};
use crate::keys::KeyStoreError;

impl LeaseBackend for DynamoLimitStore {
    fn take<'a>(
        &'a self,
        counter: &'a Counter,
        delta: f64,
        limit: f64,
        spend: f64,
    ) -> BoxFuture<'a, Result<Taken, KeyStoreError>> {
        Box::pin(take(self, counter, delta, limit, spend))
    }

    fn add_spend<'a>(
        &'a self,
        counter: &'a Counter,
        shard: u32,
        cost: f64,
    ) -> BoxFuture<'a, Result<(), KeyStoreError>> {
        Box::pin(async move {
            let mut update = self
                .client()
                .update_item()
                .table_name(self.table())
                .key("pk", s(spend_partition_key(&counter.pk, shard)))
                .key("sk", s(counter.sk.clone()))
                .update_expression("ADD spend :cost")
                .expression_attribute_values(":cost", n(cost));
            if let Some(at) = counter.expires_at {
                update = update
                    .update_expression(
                        "SET expires_at = if_not_exists(expires_at, :exp) ADD spend :cost",
                    )
                    .expression_attribute_values(":exp", n(at));
            }
            update.send().await.map_err(store_error)?;
            Ok(())
        })
    }

    fn spend<'a>(&'a self, pk: &'a str, sk: &'a str) -> BoxFuture<'a, Result<f64, KeyStoreError>> {
        Box::pin(async move {
            let mut keys = KeysAndAttributes::builder().consistent_read(true);
            let partitions = std::iter::once(pk.to_owned())
                .chain((0..SPEND_SHARDS).map(|shard| spend_partition_key(pk, shard)));
            for partition in partitions {
                keys = keys.keys(HashMap::from([
                    ("pk".to_owned(), s(partition)),
                    ("sk".to_owned(), s(sk)),
                ]));
            }
            let mut pending = Some(keys.build().map_err(|e| KeyStoreError(e.to_string()))?);
            let mut total = 0.0;
            // Unprocessed keys are asked again (a few times at most).
            for _ in 0..5 {
                let Some(keys) = pending.take() else { break };
                let output = self
                    .client()
                    .batch_get_item()
                    .request_items(self.table(), keys)
                    .send()
                    .await
                    .map_err(store_error)?;
                total += output
                    .responses()
                    .and_then(|r| r.get(self.table()))
                    .map_or(0.0, |items| {
                        items.iter().filter_map(|i| float(i, "spend")).sum()
                    });
                pending = output
                    .unprocessed_keys()
                    .and_then(|u| u.get(self.table()))
                    .cloned();
            }
            Ok(total)
        })
    }
}

async fn take(
    store: &DynamoLimitStore,
    counter: &Counter,
    delta: f64,
    limit: f64,
    spend: f64,
) -> Result<Taken, KeyStoreError> {
    let conditional = delta > 0.0 && limit.is_finite();
    if conditional && delta > limit {
        return Ok(Taken::Short { total: limit });
    }
    let mut adds = vec!["#a :delta"];
    if spend != 0.0 {
        adds.push("spend :spend");
    }
    let mut expression = format!("ADD {}", adds.join(", "));
    if counter.expires_at.is_some() {
        expression = format!("SET expires_at = if_not_exists(expires_at, :exp) {expression}");
    }
    let mut update = store
        .client()
        .update_item()
        .table_name(store.table())
        .key("pk", s(counter.pk.clone()))
        .key("sk", s(counter.sk.clone()))
        .update_expression(expression)
        .expression_attribute_names("#a", counter.attribute())
        .expression_attribute_values(":delta", n(delta))
        .return_values(ReturnValue::UpdatedNew);
    if spend != 0.0 {
        update = update.expression_attribute_values(":spend", n(spend));
    }
    if let Some(at) = counter.expires_at {
        update = update.expression_attribute_values(":exp", n(at));
    }
    if conditional {
        update = update
            .condition_expression("attribute_not_exists(#a) OR #a <= :cap")
            .expression_attribute_values(":cap", n(limit - delta))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    }
    match update.send().await {
        Ok(output) => Ok(Taken::Granted {
            total: output
                .attributes
                .as_ref()
                .and_then(|a| float(a, counter.attribute()))
                .unwrap_or(delta),
        }),
        Err(err) => match err.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(failed)) => Ok(Taken::Short {
                total: failed
                    .item
                    .as_ref()
                    .and_then(|i| float(i, counter.attribute()))
                    .unwrap_or(limit),
            }),
            _ => Err(store_error(err)),
        },
    }
}
