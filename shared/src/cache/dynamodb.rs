//! Cached answers as DynamoDB items in the gateway's one table, shared by every instance.
//!
//! Item: `pk=CACHE#<scope>#<key>`, `sk=CACHE`, `body` (the answer's JSON), `stored_at_ms`,
//! `expires_at` (Unix seconds: the table's TTL attribute deletes it, and a read ignores an
//! expired item that TTL has not deleted yet). An answer whose JSON is over
//! [`MAX_ITEM_BODY_BYTES`] is not stored (DynamoDB's item limit is 400 KB): such a request is
//! answered by the model every time, which is also what a miss costs.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use futures_util::future::BoxFuture;

use super::store::{CacheStore, CacheStoreError, Entry};

/// The largest answer JSON stored, leaving room under the 400 KB item for keys and attributes.
pub const MAX_ITEM_BODY_BYTES: usize = 350 * 1024;

pub struct DynamoCacheStore {
    client: Client,
    table: String,
}

impl DynamoCacheStore {
    pub fn new(client: &Client, table: &str) -> Self {
        DynamoCacheStore {
            client: client.clone(),
            table: table.to_owned(),
        }
    }
}

pub(crate) fn cache_pk(scope: &str, key: &str) -> String {
    format!("CACHE#{scope}#{key}")
}

fn fail(err: impl std::fmt::Display) -> CacheStoreError {
    CacheStoreError(err.to_string())
}

impl CacheStore for DynamoCacheStore {
    fn get<'a>(
        &'a self,
        scope: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Entry>, CacheStoreError>> {
        Box::pin(async move {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(cache_pk(scope, key)))
                .key("sk", AttributeValue::S("CACHE".into()))
                .send()
                .await
                .map_err(|e| fail(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
            let Some(item) = out.item else {
                return Ok(None);
            };
            let number = |name: &str| {
                item.get(name)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse::<u64>().ok())
            };
            let (Some(body), Some(stored_at_ms), Some(expires_at)) = (
                item.get("body").and_then(|v| v.as_s().ok()),
                number("stored_at_ms"),
                number("expires_at"),
            ) else {
                return Ok(None);
            };
            Ok(Some(Entry {
                body: body.as_str().into(),
                stored_at_ms,
                expires_at_ms: expires_at.saturating_mul(1000),
            }))
        })
    }

    fn put<'a>(
        &'a self,
        scope: &'a str,
        key: &'a str,
        entry: Entry,
    ) -> BoxFuture<'a, Result<(), CacheStoreError>> {
        Box::pin(async move {
            if entry.body.len() > MAX_ITEM_BODY_BYTES {
                tracing::debug!(
                    bytes = entry.body.len(),
                    "answer too large for a cache item; not cached"
                );
                return Ok(());
            }
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", AttributeValue::S(cache_pk(scope, key)))
                .item("sk", AttributeValue::S("CACHE".into()))
                .item("body", AttributeValue::S(entry.body.to_string()))
                .item(
                    "stored_at_ms",
                    AttributeValue::N(entry.stored_at_ms.to_string()),
                )
                .item(
                    "expires_at",
                    AttributeValue::N(entry.expires_at_ms.div_ceil(1000).to_string()),
                )
                .send()
                .await
                .map_err(|e| fail(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
            Ok(())
        })
    }

    fn kind(&self) -> &'static str {
        "dynamodb"
    }
}
