//! DynamoDB: the one table every record lives in (keys, teams, budgets, rate-limit windows, usage
//! records and their aggregates), the AWS clients for it, and the command that creates it locally.
//!
//! The table's definition is `table.json` (CreateTable's shape). `template.yaml` declares the same
//! table, and a test compares the two, so code and deployment cannot drift apart.
//!
//! Item layout (partition `pk`, sort `sk`; `gsi1`/`gsi2` for listings and time ranges; TTL on
//! `expires_at`, Unix seconds) is documented by each store that writes items.

mod clients;
mod secrets;
mod table;

pub use clients::{
    load_sdk_config, store_timeouts, AwsClients, ENDPOINT_DYNAMODB_VAR,
    ENDPOINT_SECRETS_MANAGER_VAR, STORE_CONNECT_TIMEOUT, STORE_OPERATION_TIMEOUT,
    STORE_TIMEOUT_VAR,
};
pub use secrets::{parse_secret, read_secret, SecretReadError};
pub use table::{create_table, TableDefinition, TableError, CREATE_TABLES_VAR, TABLE_NAME_VAR};
