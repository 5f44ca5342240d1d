//! Lookups kept in the execution environment for a bounded time and in a bounded number, so a
//! warm instance answers a known key without asking the store.
//!
//! Each cache holds at most its capacity, dropping the least recently used entry to make room:
//! the authenticator keeps known keys and misses in separate caches, so a flood of unknown keys
//! evicts only other misses, never a key in use.

use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;

pub(crate) struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<LruCache<K, (Instant, V)>>,
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    /// A cache of at most `capacity` entries (at least one), each for `ttl` (zero: off).
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        TtlCache {
            ttl,
            entries: Mutex::new(LruCache::new(
                NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }

    /// The value cached for `key` less than the TTL ago.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        if self.ttl.is_zero() {
            return None;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match entries.get(key) {
            Some((at, value)) if at.elapsed() < self.ttl => Some(value.clone()),
            Some(_) => {
                entries.pop(key);
                None
            }
            None => None,
        }
    }

    pub(crate) fn put(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(key, (Instant::now(), value));
    }

    pub(crate) fn forget(&self, key: &K) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop(key);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_for_the_ttl_and_can_be_forgotten() {
        let cache = TtlCache::new(Duration::from_millis(30), 10);
        cache.put("a", 1);
        assert_eq!(cache.get(&"a"), Some(1));
        cache.forget(&"a");
        assert_eq!(cache.get(&"a"), None);
        cache.put("b", 2);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get(&"b"), None);
        let off = TtlCache::new(Duration::ZERO, 10);
        off.put("c", 3);
        assert_eq!(off.get(&"c"), None);
    }

    #[test]
    fn a_full_cache_drops_its_least_recently_used_entry_only() {
        let cache = TtlCache::new(Duration::from_secs(60), 3);
        cache.put(1, "in use");
        for k in 2..100 {
            cache.put(k, "other");
            assert_eq!(cache.get(&1), Some("in use"));
        }
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&2), None);
    }
}
