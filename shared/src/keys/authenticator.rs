//! Step 1 of the pipeline: the presented key becomes a [`Principal`], or an error.
//!
//! The master key is compared by digest in constant time ([`MasterKey`]); any other key must
//! have a virtual key's shape ([`super::is_well_formed`], else it is refused without a lookup),
//! and is hashed and looked up in the key store, so a key's plain text is never stored or sent
//! anywhere.
//!
//! Lookups are cached for the key cache TTL (`GATEWAY_KEY_CACHE_TTL_SECS`, default 10 s): a warm
//! instance authenticates a known key without a store call, and sees another instance's change
//! to a key or team (a delete, `blocked: true`) within that time (its own changes at once; the
//! store is read consistently). Known keys ([`KNOWN_KEYS`]) and misses ([`MISSES`]) are kept in
//! separate bounded LRU caches, so random keys evict only other misses; concurrent lookups of
//! one key share one store call.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt, Shared};

use super::cache::TtlCache;
use super::parallel::{
    ParallelLimiter, ParallelPermit, ParallelRefusal, DEFAULT_LEASE, LEASE_MARGIN,
};
use super::principal::{allowed_models, key_parallel, team_parallel};
use super::AccessGroups;
use super::{
    KeyHash, KeyStore, KeyStoreError, Limits, MasterKey, Principal, Team, User, VirtualKey,
};
use crate::clock::WallClock;
use crate::error::{AuthFailure, GatewayError};

/// Known keys cached per instance.
pub const KNOWN_KEYS: usize = 10_000;
/// Keys the store does not know, cached apart from known keys.
pub const MISSES: usize = 4_096;
/// Teams cached per instance.
pub const TEAMS: usize = 1_000;
/// Lookups in flight that later requests for the same key join; past this, a lookup goes alone.
const MAX_IN_FLIGHT: usize = 1_024;

type Lookup = Shared<BoxFuture<'static, Result<Option<VirtualKey>, KeyStoreError>>>;

pub struct Authenticator {
    master: MasterKey,
    store: Arc<dyn KeyStore>,
    keys: TtlCache<KeyHash, VirtualKey>,
    misses: TtlCache<KeyHash, ()>,
    in_flight: Mutex<HashMap<KeyHash, Lookup>>,
    teams: TtlCache<String, Option<Team>>,
    users: TtlCache<String, Option<User>>,
    clock: WallClock,
    /// The config's access groups, and those with the run-time models' members added.
    config_access: AccessGroups,
    access: RwLock<Arc<AccessGroups>>,
    parallel: ParallelLimiter,
}

impl Authenticator {
    pub fn new(master: MasterKey, store: Arc<dyn KeyStore>, cache_ttl: Duration) -> Self {
        let parallel = ParallelLimiter::new(store.parallel_slots());
        Authenticator {
            master,
            store,
            keys: TtlCache::new(cache_ttl, KNOWN_KEYS),
            misses: TtlCache::new(cache_ttl, MISSES),
            in_flight: Mutex::new(HashMap::new()),
            teams: TtlCache::new(cache_ttl, TEAMS),
            users: TtlCache::new(cache_ttl, TEAMS),
            clock: WallClock::system(),
            config_access: AccessGroups::default(),
            access: RwLock::new(Arc::default()),
            parallel,
        }
    }

    /// The config's model access groups, expanded in keys' and teams' `models`.
    pub fn with_access_groups(mut self, access: AccessGroups) -> Self {
        self.access = RwLock::new(Arc::new(access.clone()));
        self.config_access = access;
        self
    }

    /// The model access groups: the config's, with the run-time models' members.
    pub fn access_groups(&self) -> Arc<AccessGroups> {
        Arc::clone(&self.access.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Adds the stored (run-time) models' `model_info.access_groups` to the config's, replacing
    /// the last ones; keys and teams expand them from their next authentication on. True when
    /// the groups changed.
    pub fn set_runtime_access_groups(&self, runtime: &BTreeMap<String, Vec<String>>) -> bool {
        let merged = self.config_access.with(runtime);
        let mut access = self.access.write().unwrap_or_else(PoisonError::into_inner);
        if **access == merged {
            return false;
        }
        *access = Arc::new(merged);
        true
    }

    /// Requests in flight in this instance under a `max_parallel_requests` scope.
    pub fn parallel(&self) -> &ParallelLimiter {
        &self.parallel
    }

    /// Takes a slot of each `max_parallel_requests` of `principal` (key and team) until the
    /// permit is dropped; a full one is a 429, a store that does not answer a 503. Slots taken
    /// by a request that never gives them back end with `deadline` (plus a margin).
    pub async fn hold_parallel(
        &self,
        principal: &Principal,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<ParallelPermit, GatewayError> {
        if principal.parallel.is_empty() {
            return Ok(ParallelPermit::none());
        }
        let lease = deadline.map_or(DEFAULT_LEASE, |d| {
            d.saturating_duration_since(tokio::time::Instant::now()) + LEASE_MARGIN
        });
        self.parallel
            .acquire(&principal.parallel, lease)
            .await
            .map_err(|refusal| match refusal {
                ParallelRefusal::Full(label) => GatewayError::RateLimited {
                    limit: label.into(),
                    retry_after: Duration::from_secs(1),
                },
                ParallelRefusal::Store(err) => {
                    tracing::error!(error = %err, "parallel-request slots unavailable");
                    GatewayError::DependencyUnavailable("key store".into())
                }
            })
    }

    /// Key expiry, key creation and the limits' windows read `clock` (tests move it).
    pub fn with_clock(mut self, clock: WallClock) -> Self {
        self.clock = clock;
        self
    }

    /// The wall clock of keys and their limits.
    pub fn clock(&self) -> &WallClock {
        &self.clock
    }

    pub fn store(&self) -> &Arc<dyn KeyStore> {
        &self.store
    }

    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    pub async fn authenticate(&self, key: Option<&str>) -> Result<Principal, GatewayError> {
        let Some(key) = key else {
            return Err(GatewayError::Unauthenticated(AuthFailure::NoKey));
        };
        if self.master.matches(key).await {
            return Ok(Principal::master());
        }
        let hash = KeyHash::of(key);
        let found = match super::is_well_formed(key) {
            true => self.key(&hash).await?,
            false => None,
        };
        let Some(virtual_key) = found else {
            return Err(GatewayError::Unauthenticated(
                if self.master.is_configured() {
                    AuthFailure::UnknownKey
                } else {
                    AuthFailure::NoKeysConfigured
                },
            ));
        };
        if virtual_key.blocked {
            return Err(GatewayError::Unauthenticated(AuthFailure::Blocked));
        }
        if virtual_key
            .expires_at
            .is_some_and(|at| at <= self.clock.unix_secs())
        {
            return Err(GatewayError::Unauthenticated(AuthFailure::Expired));
        }
        let team = match &virtual_key.team {
            Some(id) => self.team(id).await?,
            None => None,
        };
        if team.as_ref().is_some_and(|t| t.blocked) {
            return Err(GatewayError::Unauthenticated(AuthFailure::Blocked));
        }
        // A user's budget and limits hold across its keys (cached like teams).
        let user_limits = match &virtual_key.user {
            Some(id) => self
                .user(id)
                .await?
                .map(|u| u.limits())
                .filter(|l| !l.is_empty()),
            None => None,
        };
        let access = self.access_groups();
        let models = allowed_models(
            &access.expand(&virtual_key.models),
            &access.expand(team.as_ref().map_or(&[][..], |t| &t.models)),
        );
        let mut guardrails = virtual_key.guardrails.clone();
        extend_unique(
            &mut guardrails,
            team.iter().flat_map(|t| t.guardrails.iter()),
        );
        Ok(Principal {
            key_id: hash.prefix().to_owned(),
            key_alias: virtual_key.alias.clone(),
            team: virtual_key.team.clone(),
            user: virtual_key.user.clone(),
            models,
            limits: virtual_key.limits(),
            team_limits: Some(team.as_ref().map(Team::limits).unwrap_or_default()),
            user_limits,
            guardrails,
            parallel: key_parallel(&hash, virtual_key.max_parallel_requests)
                .into_iter()
                .chain(
                    team.as_ref()
                        .and_then(|t| team_parallel(&t.team_id, t.max_parallel_requests)),
                )
                .collect(),
            key_hash: Some(hash),
        })
    }

    /// Fills in the team's limits and guardrails of a principal that has a team but has not
    /// had it looked up (a service such as the Lex function).
    pub async fn load_team(&self, principal: &mut Principal) -> Result<(), GatewayError> {
        let Some(id) = principal
            .team
            .as_deref()
            .filter(|_| principal.team_limits.is_none())
        else {
            return Ok(());
        };
        let team = self.team(id).await?;
        principal.team_limits = Some(team.as_ref().map(Team::limits).unwrap_or_default());
        if let Some(team) = team {
            principal.narrow_to_team(&self.access_groups().expand(&team.models));
            principal
                .parallel
                .extend(team_parallel(&team.team_id, team.max_parallel_requests));
            extend_unique(&mut principal.guardrails, team.guardrails.iter());
        }
        Ok(())
    }

    /// A team's limits (none for an unknown team).
    pub async fn team_limits(&self, team_id: &str) -> Result<Limits, GatewayError> {
        Ok(self
            .team(team_id)
            .await?
            .as_ref()
            .map(Team::limits)
            .unwrap_or_default())
    }

    /// Drops a cached key after this instance changed it.
    pub fn forget_key(&self, hash: &KeyHash) {
        self.keys.forget(hash);
        self.misses.forget(hash);
    }

    /// Drops a cached team after this instance changed it.
    pub fn forget_team(&self, team_id: &str) {
        self.teams.forget(&team_id.to_owned());
    }

    /// Drops a cached user after this instance changed it.
    pub fn forget_user(&self, user_id: &str) {
        self.users.forget(&user_id.to_owned());
    }

    async fn key(&self, hash: &KeyHash) -> Result<Option<VirtualKey>, GatewayError> {
        let lookup = {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // Checked under the lock: a lookup that ends caches its answer before it leaves.
            if let Some(cached) = self.cached(hash) {
                return Ok(cached);
            }
            match in_flight.get(hash) {
                Some(lookup) => lookup.clone(),
                None => {
                    let store = Arc::clone(&self.store);
                    let key = hash.clone();
                    let lookup = async move { store.find(&key).await }.boxed().shared();
                    if in_flight.len() < MAX_IN_FLIGHT {
                        in_flight.insert(hash.clone(), lookup.clone());
                    }
                    lookup
                }
            }
        };
        let found = lookup.await;
        {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // Cached before the lookup leaves the map, so no request between the two asks again
            // (an error is not cached).
            match &found {
                Ok(Some(key)) => self.keys.put(hash.clone(), key.clone()),
                Ok(None) => self.misses.put(hash.clone(), ()),
                Err(_) => {}
            }
            in_flight.remove(hash);
        }
        found.map_err(|err| {
            tracing::error!(error = %err, "key lookup failed");
            GatewayError::DependencyUnavailable("key store".into())
        })
    }

    /// The cached answer for `hash`: `Some(None)` for a cached miss.
    fn cached(&self, hash: &KeyHash) -> Option<Option<VirtualKey>> {
        if let Some(key) = self.keys.get(hash) {
            return Some(Some(key));
        }
        self.misses.get(hash).map(|()| None)
    }

    async fn user(&self, id: &str) -> Result<Option<User>, GatewayError> {
        let id = id.to_owned();
        if let Some(cached) = self.users.get(&id) {
            return Ok(cached);
        }
        let found = self.store.find_user(&id).await.map_err(|err| {
            tracing::error!(error = %err, "user lookup failed");
            GatewayError::DependencyUnavailable("key store".into())
        })?;
        self.users.put(id, found.clone());
        Ok(found)
    }

    async fn team(&self, id: &str) -> Result<Option<Team>, GatewayError> {
        let id = id.to_owned();
        if let Some(cached) = self.teams.get(&id) {
            return Ok(cached);
        }
        let found = self.store.find_team(&id).await.map_err(|err| {
            tracing::error!(error = %err, "team lookup failed");
            GatewayError::DependencyUnavailable("key store".into())
        })?;
        self.teams.put(id, found.clone());
        Ok(found)
    }
}

fn extend_unique<'a>(list: &mut Vec<String>, more: impl Iterator<Item = &'a String>) {
    for item in more {
        if !list.contains(item) {
            list.push(item.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::MemoryKeyStore;
    use crate::secret::Secret;

    fn auth(master: Option<&str>) -> (Authenticator, Arc<MemoryKeyStore>) {
        let store = Arc::new(MemoryKeyStore::new());
        let auth = Authenticator::new(
            MasterKey::from_config(master.map(|m| Secret::new(m.to_owned()))),
            store.clone(),
            Duration::from_secs(10),
        );
        (auth, store)
    }

    fn failure(result: Result<Principal, GatewayError>) -> AuthFailure {
        match result {
            Err(GatewayError::Unauthenticated(failure)) => failure,
            other => panic!("expected an auth failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn master_key_and_unknown_keys() {
        let (auth, _) = auth(Some("sk-master"));
        let master = auth.authenticate(Some("sk-master")).await.unwrap();
        assert_eq!(master, Principal::master());
        assert!(master.is_master());
        assert_eq!(
            failure(auth.authenticate(Some("sk-other")).await),
            AuthFailure::UnknownKey
        );
        assert_eq!(failure(auth.authenticate(None).await), AuthFailure::NoKey);
    }

    #[tokio::test]
    async fn without_any_key_configured_nothing_is_accepted() {
        let (auth, _) = auth(None);
        assert_eq!(
            failure(auth.authenticate(Some("anything")).await),
            AuthFailure::NoKeysConfigured
        );
    }

    #[tokio::test]
    async fn virtual_keys_carry_team_and_models_and_can_expire_or_be_blocked() {
        let (auth, store) = auth(Some("sk-master"));
        store.insert(
            "sk-team-a",
            VirtualKey {
                alias: Some("ci".into()),
                team: Some("a".into()),
                models: vec!["claude-3-haiku".into()],
                ..VirtualKey::default()
            },
        );
        store.insert(
            "sk-old-key",
            VirtualKey {
                expires_at: Some(1),
                ..VirtualKey::default()
            },
        );
        store.insert(
            "sk-blocked",
            VirtualKey {
                blocked: true,
                ..VirtualKey::default()
            },
        );
        let principal = auth.authenticate(Some("sk-team-a")).await.unwrap();
        assert_eq!(principal.team.as_deref(), Some("a"));
        assert_eq!(principal.key_alias.as_deref(), Some("ci"));
        assert_eq!(principal.key_id, KeyHash::of("sk-team-a").prefix());
        assert!(!principal.key_id.contains("sk-"));
        assert!(principal.may_use("claude-3-haiku"));
        assert!(!principal.may_use("claude-3-sonnet"));
        assert_eq!(
            failure(auth.authenticate(Some("sk-old-key")).await),
            AuthFailure::Expired
        );
        assert_eq!(
            failure(auth.authenticate(Some("sk-blocked")).await),
            AuthFailure::Blocked
        );
    }
}
