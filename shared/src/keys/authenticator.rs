//! Step 1 of the pipeline: the presented key becomes a [`Principal`], or an error.
//!
//! The master key is compared in constant time ([`MasterKey`]); any other key is hashed and
//! looked up in the key store, so a key's plain text is never stored or sent anywhere. Keys and
//! teams found (or not found) are cached for the key cache TTL (`GATEWAY_KEY_CACHE_TTL_SECS`,
//! default 10 s): a warm instance authenticates a known key without a store call, and sees
//! another instance's change to a key or team within that time (its own changes at once).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::cache::TtlCache;
use super::principal::allowed_models;
use super::{KeyHash, KeyStore, Limits, MasterKey, Principal, Team, VirtualKey};
use crate::error::{AuthFailure, GatewayError};

pub struct Authenticator {
    master: MasterKey,
    store: Arc<dyn KeyStore>,
    keys: TtlCache<KeyHash, Option<VirtualKey>>,
    teams: TtlCache<String, Option<Team>>,
}

impl Authenticator {
    pub fn new(master: MasterKey, store: Arc<dyn KeyStore>, cache_ttl: Duration) -> Self {
        Authenticator {
            master,
            store,
            keys: TtlCache::new(cache_ttl),
            teams: TtlCache::new(cache_ttl),
        }
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
        let Some(virtual_key) = self.key(&hash).await? else {
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
        if virtual_key.expires_at.is_some_and(|at| at <= unix_now()) {
            return Err(GatewayError::Unauthenticated(AuthFailure::Expired));
        }
        let team = match &virtual_key.team {
            Some(id) => self.team(id).await?,
            None => None,
        };
        if team.as_ref().is_some_and(|t| t.blocked) {
            return Err(GatewayError::Unauthenticated(AuthFailure::Blocked));
        }
        let models = allowed_models(
            &virtual_key.models,
            team.as_ref().map_or(&[][..], |t| &t.models),
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
            guardrails,
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
            principal.narrow_to_team(&team.models);
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
    }

    /// Drops a cached team after this instance changed it.
    pub fn forget_team(&self, team_id: &str) {
        self.teams.forget(&team_id.to_owned());
    }

    async fn key(&self, hash: &KeyHash) -> Result<Option<VirtualKey>, GatewayError> {
        if let Some(cached) = self.keys.get(hash) {
            return Ok(cached);
        }
        let found = self.store.find(hash).await.map_err(|err| {
            tracing::error!(error = %err, "key lookup failed");
            GatewayError::DependencyUnavailable("key store".into())
        })?;
        self.keys.put(hash.clone(), found.clone());
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
            "sk-old",
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
            failure(auth.authenticate(Some("sk-old")).await),
            AuthFailure::Expired
        );
        assert_eq!(
            failure(auth.authenticate(Some("sk-blocked")).await),
            AuthFailure::Blocked
        );
    }
}
