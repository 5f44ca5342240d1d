//! Reading the usage half of the table back through the real SDK: record items, aggregates, and
//! the whole table (to prove no key material is in it).
// Test support: failing loudly is the point.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use gateway::config::GatewayConfig;
use gateway::usage::DynamoUsageStore;

use crate::moto::MotoServer;

pub type Item = HashMap<String, AttributeValue>;

/// A usage store on a new table of `moto`, with `config`'s `usage` settings.
pub async fn store(moto: &MotoServer, config: &GatewayConfig) -> (Arc<DynamoUsageStore>, Client) {
    let table = moto.new_table("usage").await;
    let client = moto.clients().await.dynamodb;
    let store = Arc::new(DynamoUsageStore::new(&client, table, &config.usage));
    (store, client)
}

pub async fn get(client: &Client, table: &str, pk: &str, sk: &str) -> Option<Item> {
    client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.to_owned()))
        .key("sk", AttributeValue::S(sk.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item()
        .cloned()
}

/// The item, which must exist.
pub async fn must_get(client: &Client, table: &str, pk: &str, sk: &str) -> Item {
    get(client, table, pk, sk)
        .await
        .unwrap_or_else(|| panic!("no item {pk} / {sk} in {table}"))
}

pub fn number(item: &Item, name: &str) -> f64 {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().unwrap(),
        other => panic!("{name} is not a number: {other:?} in {item:?}"),
    }
}

pub fn text<'a>(item: &'a Item, name: &str) -> &'a str {
    match item.get(name) {
        Some(AttributeValue::S(s)) => s,
        other => panic!("{name} is not a string: {other:?} in {item:?}"),
    }
}

/// Every item of the table.
pub async fn scan_all(client: &Client, table: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        items.extend(page.items().iter().cloned());
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return items;
        }
    }
}

/// Items whose `pk` starts with `prefix`.
pub async fn with_prefix(client: &Client, table: &str, prefix: &str) -> Vec<Item> {
    scan_all(client, table)
        .await
        .into_iter()
        .filter(|i| text(i, "pk").starts_with(prefix))
        .collect()
}
