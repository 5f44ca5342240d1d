//! Who is calling: keys, teams, the store that knows them, and the principal a request runs for.
//!
//! A key is never kept or looked up in plain text: the store is asked for its SHA-256 hash, and
//! only for a key of the virtual keys' shape ([`is_well_formed`]): anything else is refused
//! before any lookup. New keys are 32 random bytes from the operating system ([`new_key`]).
//! [`MemoryKeyStore`] serves the local server and the tests; [`DynamoKeyStore`] is the same
//! [`KeyStore`] over the one DynamoDB table (`GATEWAY_TABLE_NAME`). The master key comes from
//! the config or from Secrets Manager ([`MasterKey`]). Budgets and rate limits are not here:
//! they are [`crate::limits`], whose store each key store hands out ([`KeyStore::limits`]).

mod access;
mod authenticator;
mod cache;
mod duration;
pub(crate) mod dynamodb;
pub(crate) mod dynamodb_items;
mod dynamodb_models;
mod dynamodb_parallel;
mod dynamodb_users;
mod environment;
mod master;
mod memory;
pub mod parallel;
mod principal;
mod records;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use sha2::{Digest, Sha256};

use crate::limits::LimitStore;
pub use access::{AccessGroups, ALL_PROXY_MODELS, ALL_TEAM_MODELS};

/// Budgets and rate limits used to live in `keys::limits`: the old paths still name them.
pub use crate::limits;
pub use crate::limits::{Limits, ReservationPlan, Settlement};
pub use authenticator::Authenticator;
pub use duration::parse_duration;
pub use dynamodb::DynamoKeyStore;
pub use environment::{
    from_environment, from_environment_with, KeyParts, KeySettings, KeysInitError,
    KEY_CACHE_TTL_VAR, MASTER_KEY_GRACE_VAR, MASTER_KEY_REFRESH_VAR, MASTER_KEY_SECRET_ID_VAR,
    RESERVATION_TTL_VAR,
};
pub use master::{parse_master_secret, MasterKey, SecretsManagerMasterKey};
pub use memory::MemoryKeyStore;
pub use parallel::{ParallelLimit, ParallelLimiter, ParallelPermit, ParallelRefusal, SharedSlots};
pub use principal::{Caller, Principal};
pub use records::{Team, User, VirtualKey, USER_ROLES};

/// Every virtual key starts with this.
pub const KEY_PREFIX: &str = "sk-";
/// The shortest and longest key accepted (a generated key is 46 characters).
pub const KEY_MIN_LEN: usize = 8;
pub const KEY_MAX_LEN: usize = 128;

/// Whether `key` has a virtual key's shape: `sk-`, then letters, digits, `-` or `_`, 8 to 128
/// characters in all. A key of another shape cannot be in the store, so it is refused without a
/// lookup (an attacker's random strings cost no store call).
pub fn is_well_formed(key: &str) -> bool {
    (KEY_MIN_LEN..=KEY_MAX_LEN).contains(&key.len())
        && key.starts_with(KEY_PREFIX)
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A new key: `sk-` and 32 bytes from the operating system's random source, base64url (256 bits;
/// a UUIDv4 had 122).
pub fn new_key() -> Result<String, getrandom::Error> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The fields of a key an update may change, so a store writes only those: a concurrent update
/// of other fields (`blocked`, say) is never undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyField {
    Team,
    Alias,
    User,
    Models,
    MaxBudget,
    BudgetDuration,
    RpmLimit,
    TpmLimit,
    MaxParallel,
    Metadata,
    Guardrails,
    Blocked,
    Expires,
}

/// The fields of a team an update may change (LiteLLM's names, which are also the stored
/// attributes' names).
pub const TEAM_FIELDS: [&str; 11] = [
    "team_alias",
    "models",
    "max_budget",
    "budget_duration",
    "rpm_limit",
    "tpm_limit",
    "max_parallel_requests",
    "metadata",
    "guardrails",
    "blocked",
    "members_with_roles",
];

/// The SHA-256 of a key, in lower-case hex: what stores keep and index.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyHash(String);

impl KeyHash {
    pub fn of(key: &str) -> KeyHash {
        KeyHash(format!("{:x}", Sha256::digest(key.as_bytes())))
    }

    /// A hash given as text (an admin call naming a key by its `token`): 64 hex digits.
    pub fn parse(hex: &str) -> Option<KeyHash> {
        (hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| KeyHash(hex.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A short, non-secret name for logs and records: the first 12 hex digits of the hash.
    pub fn prefix(&self) -> &str {
        self.0.get(..12).unwrap_or(&self.0)
    }
}

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyHash({}…)", self.prefix())
    }
}

/// The key store could not answer (not "no such key", which is `Ok(None)`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key store unavailable: {0}")]
pub struct KeyStoreError(pub String);

/// A conditional write the store refused, or a failure to answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// Create: the key or team exists already.
    #[error("already exists")]
    Exists,
    /// Update: there is no such key or team.
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] KeyStoreError),
}

/// Keys and teams by id, and the limit store beside them. Async because the real one is
/// DynamoDB.
pub trait KeyStore: Send + Sync {
    fn find<'a>(
        &'a self,
        hash: &'a KeyHash,
    ) -> BoxFuture<'a, Result<Option<VirtualKey>, KeyStoreError>>;

    /// Stores a new key; [`WriteError::Exists`] if its hash is known.
    fn create_key<'a>(
        &'a self,
        hash: &'a KeyHash,
        key: &'a VirtualKey,
    ) -> BoxFuture<'a, Result<(), WriteError>>;

    /// Writes `fields` of `key` (and only those) to the stored key, in one conditional write;
    /// the key as stored afterwards. [`WriteError::NotFound`] if it does not exist.
    fn update_key<'a>(
        &'a self,
        hash: &'a KeyHash,
        key: &'a VirtualKey,
        fields: &'a [KeyField],
    ) -> BoxFuture<'a, Result<VirtualKey, WriteError>>;

    /// Deletes keys (the counters expire on their own).
    fn delete_keys<'a>(&'a self, hashes: &'a [KeyHash])
        -> BoxFuture<'a, Result<(), KeyStoreError>>;

    fn find_team<'a>(
        &'a self,
        team_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Team>, KeyStoreError>>;

    fn create_team<'a>(&'a self, team: &'a Team) -> BoxFuture<'a, Result<(), WriteError>>;

    /// Deletes a team (its keys are deleted by the caller; the counters expire on their own).
    fn delete_team<'a>(&'a self, team_id: &'a str) -> BoxFuture<'a, Result<(), KeyStoreError>>;

    /// Writes the fields of `team` named in `fields` (its attribute names, [`TEAM_FIELDS`]) and
    /// only those, in one conditional write; the team as stored afterwards.
    /// [`WriteError::NotFound`] if it does not exist.
    fn update_team<'a>(
        &'a self,
        team: &'a Team,
        fields: &'a [&'static str],
    ) -> BoxFuture<'a, Result<Team, WriteError>>;

    /// Every team, by id.
    fn list_teams(&self) -> BoxFuture<'_, Result<Vec<Team>, KeyStoreError>>;

    /// Every key, oldest first (admin listings only, never the request path).
    fn list_keys(&self) -> BoxFuture<'_, Result<Vec<(KeyHash, VirtualKey)>, KeyStoreError>>;

    /// The keys of a team.
    fn team_keys<'a>(
        &'a self,
        team_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(KeyHash, VirtualKey)>, KeyStoreError>>;

    fn find_user<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<User>, KeyStoreError>>;

    /// Stores a user: a new one ([`WriteError::Exists`] if its id is taken) or, with
    /// `replace`, over the stored one ([`WriteError::NotFound`] if there is none).
    fn put_user<'a>(
        &'a self,
        user: &'a User,
        replace: bool,
    ) -> BoxFuture<'a, Result<(), WriteError>>;

    /// Deletes a user (its keys are deleted by the caller).
    fn delete_user<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<(), KeyStoreError>>;

    /// Every user, by id.
    fn list_users(&self) -> BoxFuture<'_, Result<Vec<User>, KeyStoreError>>;

    /// The keys whose `user_id` is `user_id`, oldest first.
    fn user_keys<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(KeyHash, VirtualKey)>, KeyStoreError>>;

    /// A model added at run time (its `model_list` entry), by `model_info.id`.
    fn find_model<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, KeyStoreError>>;

    /// Stores a model entry: a new one ([`WriteError::Exists`] if the id is taken) or, with
    /// `replace`, over the stored one ([`WriteError::NotFound`] if there is none).
    fn put_model<'a>(
        &'a self,
        id: &'a str,
        entry: &'a serde_json::Value,
        replace: bool,
    ) -> BoxFuture<'a, Result<(), WriteError>>;

    fn delete_model<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), KeyStoreError>>;

    /// Every model added at run time.
    fn list_models(&self) -> BoxFuture<'_, Result<Vec<serde_json::Value>, KeyStoreError>>;

    /// The budgets and rate limits kept beside these keys and teams (the same table).
    fn limits(&self) -> Arc<dyn LimitStore>;

    /// [`LimitStore::reserve`] on [`Self::limits`], for callers that hold a key store.
    fn reserve<'a>(
        &'a self,
        plan: &'a ReservationPlan,
    ) -> BoxFuture<'a, Result<(), limits::ReserveError>> {
        let store = self.limits();
        Box::pin(async move { store.reserve(plan).await })
    }

    /// [`LimitStore::settle`] on [`Self::limits`], for callers that hold a key store.
    fn settle<'a>(
        &'a self,
        settlement: &'a Settlement,
    ) -> BoxFuture<'a, Result<(), KeyStoreError>> {
        let store = self.limits();
        Box::pin(async move { store.settle(settlement).await })
    }

    /// The slots `max_parallel_requests` is held by across instances; `None` (the default)
    /// when the store is this instance's own (memory), whose counts are enough.
    fn parallel_slots(&self) -> Option<std::sync::Arc<dyn SharedSlots>> {
        None
    }

    /// [`LimitStore::spend`] on [`Self::limits`], for callers that hold a key store.
    fn spend<'a>(
        &'a self,
        scope: &'a limits::Scope,
        period: &'a str,
    ) -> BoxFuture<'a, Result<f64, KeyStoreError>> {
        let store = self.limits();
        Box::pin(async move { store.spend(scope, period).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_sha256_hex_and_debug_shows_only_a_prefix() {
        let hash = KeyHash::of("sk-abc");
        assert_eq!(hash.as_str().len(), 64);
        assert_eq!(
            hash.as_str(),
            "1460db1b6902f8b1fc2a40d9381a24d0fd22c3bc1b2c6f999c521da73776fbe0"
        );
        assert_eq!(hash.prefix().len(), 12);
        let shown = format!("{hash:?}");
        assert!(!shown.contains(hash.as_str()));
        assert_ne!(KeyHash::of("sk-abd"), hash);
        assert_eq!(KeyHash::parse(hash.as_str()), Some(hash));
        assert_eq!(KeyHash::parse("sk-abc"), None);
    }

    #[test]
    fn keys_of_the_wrong_prefix_length_or_characters_are_not_well_formed() {
        let key = new_key().unwrap();
        assert_eq!(key.len(), 46);
        assert!(is_well_formed(&key));
        assert_ne!(new_key().unwrap(), key);
        assert!(is_well_formed("sk-0123456789abcdef0123456789abcdef"));
        assert!(is_well_formed("sk-team-support"));
        for bad in [
            "",
            "sk-",
            "sk-abcd",
            "pk-0123456789",
            "0123456789abcdef",
            "sk-0123 456789",
            "sk-01234567ü9",
            "sk-0123456789.",
            &format!("sk-{}", "a".repeat(126)),
        ] {
            assert!(!is_well_formed(bad), "{bad:?}");
        }
        assert!(is_well_formed(&format!("sk-{}", "a".repeat(125))));
    }
}
