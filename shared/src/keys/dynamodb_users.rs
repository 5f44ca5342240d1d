//! Users (LiteLLM's `/user/*`) in the one DynamoDB table: `pk=USER#<user_id>`, `sk=USER`,
//! `gsi1pk=USERS`, `gsi1sk=<user_id>`, the user as one JSON document in `user`. A user's keys
//! are found through the keys' listing index (`gsi1pk=KEYS`) filtered on `user_id`: an admin
//! call, never on the request path.

use super::dynamodb::{store_error, DynamoKeyStore};
use super::dynamodb_items::{key_from_item, s, Item};
use super::{KeyHash, KeyStoreError, User, VirtualKey, WriteError};

fn user_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}

fn user_item(user: &User) -> Result<Item, KeyStoreError> {
    let doc = serde_json::to_string(user)
        .map_err(|err| KeyStoreError(format!("user not serialisable: {err}")))?;
    let mut item = Item::new();
    item.insert("pk".into(), s(user_pk(&user.user_id)));
    item.insert("sk".into(), s("USER"));
    item.insert("gsi1pk".into(), s("USERS"));
    item.insert("gsi1sk".into(), s(user.user_id.clone()));
    item.insert("user".into(), s(doc));
    Ok(item)
}

fn user_from_item(item: &Item) -> Option<User> {
    let doc = item.get("user")?.as_s().ok()?;
    serde_json::from_str(doc).ok()
}

pub(super) async fn find_user(
    store: &DynamoKeyStore,
    user_id: &str,
) -> Result<Option<User>, KeyStoreError> {
    let output = store
        .client
        .get_item()
        .table_name(&store.table)
        .key("pk", s(user_pk(user_id)))
        .key("sk", s("USER"))
        .consistent_read(true)
        .send()
        .await
        .map_err(store_error)?;
    Ok(output.item.as_ref().and_then(user_from_item))
}

pub(super) async fn put_user(
    store: &DynamoKeyStore,
    user: &User,
    replace: bool,
) -> Result<(), WriteError> {
    store.put(user_item(user)?, replace).await
}

pub(super) async fn delete_user(
    store: &DynamoKeyStore,
    user_id: &str,
) -> Result<(), KeyStoreError> {
    store
        .client
        .delete_item()
        .table_name(&store.table)
        .key("pk", s(user_pk(user_id)))
        .key("sk", s("USER"))
        .send()
        .await
        .map_err(store_error)?;
    Ok(())
}

pub(super) async fn list_users(store: &DynamoKeyStore) -> Result<Vec<User>, KeyStoreError> {
    let items = store.query_index("gsi1", "USERS".to_owned()).await?;
    Ok(items.iter().filter_map(user_from_item).collect())
}

pub(super) async fn user_keys(
    store: &DynamoKeyStore,
    user_id: &str,
) -> Result<Vec<(KeyHash, VirtualKey)>, KeyStoreError> {
    let mut keys = Vec::new();
    let mut start = None;
    loop {
        let output = store
            .client
            .query()
            .table_name(&store.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :p")
            .filter_expression("user_id = :u")
            .expression_attribute_values(":p", s("KEYS"))
            .expression_attribute_values(":u", s(user_id))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(store_error)?;
        for item in output.items.unwrap_or_default() {
            if let (Some(hash), key) = key_from_item(&item) {
                keys.push((hash, key));
            }
        }
        start = output.last_evaluated_key;
        if start.is_none() {
            keys.sort_by_key(|(_, k)| k.created_at);
            return Ok(keys);
        }
    }
}
