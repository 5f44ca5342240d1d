//! Who is calling: keys, the store that knows them, and the principal a request runs for.
//!
//! A key is never kept or looked up in plain text: the store is asked for its SHA-256 hash.
//! [`MemoryKeyStore`] serves the local server and the tests; the DynamoDB store comes with the
//! keys-and-budgets issue behind the same [`KeyStore`] trait.

mod authenticator;
mod memory;
mod principal;

use futures_util::future::BoxFuture;
use sha2::{Digest, Sha256};

pub use authenticator::Authenticator;
pub use memory::MemoryKeyStore;
pub use principal::{Caller, Principal};

/// The SHA-256 of a key, in lower-case hex: what stores keep and index.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyHash(String);

impl KeyHash {
    pub fn of(key: &str) -> KeyHash {
        KeyHash(format!("{:x}", Sha256::digest(key.as_bytes())))
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

/// What a store knows about a virtual key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VirtualKey {
    pub alias: Option<String>,
    pub team: Option<String>,
    pub user: Option<String>,
    /// Model groups the key may use; empty means all.
    pub models: Vec<String>,
    /// Unix seconds after which the key is refused.
    pub expires_at: Option<u64>,
    pub blocked: bool,
    /// Guardrail names every request with this key runs; the request cannot remove them.
    pub guardrails: Vec<String>,
}

/// The key store could not answer (not "no such key", which is `Ok(None)`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key store unavailable: {0}")]
pub struct KeyStoreError(pub String);

/// Looks keys up by hash. Async because the real one is DynamoDB.
pub trait KeyStore: Send + Sync {
    fn find<'a>(
        &'a self,
        hash: &'a KeyHash,
    ) -> BoxFuture<'a, Result<Option<VirtualKey>, KeyStoreError>>;
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
    }
}
