//! `max_parallel_requests` across instances: the TTL'd slots of [`super::parallel`] in the one
//! table. A slot is `pk = PARALLEL#<scope>`, `sk = SLOT#<n>` with `owner`, `lease_until` (Unix
//! seconds) and `expires_at` (the table's TTL, a minute after the lease). Taking one is a
//! consistent query of the scope's slots and a conditional put on a free one (absent, or its
//! lease over); two instances racing for one slot cannot both win, and the loser tries another.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::future::BoxFuture;

use super::dynamodb::{is_condition_failed, store_error};
use super::dynamodb_items::{n, s};
use super::parallel::{unix_now, SharedSlots};
use super::{DynamoKeyStore, KeyStoreError};

/// Conditional puts tried before a scope counts as full (each after a fresh look).
const ATTEMPTS: usize = 3;

fn slots_pk(scope: &str) -> String {
    format!("PARALLEL#{scope}")
}

impl DynamoKeyStore {
    /// The slot numbers of `scope` whose lease has not ended.
    async fn live_slots(&self, scope: &str, now: u64) -> Result<Vec<u64>, KeyStoreError> {
        let mut live = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(slots_pk(scope)))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(store_error)?;
            for item in output.items() {
                let lease = item
                    .get("lease_until")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
                let slot = item
                    .get("sk")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|v| v.strip_prefix("SLOT#"))
                    .and_then(|v| v.parse::<u64>().ok());
                if let (Some(slot), true) = (slot, lease > now) {
                    live.push(slot);
                }
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(live),
            }
        }
    }
}

impl SharedSlots for DynamoKeyStore {
    fn take<'a>(
        &'a self,
        scope: &'a str,
        max: u64,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Option<String>, KeyStoreError>> {
        Box::pin(async move {
            let owner = uuid::Uuid::new_v4().to_string();
            for _ in 0..ATTEMPTS {
                let now = unix_now();
                let live = self.live_slots(scope, now).await?;
                if live.len() as u64 >= max {
                    return Ok(None);
                }
                let Some(free) = (0..max).find(|slot| !live.contains(slot)) else {
                    return Ok(None);
                };
                let lease_until = now + lease.as_secs().max(1);
                let result = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .item("pk", s(slots_pk(scope)))
                    .item("sk", s(format!("SLOT#{free}")))
                    .item("owner", s(owner.clone()))
                    .item("lease_until", n(lease_until))
                    .item("expires_at", n(lease_until + 60))
                    .condition_expression("attribute_not_exists(pk) OR lease_until <= :now")
                    .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                    .send()
                    .await;
                match result {
                    Ok(_) => return Ok(Some(format!("{free}:{owner}"))),
                    Err(err) if is_condition_failed(&err) => continue,
                    Err(err) => return Err(store_error(err)),
                }
            }
            Ok(None)
        })
    }

    fn give_back<'a>(
        &'a self,
        scope: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<(), KeyStoreError>> {
        Box::pin(async move {
            // The handle `take` gave: the slot's number and its owner id.
            let Some((slot, owner)) = owner.split_once(':') else {
                return Ok(());
            };
            let result = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(slots_pk(scope)))
                .key("sk", s(format!("SLOT#{slot}")))
                .condition_expression("#owner = :owner")
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":owner", s(owner))
                .send()
                .await;
            match result {
                Ok(_) => {}
                // Its lease ended and another request holds the slot now: nothing to give.
                Err(err) if is_condition_failed(&err) => {}
                Err(err) => return Err(store_error(err)),
            }
            Ok(())
        })
    }
}
