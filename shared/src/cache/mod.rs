//! The response cache (LiteLLM's `cache: true`): a repeated request is answered from an earlier
//! answer, with no model call, no spend and cost 0 in its usage record (`cache_hit: true`).
//!
//! - **Key** (`key`): the caller's scope (its team, else its key), the guardrails that shaped
//!   the answer, and every field of the request that can change the answer. One team never
//!   reads another's answers; the key is sent back in `x-litellm-cache-key`.
//! - **Stores** (`store`, `dynamodb`): an LRU in memory bounded by entries and bytes (local,
//!   or `cache_params.type: local`), or items in the gateway's DynamoDB table with a TTL
//!   (Lambda, shared by every instance; answers over 350 KB are not stored).
//! - **Controls** (`controls`): the body's `cache` object (`no-cache`, `no-store`, `ttl`,
//!   `s-maxage`, `use-cache`, `namespace`) and `cache_params.mode`.
//! - **Single flight** (`flight`): concurrent identical requests on one instance share one
//!   model call; the others wait for its answer to be stored and are served it as hits.
//!
//! The pipeline (`pipeline::cached`) looks a request up after its `pre_call` guardrails (so a
//! hit is checked on input like any request) and stores answers after `post_call` ones (so a
//! cached answer was checked on output when it was stored). Lex conversations are not cached:
//! their turns carry a session's history and a Lex bot answers people, not repeated jobs.
//! Embeddings (`supported_call_types: [embedding]`, which LiteLLM's default includes) are looked
//! up the same way in `pipeline::embed`, after `pre_call` masking, with keys of their own kind.
//! A store that fails is a miss (logged), never a failed request.

mod answer;
mod controls;
mod dynamodb;
mod flight;
mod key;
mod store;

use std::sync::Arc;
use std::time::Duration;

pub use answer::{CachedAnswer, CachedEmbeddings, CachedToolCall, Recorder, REPLAY_CHUNK_BYTES};
pub use controls::{CacheControls, MAX_NAMESPACE_CHARS};
pub use dynamodb::{DynamoCacheStore, MAX_ITEM_BODY_BYTES};
pub use flight::FlightGuard;
pub use key::{chat_key, embedding_key};
pub use store::{CacheStore, CacheStoreError, Entry, MemoryCacheStore};

use crate::chat::ChatRequest;
use crate::clock::WallClock;
use crate::config::{CacheKind, CacheSettings};
use crate::embeddings::EmbeddingRequest;
use crate::env::Environment;
use crate::keys::{Caller, Principal};
use crate::store::AwsClients;
use flight::{Flight, Flights};

/// The cache a gateway answers from.
pub struct ResponseCache {
    settings: CacheSettings,
    store: Arc<dyn CacheStore>,
    flights: Flights,
    clock: WallClock,
}

/// What one request does with the cache.
#[derive(Debug, Clone)]
pub struct CachePlan {
    pub scope: String,
    /// The hex key (`x-litellm-cache-key`).
    pub key: String,
    pub read: bool,
    pub write: bool,
    pub ttl: Duration,
    /// Only answers stored at most this long ago are served (`s-maxage`).
    pub max_age: Option<Duration>,
}

/// How the cache answered a request, for headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheStatus {
    pub key: String,
    pub hit: bool,
}

/// A waiting identical request, or the right to make the call.
pub enum Turn {
    /// Make the call; store its answer while holding the guard.
    Lead(FlightGuard),
    /// Another request is making it: wait for [`ResponseCache::landed`], then look again.
    Follow(tokio::sync::watch::Receiver<()>),
}

impl ResponseCache {
    pub fn new(settings: CacheSettings, store: Arc<dyn CacheStore>, clock: WallClock) -> Self {
        ResponseCache {
            settings,
            store,
            flights: Flights::default(),
            clock,
        }
    }

    /// The cache `settings` ask for, if they enable one: DynamoDB items when the type allows it
    /// and the table is configured (`GATEWAY_TABLE_NAME`), else an LRU in memory.
    pub fn from_settings(
        settings: &CacheSettings,
        table: Option<(&AwsClients, &str)>,
        clock: WallClock,
    ) -> Option<Arc<ResponseCache>> {
        if !settings.enabled {
            return None;
        }
        let store: Arc<dyn CacheStore> = match (settings.kind, table) {
            (CacheKind::Shared, Some((aws, table))) => {
                Arc::new(DynamoCacheStore::new(&aws.dynamodb, table))
            }
            _ => Arc::new(MemoryCacheStore::new(
                settings.max_entries,
                settings.max_bytes,
            )),
        };
        Some(Arc::new(ResponseCache::new(settings.clone(), store, clock)))
    }

    /// [`Self::from_settings`] with the table `env` names.
    pub fn from_environment(
        settings: &CacheSettings,
        env: &Environment,
        aws: &AwsClients,
        clock: WallClock,
    ) -> Option<Arc<ResponseCache>> {
        let table = crate::usage::table_from_environment(env).map(|t| (aws, t));
        Self::from_settings(settings, table, clock)
    }

    pub fn store_kind(&self) -> &'static str {
        self.store.kind()
    }

    /// What `request` from `principal` does with the cache: `None` when it is not cached (Lex,
    /// chat not among `supported_call_types`, `default_off` without `use-cache`, or both
    /// reading and storing switched off). The key covers `guardrails` (the names of those that
    /// run on it) and the controls' namespace.
    pub fn plan_chat<'a>(
        &self,
        caller: Caller,
        principal: &Principal,
        controls: Option<&CacheControls>,
        guardrails: impl Iterator<Item = &'a str>,
        request: &mut ChatRequest,
    ) -> Option<CachePlan> {
        if caller == Caller::Lex || !self.settings.chat {
            return None;
        }
        self.plan(principal, controls, |scope, namespace| {
            chat_key(scope, namespace, guardrails, request)
        })
    }

    /// [`Self::plan_chat`] for embeddings (`embedding` among `supported_call_types`).
    pub fn plan_embeddings<'a>(
        &self,
        principal: &Principal,
        controls: Option<&CacheControls>,
        guardrails: impl Iterator<Item = &'a str>,
        request: &EmbeddingRequest,
    ) -> Option<CachePlan> {
        if !self.settings.embeddings {
            return None;
        }
        self.plan(principal, controls, |scope, namespace| {
            embedding_key(scope, namespace, guardrails, request)
        })
    }

    fn plan(
        &self,
        principal: &Principal,
        controls: Option<&CacheControls>,
        key: impl FnOnce(&str, Option<&str>) -> String,
    ) -> Option<CachePlan> {
        let default = CacheControls::default();
        let controls = controls.unwrap_or(&default);
        if !controls.use_cache.unwrap_or(self.settings.default_on) {
            return None;
        }
        let read = !controls.no_cache;
        let write = !controls.no_store && controls.ttl != Some(0);
        if !read && !write {
            return None;
        }
        let scope = scope(principal);
        let key = key(&scope, controls.namespace.as_deref());
        Some(CachePlan {
            scope,
            key,
            read,
            write,
            ttl: controls.ttl.map_or(self.settings.ttl, Duration::from_secs),
            max_age: controls.s_maxage.map(Duration::from_secs),
        })
    }

    /// The answer stored under `plan`'s key, if it is fresh enough; a failed store is a miss.
    pub async fn get<T: serde::de::DeserializeOwned>(&self, plan: &CachePlan) -> Option<T> {
        if !plan.read {
            return None;
        }
        let entry = match self.store.get(&plan.scope, &plan.key).await {
            Ok(entry) => entry?,
            Err(err) => {
                tracing::warn!(error = %err, "cache read failed; answering from the model");
                return None;
            }
        };
        let now = self.clock.unix_ms();
        if entry.expires_at_ms <= now {
            return None;
        }
        if let Some(max_age) = plan.max_age {
            let age = now.saturating_sub(entry.stored_at_ms);
            if u128::from(age) > max_age.as_millis() {
                return None;
            }
        }
        serde_json::from_str(&entry.body)
            .inspect_err(|err| tracing::warn!(error = %err, "unreadable cache entry; ignored"))
            .ok()
    }

    /// `answer` as an entry stored now, to live for `plan`'s TTL; `None` when `plan` does not
    /// write.
    pub fn entry(&self, plan: &CachePlan, answer: &impl serde::Serialize) -> Option<Entry> {
        if !plan.write {
            return None;
        }
        let body = serde_json::to_string(answer).ok()?;
        let now = self.clock.unix_ms();
        let ttl = u64::try_from(plan.ttl.as_millis()).unwrap_or(u64::MAX);
        Some(Entry {
            body: body.into(),
            stored_at_ms: now,
            expires_at_ms: now.saturating_add(ttl),
        })
    }

    /// Stores `entry` under `plan`'s key; a failure is logged, never the request's.
    pub async fn put(&self, plan: &CachePlan, entry: Entry) {
        if let Err(err) = self.store.put(&plan.scope, &plan.key, entry).await {
            tracing::warn!(error = %err, "cache write failed; the answer is not cached");
        }
    }

    /// Whether the store answers at once (memory): its writes need no background task.
    pub fn is_local(&self) -> bool {
        self.store.kind() == "local"
    }

    /// The request's turn: lead (make the call) or follow an identical request in flight.
    pub fn turn(&self, plan: &CachePlan) -> Turn {
        let flight_key = format!("{}#{}", plan.scope, plan.key);
        match self.flights.join(&flight_key) {
            Flight::Leader(guard) => Turn::Lead(guard),
            Flight::Follower(rx) => Turn::Follow(rx),
        }
    }

    /// Waits for the leader of a [`Turn::Follow`] to land (answer stored, or failed).
    pub async fn landed(rx: tokio::sync::watch::Receiver<()>) {
        flight::landed(rx).await;
    }
}

/// Whose answers a request may read: its team's, else its key's.
fn scope(principal: &Principal) -> String {
    match &principal.team {
        Some(team) => format!("team:{team}"),
        None => format!("key:{}", principal.key_id),
    }
}
