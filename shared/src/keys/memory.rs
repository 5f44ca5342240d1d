//! Keys and teams kept in memory: the local server's and the tests' store. Its budgets and
//! rate limits are a [`MemoryLimitStore`].

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use futures_util::future::BoxFuture;

use super::{KeyField, KeyHash, KeyStore, KeyStoreError, Team, VirtualKey, WriteError};
use crate::limits::{LimitStore, MemoryLimitStore};

#[derive(Debug, Default)]
pub struct MemoryKeyStore {
    keys: RwLock<HashMap<KeyHash, VirtualKey>>,
    teams: RwLock<HashMap<String, Team>>,
    limits: Arc<MemoryLimitStore>,
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

fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl KeyStore for MemoryKeyStore {
    fn find<'a>(
        &'a self,
        hash: &'a KeyHash,
    ) -> BoxFuture<'a, Result<Option<VirtualKey>, KeyStoreError>> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        ready(Ok(keys.get(hash).cloned()))
    }

    fn create_key<'a>(
        &'a self,
        hash: &'a KeyHash,
        key: &'a VirtualKey,
    ) -> BoxFuture<'a, Result<(), WriteError>> {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        if keys.contains_key(hash) {
            return ready(Err(WriteError::Exists));
        }
        keys.insert(hash.clone(), key.clone());
        ready(Ok(()))
    }

    fn update_key<'a>(
        &'a self,
        hash: &'a KeyHash,
        key: &'a VirtualKey,
        fields: &'a [KeyField],
    ) -> BoxFuture<'a, Result<VirtualKey, WriteError>> {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        match keys.get_mut(hash) {
            Some(stored) => {
                for field in fields {
                    copy_field(stored, key, *field);
                }
                ready(Ok(stored.clone()))
            }
            None => ready(Err(WriteError::NotFound)),
        }
    }

    fn delete_keys<'a>(
        &'a self,
        hashes: &'a [KeyHash],
    ) -> BoxFuture<'a, Result<(), KeyStoreError>> {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        for hash in hashes {
            keys.remove(hash);
        }
        ready(Ok(()))
    }

    fn find_team<'a>(
        &'a self,
        team_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Team>, KeyStoreError>> {
        let teams = self.teams.read().unwrap_or_else(PoisonError::into_inner);
        ready(Ok(teams.get(team_id).cloned()))
    }

    fn create_team<'a>(&'a self, team: &'a Team) -> BoxFuture<'a, Result<(), WriteError>> {
        let mut teams = self.teams.write().unwrap_or_else(PoisonError::into_inner);
        if teams.contains_key(&team.team_id) {
            return ready(Err(WriteError::Exists));
        }
        teams.insert(team.team_id.clone(), team.clone());
        ready(Ok(()))
    }

    fn update_team<'a>(
        &'a self,
        team: &'a Team,
        fields: &'a [&'static str],
    ) -> BoxFuture<'a, Result<Team, WriteError>> {
        let mut teams = self.teams.write().unwrap_or_else(PoisonError::into_inner);
        match teams.get_mut(&team.team_id) {
            Some(stored) => {
                for field in fields {
                    copy_team_field(stored, team, field);
                }
                ready(Ok(stored.clone()))
            }
            None => ready(Err(WriteError::NotFound)),
        }
    }

    fn list_teams(&self) -> BoxFuture<'_, Result<Vec<Team>, KeyStoreError>> {
        let teams = self.teams.read().unwrap_or_else(PoisonError::into_inner);
        let mut list: Vec<Team> = teams.values().cloned().collect();
        list.sort_by(|a, b| a.team_id.cmp(&b.team_id));
        ready(Ok(list))
    }

    fn team_keys<'a>(
        &'a self,
        team_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(KeyHash, VirtualKey)>, KeyStoreError>> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let mut list: Vec<(KeyHash, VirtualKey)> = keys
            .iter()
            .filter(|(_, k)| k.team.as_deref() == Some(team_id))
            .map(|(h, k)| (h.clone(), k.clone()))
            .collect();
        list.sort_by_key(|(_, k)| k.created_at);
        ready(Ok(list))
    }

    fn limits(&self) -> Arc<dyn LimitStore> {
        Arc::clone(&self.limits) as Arc<dyn LimitStore>
    }
}

/// Sets the team field `name` of `stored` to `changed`'s.
fn copy_team_field(stored: &mut Team, changed: &Team, name: &str) {
    match name {
        "team_alias" => stored.team_alias.clone_from(&changed.team_alias),
        "models" => stored.models.clone_from(&changed.models),
        "max_budget" => stored.max_budget = changed.max_budget,
        "budget_duration" => stored.budget_duration.clone_from(&changed.budget_duration),
        "rpm_limit" => stored.rpm_limit = changed.rpm_limit,
        "tpm_limit" => stored.tpm_limit = changed.tpm_limit,
        "metadata" => stored.metadata.clone_from(&changed.metadata),
        "guardrails" => stored.guardrails.clone_from(&changed.guardrails),
        "blocked" => stored.blocked = changed.blocked,
        "members_with_roles" => stored
            .members_with_roles
            .clone_from(&changed.members_with_roles),
        _ => {}
    }
}

/// Sets `field` of `stored` to `changed`'s.
fn copy_field(stored: &mut VirtualKey, changed: &VirtualKey, field: KeyField) {
    match field {
        KeyField::Team => stored.team.clone_from(&changed.team),
        KeyField::Alias => stored.alias.clone_from(&changed.alias),
        KeyField::User => stored.user.clone_from(&changed.user),
        KeyField::Models => stored.models.clone_from(&changed.models),
        KeyField::MaxBudget => stored.max_budget = changed.max_budget,
        KeyField::BudgetDuration => stored.budget_duration.clone_from(&changed.budget_duration),
        KeyField::RpmLimit => stored.rpm_limit = changed.rpm_limit,
        KeyField::TpmLimit => stored.tpm_limit = changed.tpm_limit,
        KeyField::Metadata => stored.metadata.clone_from(&changed.metadata),
        KeyField::Guardrails => stored.guardrails.clone_from(&changed.guardrails),
        KeyField::Blocked => stored.blocked = changed.blocked,
        KeyField::Expires => stored.expires_at = changed.expires_at,
    }
}
