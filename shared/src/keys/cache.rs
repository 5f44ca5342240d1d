//! Lookups kept in the execution environment for a bounded time, so a warm instance answers a
//! known key without asking the store.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// At most this many entries; a full cache is emptied (cheaper than tracking age, and rare).
const MAX_ENTRIES: usize = 10_000;

pub(crate) struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    pub(crate) fn new(ttl: Duration) -> Self {
        TtlCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The value cached for `key` less than the TTL ago.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, value)| value.clone())
    }

    pub(crate) fn put(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), value));
    }

    pub(crate) fn forget(&self, key: &K) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_for_the_ttl_and_can_be_forgotten() {
        let cache = TtlCache::new(Duration::from_millis(30));
        cache.put("a", 1);
        assert_eq!(cache.get(&"a"), Some(1));
        cache.forget(&"a");
        assert_eq!(cache.get(&"a"), None);
        cache.put("b", 2);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get(&"b"), None);
        let off = TtlCache::new(Duration::ZERO);
        off.put("c", 3);
        assert_eq!(off.get(&"c"), None);
    }
}
