//! The keys' parts for a deployment, from the environment: the store (memory, or DynamoDB when
//! `GATEWAY_TABLE_NAME` is set), the master key (config, or Secrets Manager when
//! `GATEWAY_MASTER_KEY_SECRET_ID` is set) and the cache and reservation times.

use std::sync::Arc;
use std::time::Duration;

use super::{DynamoKeyStore, KeyStore, MasterKey, MemoryKeyStore, SecretsManagerMasterKey};
use crate::config::GatewayConfig;
use crate::env::Environment;
use crate::limits::LeasePolicy;
use crate::store::{create_table, AwsClients, TableError, CREATE_TABLES_VAR, TABLE_NAME_VAR};

/// The Secrets Manager secret (name or ARN) holding the master key.
pub const MASTER_KEY_SECRET_ID_VAR: &str = "GATEWAY_MASTER_KEY_SECRET_ID";
/// Seconds between fetches of the master key secret (default 300).
pub const MASTER_KEY_REFRESH_VAR: &str = "GATEWAY_MASTER_KEY_REFRESH_SECS";
/// Seconds the previous master key stays accepted after a rotation (default 3600).
pub const MASTER_KEY_GRACE_VAR: &str = "GATEWAY_MASTER_KEY_GRACE_SECS";
/// Seconds a key or team lookup is cached in the execution environment (default 10; 0: off).
pub const KEY_CACHE_TTL_VAR: &str = "GATEWAY_KEY_CACHE_TTL_SECS";
/// Seconds after which an unsettled budget reservation may be released (default 900, Lambda's
/// longest invocation).
pub const RESERVATION_TTL_VAR: &str = "GATEWAY_RESERVATION_TTL_SECS";

/// Seconds an instance holds a lease of a budget or rate limit before what it did not use goes
/// back (default 30; 0: no leases, every limited request reserves in the table before its model
/// call).
pub const LIMIT_LEASE_VAR: &str = "GATEWAY_LIMIT_LEASE_SECS";

/// How long lookups are cached and reservations held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySettings {
    pub cache_ttl: Duration,
    pub reservation_ttl: Duration,
}

impl Default for KeySettings {
    fn default() -> Self {
        KeySettings {
            cache_ttl: Duration::from_secs(10),
            reservation_ttl: Duration::from_secs(900),
        }
    }
}

/// Everything `Gateway::builder(..).keys(..)` needs.
pub struct KeyParts {
    pub store: Arc<dyn KeyStore>,
    pub master: MasterKey,
    pub settings: KeySettings,
}

#[derive(Debug, thiserror::Error)]
pub enum KeysInitError {
    #[error("{name} must be a number of seconds, not `{value}`")]
    Seconds { name: &'static str, value: String },
    #[error(transparent)]
    Table(#[from] TableError),
}

/// The parts for `config` in `env`, loading AWS clients if the store or master key needs them.
pub async fn from_environment(
    config: &GatewayConfig,
    env: &Environment,
) -> Result<KeyParts, KeysInitError> {
    from_environment_with(config, env, None).await
}

/// As [`from_environment`], with the AWS clients the wiring loaded once at cold start (`None`:
/// load them here if needed).
pub async fn from_environment_with(
    config: &GatewayConfig,
    env: &Environment,
    loaded: Option<&AwsClients>,
) -> Result<KeyParts, KeysInitError> {
    let settings = KeySettings {
        cache_ttl: seconds(env, KEY_CACHE_TTL_VAR, 10.0)?,
        reservation_ttl: seconds(env, RESERVATION_TTL_VAR, 900.0)?,
    };
    let table = env.get(TABLE_NAME_VAR).filter(|t| !t.is_empty());
    let secret_id = env.get(MASTER_KEY_SECRET_ID_VAR).filter(|t| !t.is_empty());
    let clients = match (table, secret_id, loaded) {
        (None, None, _) => None,
        (_, _, Some(loaded)) => Some(loaded.clone()),
        _ => Some(AwsClients::load(env).await),
    };
    let store: Arc<dyn KeyStore> = match (table, &clients) {
        (Some(table), Some(clients)) => {
            if env.get(CREATE_TABLES_VAR) == Some("1") {
                create_table(&clients.dynamodb, table).await?;
            }
            let lease = seconds(env, LIMIT_LEASE_VAR, 30.0)?.as_secs();
            let policy = (lease > 0).then(|| LeasePolicy {
                ttl_secs: lease,
                ..LeasePolicy::default()
            });
            Arc::new(DynamoKeyStore::with_leases(
                clients.dynamodb.clone(),
                table,
                policy,
            ))
        }
        _ => Arc::new(MemoryKeyStore::new()),
    };
    let master = match (secret_id, &clients) {
        (Some(id), Some(clients)) => {
            let source = SecretsManagerMasterKey::new(
                clients.secrets_manager.clone(),
                id.to_owned(),
                seconds(env, MASTER_KEY_REFRESH_VAR, 300.0)?,
                seconds(env, MASTER_KEY_GRACE_VAR, 3600.0)?,
            );
            source.prefetch().await;
            MasterKey::SecretsManager(Arc::new(source))
        }
        _ => MasterKey::from_config(config.master_key.clone()),
    };
    Ok(KeyParts {
        store,
        master,
        settings,
    })
}

/// `name` as seconds (fractions allowed), else `default`.
fn seconds(env: &Environment, name: &'static str, default: f64) -> Result<Duration, KeysInitError> {
    let Some(value) = env.get(name) else {
        return Ok(Duration::from_secs_f64(default));
    };
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| KeysInitError::Seconds {
            name,
            value: value.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse_with_defaults_and_clear_errors() {
        let env = Environment::from_pairs([("A", "2.5"), ("B", "soon")]);
        assert_eq!(
            seconds(&env, "A", 1.0).unwrap(),
            Duration::from_millis(2500)
        );
        assert_eq!(seconds(&env, "C", 1.0).unwrap(), Duration::from_secs(1));
        let err = seconds(&env, "B", 1.0).unwrap_err().to_string();
        assert_eq!(err, "B must be a number of seconds, not `soon`");
    }
}
