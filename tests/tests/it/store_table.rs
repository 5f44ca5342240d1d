//! The table definition in `store/table.json` creates, through the real SDK against moto, the
//! table the stores use: keys, indexes and TTL as declared.

use aws_sdk_dynamodb::types::TimeToLiveStatus;
use gateway::store::{create_table, TableDefinition};
use gateway_tests::moto::MotoServer;

#[tokio::test]
async fn create_table_makes_the_declared_table_and_is_idempotent() {
    let moto = MotoServer::shared();
    let clients = moto.clients().await;
    let name = moto.new_table("table-def").await;
    // A second run (another cold start with GATEWAY_CREATE_TABLES=1) leaves it alone.
    create_table(&clients.dynamodb, &name).await.unwrap();

    let described = clients
        .dynamodb
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .unwrap();
    let table = described.table().unwrap();
    let keys: Vec<_> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().as_str()))
        .collect();
    assert_eq!(keys, [("pk", "HASH"), ("sk", "RANGE")]);
    let mut indexes: Vec<_> = table
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name())
        .collect();
    indexes.sort_unstable();
    let def = TableDefinition::get().unwrap();
    let declared: Vec<_> = def
        .global_secondary_indexes
        .iter()
        .map(|i| i.index_name.as_str())
        .collect();
    assert_eq!(indexes, declared);

    let ttl = clients
        .dynamodb
        .describe_time_to_live()
        .table_name(&name)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some(def.ttl_attribute()));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
}

#[tokio::test]
async fn a_private_server_can_be_stopped_and_started_empty() {
    let mut moto = MotoServer::spawn();
    let name = moto.new_table("restart").await;
    moto.stop();
    let clients = moto.clients().await;
    assert!(clients
        .dynamodb
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .is_err());
    moto.start();
    let tables = clients.dynamodb.list_tables().send().await.unwrap();
    assert!(tables.table_names().is_empty(), "{tables:?}");
}
