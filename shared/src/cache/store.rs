//! Where cached answers live: the trait, and the in-memory LRU bounded by entries and bytes.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::BoxFuture;
use lru::LruCache;

/// One stored answer: its JSON, and when it was stored and expires (Unix milliseconds).
#[derive(Debug, Clone)]
pub struct Entry {
    pub body: Arc<str>,
    pub stored_at_ms: u64,
    pub expires_at_ms: u64,
}

/// A failed store call; the cache treats it as a miss (or as not stored) and logs it.
#[derive(Debug, thiserror::Error)]
#[error("cache store: {0}")]
pub struct CacheStoreError(pub String);

pub trait CacheStore: Send + Sync {
    /// The entry under `key` (`scope` is also part of `key`; stores may use it for layout).
    fn get<'a>(
        &'a self,
        scope: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Entry>, CacheStoreError>>;

    fn put<'a>(
        &'a self,
        scope: &'a str,
        key: &'a str,
        entry: Entry,
    ) -> BoxFuture<'a, Result<(), CacheStoreError>>;

    /// `local` or `dynamodb`, for logs and readiness.
    fn kind(&self) -> &'static str;
}

/// An LRU in this instance's memory: at most `max_entries` answers and `max_bytes` of them.
pub struct MemoryCacheStore {
    inner: Mutex<Inner>,
    max_bytes: usize,
}

struct Inner {
    lru: LruCache<String, Entry>,
    bytes: usize,
}

/// What an entry is counted as beyond its body: its key and bookkeeping.
const ENTRY_OVERHEAD_BYTES: usize = 160;

fn size(key: &str, entry: &Entry) -> usize {
    key.len() + entry.body.len() + ENTRY_OVERHEAD_BYTES
}

impl MemoryCacheStore {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        let cap = NonZeroUsize::new(max_entries).unwrap_or(NonZeroUsize::MIN);
        MemoryCacheStore {
            inner: Mutex::new(Inner {
                lru: LruCache::new(cap),
                bytes: 0,
            }),
            max_bytes,
        }
    }

    /// Entries and bytes held.
    pub fn len_and_bytes(&self) -> (usize, usize) {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        (inner.lru.len(), inner.bytes)
    }

    fn get_now(&self, key: &str) -> Option<Entry> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.lru.get(key).cloned()
    }

    fn put_now(&self, key: &str, entry: Entry) {
        let bytes = size(key, &entry);
        if bytes > self.max_bytes {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((old_key, old)) = inner.lru.push(key.to_owned(), entry) {
            // The replaced entry under the same key, or the least recently used one evicted.
            inner.bytes = inner.bytes.saturating_sub(size(&old_key, &old));
        }
        inner.bytes += bytes;
        while inner.bytes > self.max_bytes {
            let Some((old_key, old)) = inner.lru.pop_lru() else {
                break;
            };
            inner.bytes = inner.bytes.saturating_sub(size(&old_key, &old));
        }
    }
}

impl CacheStore for MemoryCacheStore {
    fn get<'a>(
        &'a self,
        _scope: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Entry>, CacheStoreError>> {
        let found = self.get_now(key);
        Box::pin(async move { Ok(found) })
    }

    fn put<'a>(
        &'a self,
        _scope: &'a str,
        key: &'a str,
        entry: Entry,
    ) -> BoxFuture<'a, Result<(), CacheStoreError>> {
        self.put_now(key, entry);
        Box::pin(async { Ok(()) })
    }

    fn kind(&self) -> &'static str {
        "local"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(body: &str) -> Entry {
        Entry {
            body: Arc::from(body),
            stored_at_ms: 0,
            expires_at_ms: u64::MAX,
        }
    }

    #[test]
    fn bounded_by_entries_and_by_bytes_least_recently_used_first() {
        let store = MemoryCacheStore::new(2, 10_000);
        store.put_now("a", entry("1"));
        store.put_now("b", entry("2"));
        assert!(store.get_now("a").is_some()); // `b` is now the least recently used
        store.put_now("c", entry("3"));
        assert!(store.get_now("b").is_none());
        assert_eq!(store.len_and_bytes().0, 2);

        let store = MemoryCacheStore::new(100, 1_000);
        let big = "x".repeat(400);
        store.put_now("a", entry(&big));
        store.put_now("b", entry(&big));
        assert!(
            store.get_now("a").is_none(),
            "over the byte bound: the oldest goes"
        );
        assert!(store.get_now("b").is_some());
        assert!(store.len_and_bytes().1 <= 1_000);
        store.put_now("huge", entry(&"x".repeat(2_000)));
        assert!(
            store.get_now("huge").is_none(),
            "bigger than the bound: not kept"
        );
        assert!(store.get_now("b").is_some());
    }
}
