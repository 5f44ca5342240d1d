//! Keys kept in memory: the local server's and the tests' key store.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use futures_util::future::BoxFuture;

use super::{KeyHash, KeyStore, KeyStoreError, VirtualKey};

#[derive(Debug, Default)]
pub struct MemoryKeyStore {
    keys: RwLock<HashMap<KeyHash, VirtualKey>>,
}

impl MemoryKeyStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `key` by its hash; the plain text is not kept.
    pub fn insert(&self, key: &str, virtual_key: VirtualKey) {
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(KeyHash::of(key), virtual_key);
    }
}

impl KeyStore for MemoryKeyStore {
    fn find<'a>(
        &'a self,
        hash: &'a KeyHash,
    ) -> BoxFuture<'a, Result<Option<VirtualKey>, KeyStoreError>> {
        let found = self
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(hash)
            .cloned();
        Box::pin(std::future::ready(Ok(found)))
    }
}
