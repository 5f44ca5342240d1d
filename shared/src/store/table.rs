//! The table's definition, read from `table.json`, and `CreateTable` from it (local runs, tests).

use std::sync::OnceLock;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use serde::Deserialize;

/// The table's name, set by `template.yaml`.
pub const TABLE_NAME_VAR: &str = "GATEWAY_TABLE_NAME";
/// `1` creates the table at start-up when it does not exist (local runs against moto).
pub const CREATE_TABLES_VAR: &str = "GATEWAY_CREATE_TABLES";

const DEFINITION_JSON: &str = include_str!("table.json");

/// `table.json`: the subset of CreateTable's input the gateway uses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TableDefinition {
    pub attribute_definitions: Vec<AttributeDef>,
    pub key_schema: Vec<KeyElement>,
    pub global_secondary_indexes: Vec<IndexDef>,
    pub billing_mode: String,
    pub time_to_live_specification: TtlDef,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AttributeDef {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct KeyElement {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct IndexDef {
    pub index_name: String,
    pub key_schema: Vec<KeyElement>,
    pub projection: ProjectionDef,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ProjectionDef {
    pub projection_type: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TtlDef {
    pub attribute_name: String,
    pub enabled: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("store/table.json is invalid: {0}")]
    Definition(String),
    #[error("DynamoDB table {table}: {message}")]
    Dynamo { table: String, message: String },
}

impl TableDefinition {
    /// The definition compiled into the binary.
    pub fn get() -> Result<&'static TableDefinition, TableError> {
        static PARSED: OnceLock<Result<TableDefinition, String>> = OnceLock::new();
        PARSED
            .get_or_init(|| serde_json::from_str(DEFINITION_JSON).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| TableError::Definition(e.clone()))
    }

    /// The name of the TTL attribute (`expires_at`).
    pub fn ttl_attribute(&self) -> &str {
        &self.time_to_live_specification.attribute_name
    }
}

fn key_schema(elements: &[KeyElement]) -> Result<Vec<KeySchemaElement>, TableError> {
    elements
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(|e| TableError::Definition(e.to_string()))
        })
        .collect()
}

/// Creates `table` from the definition and switches TTL on; an existing table is left alone.
pub async fn create_table(client: &Client, table: &str) -> Result<(), TableError> {
    let def = TableDefinition::get()?;
    let dynamo = |e: String| TableError::Dynamo {
        table: table.to_owned(),
        message: e,
    };
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::from(def.billing_mode.as_str()))
        .set_key_schema(Some(key_schema(&def.key_schema)?));
    for a in &def.attribute_definitions {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .map_err(|e| TableError::Definition(e.to_string()))?,
        );
    }
    for index in &def.global_secondary_indexes {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.index_name)
                .set_key_schema(Some(key_schema(&index.key_schema)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            index.projection.projection_type.as_str(),
                        ))
                        .build(),
                )
                .build()
                .map_err(|e| TableError::Definition(e.to_string()))?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(err) => {
            let exists = err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception());
            if !exists {
                return Err(dynamo(
                    aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string(),
                ));
            }
            return Ok(());
        }
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(def.ttl_attribute())
                .enabled(def.time_to_live_specification.enabled)
                .build()
                .map_err(|e| TableError::Definition(e.to_string()))?,
        )
        .send()
        .await
        .map_err(|e| dynamo(aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_parses_and_names_the_keys_the_stores_use() {
        let def = TableDefinition::get().unwrap();
        let keys: Vec<_> = def
            .key_schema
            .iter()
            .map(|k| (k.attribute_name.as_str(), k.key_type.as_str()))
            .collect();
        assert_eq!(keys, [("pk", "HASH"), ("sk", "RANGE")]);
        let indexes: Vec<_> = def
            .global_secondary_indexes
            .iter()
            .map(|i| i.index_name.as_str())
            .collect();
        assert_eq!(indexes, ["gsi1", "gsi2"]);
        assert_eq!(def.ttl_attribute(), "expires_at");
        assert_eq!(def.billing_mode, "PAY_PER_REQUEST");
    }
}
