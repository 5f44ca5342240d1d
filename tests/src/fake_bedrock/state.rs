//! Shared state of a fake Bedrock: call counters, last requests, faults, latency and blocked words.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use super::Fault;

/// Per-model counters and the last request body.
#[derive(Default)]
pub(crate) struct ModelEntry {
    pub(crate) converse: AtomicUsize,
    pub(crate) stream: AtomicUsize,
    pub(crate) count_tokens: AtomicUsize,
    /// InvokeModel calls (embeddings).
    pub(crate) invoke: AtomicUsize,
    last: Mutex<Option<Arc<Value>>>,
}

impl ModelEntry {
    pub(crate) fn set_last(&self, body: Arc<Value>) {
        let old = self
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(body);
        drop(old);
    }
}

pub(crate) struct State {
    models: RwLock<HashMap<String, Arc<ModelEntry>>>,
    guardrails: RwLock<HashMap<String, Arc<AtomicUsize>>>,
    /// `id:version:SOURCE` → calls that parsed.
    guardrail_sources: RwLock<HashMap<String, Arc<AtomicUsize>>>,
    /// Stream text in pieces of this many bytes (0: one delta per word).
    pub(crate) chunk_bytes: AtomicUsize,
    faults: Mutex<HashMap<String, Fault>>,
    has_faults: AtomicBool,
    latency_ns: AtomicU64,
    event_delay_ns: AtomicU64,
    blocked_words: RwLock<Vec<String>>,
    pub(crate) prompt_cache: super::features::PromptCache,
    pub(crate) shutdown: watch::Sender<bool>,
}

/// Adds one to `key`'s counter (read lock on the hot path).
fn count(map: &RwLock<HashMap<String, Arc<AtomicUsize>>>, key: &str) {
    let read = map.read().unwrap_or_else(PoisonError::into_inner);
    if let Some(counter) = read.get(key) {
        counter.fetch_add(1, Ordering::Relaxed);
        return;
    }
    drop(read);
    let mut write = map.write().unwrap_or_else(PoisonError::into_inner);
    let counter = write.entry(key.to_owned()).or_default();
    counter.fetch_add(1, Ordering::Relaxed);
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl State {
    pub(crate) fn new(latency: Duration, event_delay: Duration, blocked: &[String]) -> State {
        let mut words = vec!["blockme".to_owned()];
        words.extend(blocked.iter().map(|w| w.to_lowercase()));
        State {
            models: RwLock::default(),
            guardrails: RwLock::default(),
            guardrail_sources: RwLock::default(),
            chunk_bytes: AtomicUsize::new(0),
            faults: Mutex::default(),
            has_faults: AtomicBool::new(false),
            latency_ns: AtomicU64::new(nanos(latency)),
            event_delay_ns: AtomicU64::new(nanos(event_delay)),
            blocked_words: RwLock::new(words),
            prompt_cache: super::features::PromptCache::default(),
            shutdown: watch::Sender::new(false),
        }
    }

    /// The entry for a model id, created on first use (read lock on the hot path).
    pub(crate) fn model(&self, id: &str) -> Arc<ModelEntry> {
        let read = self.models.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = read.get(id) {
            return Arc::clone(entry);
        }
        drop(read);
        let mut write = self.models.write().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(write.entry(id.to_owned()).or_default())
    }

    pub(crate) fn find_model(&self, id: &str) -> Option<Arc<ModelEntry>> {
        let read = self.models.read().unwrap_or_else(PoisonError::into_inner);
        read.get(id).cloned()
    }

    pub(crate) fn last_request(&self, id: &str) -> Option<Value> {
        let entry = self.find_model(id)?;
        let last = entry.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.as_deref().cloned()
    }

    pub(crate) fn count_guardrail(&self, key: &str) {
        count(&self.guardrails, key);
    }

    pub(crate) fn count_guardrail_source(&self, key: &str) {
        count(&self.guardrail_sources, key);
    }

    pub(crate) fn guardrail_source_calls(&self, key: &str) -> usize {
        let read = self
            .guardrail_sources
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        read.get(key).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    pub(crate) fn guardrail_calls(&self, key: &str) -> usize {
        let read = self
            .guardrails
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        read.get(key).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// `(model id → (converse, converse_stream))` and `(id:version → calls)`, sorted.
    pub(crate) fn snapshot(&self) -> (BTreeMap<String, (usize, usize)>, BTreeMap<String, usize>) {
        let models = self.models.read().unwrap_or_else(PoisonError::into_inner);
        let models = models
            .iter()
            .map(|(id, e)| {
                let counts = (
                    e.converse.load(Ordering::Relaxed),
                    e.stream.load(Ordering::Relaxed),
                );
                (id.clone(), counts)
            })
            .collect();
        let guardrails = self
            .guardrails
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let guardrails = guardrails
            .iter()
            .map(|(k, c)| (k.clone(), c.load(Ordering::Relaxed)))
            .collect();
        (models, guardrails)
    }

    /// Clears counters and last requests (faults, latency and blocked words stay).
    pub(crate) fn reset(&self) {
        self.prompt_cache.clear();
        self.models
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.guardrails
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.guardrail_sources
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    pub(crate) fn set_fault(&self, key: &str, fault: Fault) {
        let mut faults = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
        faults.insert(key.to_owned(), fault);
        self.has_faults.store(true, Ordering::Release);
    }

    pub(crate) fn clear_faults(&self) {
        let mut faults = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
        faults.clear();
        self.has_faults.store(false, Ordering::Release);
    }

    /// The fault for this call: a configured one (consuming a `FailTimes` budget) or a name-selected one.
    pub(crate) fn take_fault(&self, key: &str) -> Option<Fault> {
        if self.has_faults.load(Ordering::Acquire) {
            let mut faults = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
            match faults.get_mut(key) {
                Some(Fault::FailTimes(0, _)) => return None,
                Some(Fault::FailTimes(n, inner)) => {
                    *n -= 1;
                    return Some((**inner).clone());
                }
                Some(fault) => return Some(fault.clone()),
                None => {}
            }
        }
        Fault::from_name(key)
    }

    pub(crate) fn set_latency(&self, before_answer: Duration, per_stream_event: Duration) {
        self.latency_ns
            .store(nanos(before_answer), Ordering::Relaxed);
        self.event_delay_ns
            .store(nanos(per_stream_event), Ordering::Relaxed);
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_ns.load(Ordering::Relaxed))
    }

    pub(crate) fn event_delay(&self) -> Duration {
        Duration::from_nanos(self.event_delay_ns.load(Ordering::Relaxed))
    }

    pub(crate) fn add_blocked_word(&self, word: &str) {
        let mut words = self
            .blocked_words
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        words.push(word.to_lowercase());
    }

    /// Whether `text` contains a blocked word (case-insensitive).
    pub(crate) fn is_blocked(&self, text: &str) -> bool {
        let lower = text.to_lowercase();
        let words = self
            .blocked_words
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        words
            .iter()
            .any(|w| !w.is_empty() && lower.contains(w.as_str()))
    }

    /// Resolves once the fake is shutting down.
    pub(crate) async fn shutting_down(&self) {
        let mut rx = self.shutdown.subscribe();
        // An error means the sender is gone, which also means shutdown.
        let _ = rx.wait_for(|down| *down).await;
    }
}
