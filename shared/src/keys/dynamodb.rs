//! The key store in the one DynamoDB table (`GATEWAY_TABLE_NAME`): keys and teams
//! (`dynamodb_items` has their layout). The budget and rate-limit counters in the same table are
//! [`crate::limits::DynamoLimitStore`]'s, which [`KeyStore::limits`] hands out.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::ReturnValue;
use aws_sdk_dynamodb::Client;
use futures_util::future::BoxFuture;
use std::sync::Arc;

use super::dynamodb_items::{
    key_attributes, key_from_item, key_item, key_pk, s, team_from_item, team_item, team_pk, Item,
};
use super::{KeyField, KeyHash, KeyStore, KeyStoreError, Team, User, VirtualKey, WriteError};
use crate::limits::{DynamoLimitStore, LeasePolicy, LeasedLimits, LimitStore, Settlement};

/// Keys and teams in DynamoDB, and the limit store on the same table. Cheap to clone.
#[derive(Clone, Debug)]
pub struct DynamoKeyStore {
    pub(crate) client: Client,
    pub(crate) table: String,
    limits: Arc<dyn LimitStore>,
}

impl DynamoKeyStore {
    /// Keys on `table`, whose limits this instance spends from leases ([`LeasePolicy`]'s
    /// defaults).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self::with_leases(client, table, Some(LeasePolicy::default()))
    }

    /// Keys on `table`; limits from leases by `policy`, or (`None`) every request reserved and
    /// settled in the table (one transaction before each model call).
    pub fn with_leases(
        client: Client,
        table: impl Into<String>,
        policy: Option<LeasePolicy>,
    ) -> Self {
        let table = table.into();
        let counters = DynamoLimitStore::new(client.clone(), table.clone());
        let limits: Arc<dyn LimitStore> = match policy {
            Some(policy) => Arc::new(LeasedLimits::new(counters, policy)),
            None => Arc::new(counters),
        };
        DynamoKeyStore {
            limits,
            client,
            table,
        }
    }

    /// A settlement written at most once (`gateway-admin replay-usage` replays fallback lines
    /// with it): `true` when it changed the counters, `false` when it had been applied before.
    pub async fn settle_once(&self, settlement: &Settlement) -> Result<bool, KeyStoreError> {
        // Straight to the table's counters, leases or not: a replayed settlement's instance
        // (and its slices) may be gone.
        crate::limits::dynamodb::settle_once(
            &DynamoLimitStore::new(self.client.clone(), self.table.clone()),
            settlement,
        )
        .await
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, KeyStoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            // A key deleted or blocked a moment ago must not be read as it was.
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        Ok(output.item)
    }

    /// A put that must (or must not) find the item there already.
    pub(super) async fn put(&self, item: Item, exists: bool) -> Result<(), WriteError> {
        let condition = if exists {
            "attribute_exists(pk)"
        } else {
            "attribute_not_exists(pk)"
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failed(&err) => Err(if exists {
                WriteError::NotFound
            } else {
                WriteError::Exists
            }),
            Err(err) => Err(WriteError::Store(store_error(err))),
        }
    }

    /// Writes the attributes of `fields` (set, or removed where `key` has none) and nothing
    /// else, if the key exists; the key as stored afterwards.
    async fn update_fields(
        &self,
        hash: &KeyHash,
        key: &VirtualKey,
        fields: &[KeyField],
    ) -> Result<VirtualKey, WriteError> {
        let names: Vec<&str> = fields
            .iter()
            .flat_map(|f| key_attributes(*f))
            .copied()
            .collect();
        let item = key_item(hash, key);
        let stored = self
            .update_attributes(key_pk(hash), "KEY", &item, &names)
            .await?;
        Ok(key_from_item(&stored).1)
    }

    /// Writes the attributes `names` of `item` (set, or removed where `item` has none) to the
    /// item at `pk`/`sk`, and nothing else, if it exists; the item as stored afterwards.
    async fn update_attributes(
        &self,
        pk: String,
        sk: &str,
        item: &Item,
        names: &[&str],
    ) -> Result<Item, WriteError> {
        let mut names = names.to_vec();
        names.sort_unstable();
        names.dedup();
        let mut sets = Vec::new();
        let mut removes = Vec::new();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk.clone()))
            .key("sk", s(sk))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllNew);
        for (i, name) in names.iter().enumerate() {
            request = request.expression_attribute_names(format!("#a{i}"), *name);
            match item.get(*name) {
                Some(value) => {
                    sets.push(format!("#a{i} = :v{i}"));
                    request = request.expression_attribute_values(format!(":v{i}"), value.clone());
                }
                None => removes.push(format!("#a{i}")),
            }
        }
        let mut update = Vec::new();
        if !sets.is_empty() {
            update.push(format!("SET {}", sets.join(", ")));
        }
        if !removes.is_empty() {
            update.push(format!("REMOVE {}", removes.join(", ")));
        }
        if update.is_empty() {
            // Nothing to change: the item as it is.
            return self.get(pk, sk).await?.ok_or(WriteError::NotFound);
        }
        match request.update_expression(update.join(" ")).send().await {
            Ok(output) => Ok(output.attributes.unwrap_or_default()),
            Err(err) if is_condition_failed(&err) => Err(WriteError::NotFound),
            Err(err) => Err(WriteError::Store(store_error(err))),
        }
    }

    /// Every item of an index partition, page by page.
    pub(super) async fn query_index(
        &self,
        index: &str,
        partition: String,
    ) -> Result<Vec<Item>, KeyStoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#p = :p")
                .expression_attribute_names("#p", format!("{index}pk"))
                .expression_attribute_values(":p", s(partition.clone()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(store_error)?;
            items.extend(output.items.unwrap_or_default());
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }
}

pub(crate) fn store_error<E, R>(err: SdkError<E, R>) -> KeyStoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    KeyStoreError(DisplayErrorContext(&err).to_string())
}

pub(crate) fn is_condition_failed<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

impl KeyStore for DynamoKeyStore {
    fn find<'a>(
        &'a self,
        hash: &'a KeyHash,
    ) -> BoxFuture<'a, Result<Option<VirtualKey>, KeyStoreError>> {
        Box::pin(async move {
            let item = self.get(key_pk(hash), "KEY").await?;
            Ok(item.map(|item| key_from_item(&item).1))
        })
    }

    fn create_key<'a>(
        &'a self,
        hash: &'a KeyHash,
        key: &'a VirtualKey,
    ) -> BoxFuture<'a, Result<(), WriteError>> {
        Box::pin(self.put(key_item(hash, key), false))
    }

    fn update_key<'a>(
        &'a self,
        hash: &'a KeyHash,
        key: &'a VirtualKey,
        fields: &'a [KeyField],
    ) -> BoxFuture<'a, Result<VirtualKey, WriteError>> {
        Box::pin(self.update_fields(hash, key, fields))
    }

    fn delete_keys<'a>(
        &'a self,
        hashes: &'a [KeyHash],
    ) -> BoxFuture<'a, Result<(), KeyStoreError>> {
        Box::pin(async move {
            for hash in hashes {
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", s(key_pk(hash)))
                    .key("sk", s("KEY"))
                    .send()
                    .await
                    .map_err(store_error)?;
            }
            Ok(())
        })
    }

    fn delete_team<'a>(&'a self, team_id: &'a str) -> BoxFuture<'a, Result<(), KeyStoreError>> {
        Box::pin(async move {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(team_pk(team_id)))
                .key("sk", s("TEAM"))
                .send()
                .await
                .map_err(store_error)?;
            Ok(())
        })
    }

    fn find_team<'a>(
        &'a self,
        team_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Team>, KeyStoreError>> {
        Box::pin(async move {
            let item = self.get(team_pk(team_id), "TEAM").await?;
            Ok(item.map(|item| team_from_item(&item)))
        })
    }

    fn create_team<'a>(&'a self, team: &'a Team) -> BoxFuture<'a, Result<(), WriteError>> {
        Box::pin(self.put(team_item(team), false))
    }

    fn update_team<'a>(
        &'a self,
        team: &'a Team,
        fields: &'a [&'static str],
    ) -> BoxFuture<'a, Result<Team, WriteError>> {
        Box::pin(async move {
            let item = team_item(team);
            let stored = self
                .update_attributes(team_pk(&team.team_id), "TEAM", &item, fields)
                .await?;
            Ok(team_from_item(&stored))
        })
    }

    fn list_teams(&self) -> BoxFuture<'_, Result<Vec<Team>, KeyStoreError>> {
        Box::pin(async move {
            let items = self.query_index("gsi1", "TEAMS".to_owned()).await?;
            Ok(items.iter().map(team_from_item).collect())
        })
    }

    fn list_keys(&self) -> BoxFuture<'_, Result<Vec<(KeyHash, VirtualKey)>, KeyStoreError>> {
        Box::pin(async move {
            // The keys' listing index sorts by creation time: oldest first.
            let items = self.query_index("gsi1", "KEYS".to_owned()).await?;
            Ok(items
                .iter()
                .filter_map(|item| match key_from_item(item) {
                    (Some(hash), key) => Some((hash, key)),
                    (None, _) => None,
                })
                .collect())
        })
    }

    fn team_keys<'a>(
        &'a self,
        team_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(KeyHash, VirtualKey)>, KeyStoreError>> {
        Box::pin(async move {
            let items = self
                .query_index("gsi2", format!("TEAMKEYS#{team_id}"))
                .await?;
            let mut keys: Vec<(KeyHash, VirtualKey)> = items
                .iter()
                .filter_map(|item| match key_from_item(item) {
                    (Some(hash), key) => Some((hash, key)),
                    (None, _) => None,
                })
                .collect();
            keys.sort_by_key(|(_, k)| k.created_at);
            Ok(keys)
        })
    }

    fn find_user<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<User>, KeyStoreError>> {
        Box::pin(super::dynamodb_users::find_user(self, user_id))
    }

    fn put_user<'a>(
        &'a self,
        user: &'a User,
        replace: bool,
    ) -> BoxFuture<'a, Result<(), WriteError>> {
        Box::pin(super::dynamodb_users::put_user(self, user, replace))
    }

    fn delete_user<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<(), KeyStoreError>> {
        Box::pin(super::dynamodb_users::delete_user(self, user_id))
    }

    fn list_users(&self) -> BoxFuture<'_, Result<Vec<User>, KeyStoreError>> {
        Box::pin(super::dynamodb_users::list_users(self))
    }

    fn user_keys<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(KeyHash, VirtualKey)>, KeyStoreError>> {
        Box::pin(super::dynamodb_users::user_keys(self, user_id))
    }

    fn find_model<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, KeyStoreError>> {
        Box::pin(super::dynamodb_models::find_model(self, id))
    }

    fn put_model<'a>(
        &'a self,
        id: &'a str,
        entry: &'a serde_json::Value,
        replace: bool,
    ) -> BoxFuture<'a, Result<(), WriteError>> {
        Box::pin(super::dynamodb_models::put_model(self, id, entry, replace))
    }

    fn delete_model<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), KeyStoreError>> {
        Box::pin(super::dynamodb_models::delete_model(self, id))
    }

    fn list_models(&self) -> BoxFuture<'_, Result<Vec<serde_json::Value>, KeyStoreError>> {
        Box::pin(super::dynamodb_models::list_models(self))
    }

    fn parallel_slots(&self) -> Option<std::sync::Arc<dyn super::SharedSlots>> {
        Some(std::sync::Arc::new(self.clone()))
    }

    fn limits(&self) -> Arc<dyn LimitStore> {
        Arc::clone(&self.limits)
    }
}
