//! Models added at run time (LiteLLM's `/model/new`, `store_model_in_db`) in the one DynamoDB
//! table: `pk=MODEL#<model id>`, `sk=MODEL`, `gsi1pk=MODELS`, `gsi1sk=<model id>`, the
//! `model_list` entry as one JSON document in `model`. Every instance reads them all with one
//! query at each refresh.

use serde_json::Value;

use super::dynamodb::{store_error, DynamoKeyStore};
use super::dynamodb_items::{s, Item};
use super::{KeyStoreError, WriteError};

fn model_pk(id: &str) -> String {
    format!("MODEL#{id}")
}

fn model_from_item(item: &Item) -> Option<Value> {
    let doc = item.get("model")?.as_s().ok()?;
    serde_json::from_str(doc).ok()
}

pub(super) async fn find_model(
    store: &DynamoKeyStore,
    id: &str,
) -> Result<Option<Value>, KeyStoreError> {
    let output = store
        .client
        .get_item()
        .table_name(&store.table)
        .key("pk", s(model_pk(id)))
        .key("sk", s("MODEL"))
        .consistent_read(true)
        .send()
        .await
        .map_err(store_error)?;
    Ok(output.item.as_ref().and_then(model_from_item))
}

pub(super) async fn put_model(
    store: &DynamoKeyStore,
    id: &str,
    entry: &Value,
    replace: bool,
) -> Result<(), WriteError> {
    let mut item = Item::new();
    item.insert("pk".into(), s(model_pk(id)));
    item.insert("sk".into(), s("MODEL"));
    item.insert("gsi1pk".into(), s("MODELS"));
    item.insert("gsi1sk".into(), s(id));
    item.insert("model".into(), s(entry.to_string()));
    store.put(item, replace).await
}

pub(super) async fn delete_model(store: &DynamoKeyStore, id: &str) -> Result<(), KeyStoreError> {
    store
        .client
        .delete_item()
        .table_name(&store.table)
        .key("pk", s(model_pk(id)))
        .key("sk", s("MODEL"))
        .send()
        .await
        .map_err(store_error)?;
    Ok(())
}

pub(super) async fn list_models(store: &DynamoKeyStore) -> Result<Vec<Value>, KeyStoreError> {
    let items = store.query_index("gsi1", "MODELS".to_owned()).await?;
    Ok(items.iter().filter_map(model_from_item).collect())
}
