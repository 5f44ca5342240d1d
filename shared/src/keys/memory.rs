//! Keys and teams kept in memory: the local server's and the tests' store. Its budgets and
//! rate limits are a [`MemoryLimitStore`].

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use futures_util::future::BoxFuture;

use super::{KeyField, KeyHash, KeyStore, KeyStoreError, Team, User, VirtualKey, WriteError};
use crate::limits::{LimitStore, MemoryLimitStore};

#[derive(Debug, Default)]
pub struct MemoryKeyStore {
    keys: RwLock<HashMap<KeyHash, VirtualKey>>,
    teams: RwLock<HashMap<String, Team>>,
    users: RwLock<HashMap<String, User>>,
    /// Models added at run time, by id (ordered, so listings are stable).
    models: RwLock<std::collections::BTreeMap<String, serde_json::Value>>,
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

    fn delete_team<'a>(&'a self, team_id: &'a str) -> BoxFuture<'a, Result<(), KeyStoreError>> {
        let mut teams = self.teams.write().unwrap_or_else(PoisonError::into_inner);
        teams.remove(team_id);
        ready(Ok(()))
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

    fn list_keys(&self) -> BoxFuture<'_, Result<Vec<(KeyHash, VirtualKey)>, KeyStoreError>> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let mut list: Vec<(KeyHash, VirtualKey)> =
            keys.iter().map(|(h, k)| (h.clone(), k.clone())).collect();
        list.sort_by_key(|(_, k)| k.created_at);
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

    fn find_user<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<User>, KeyStoreError>> {
        let users = self.users.read().unwrap_or_else(PoisonError::into_inner);
        ready(Ok(users.get(user_id).cloned()))
    }

    fn put_user<'a>(
        &'a self,
        user: &'a User,
        replace: bool,
    ) -> BoxFuture<'a, Result<(), WriteError>> {
        let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
        match (users.contains_key(&user.user_id), replace) {
            (true, false) => return ready(Err(WriteError::Exists)),
            (false, true) => return ready(Err(WriteError::NotFound)),
            _ => {}
        }
        users.insert(user.user_id.clone(), user.clone());
        ready(Ok(()))
    }

    fn delete_user<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<(), KeyStoreError>> {
        let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
        users.remove(user_id);
        ready(Ok(()))
    }

    fn list_users(&self) -> BoxFuture<'_, Result<Vec<User>, KeyStoreError>> {
        let users = self.users.read().unwrap_or_else(PoisonError::into_inner);
        let mut list: Vec<User> = users.values().cloned().collect();
        list.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        ready(Ok(list))
    }

    fn user_keys<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(KeyHash, VirtualKey)>, KeyStoreError>> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let mut list: Vec<(KeyHash, VirtualKey)> = keys
            .iter()
            .filter(|(_, k)| k.user.as_deref() == Some(user_id))
            .map(|(h, k)| (h.clone(), k.clone()))
            .collect();
        list.sort_by_key(|(_, k)| k.created_at);
        ready(Ok(list))
    }

    fn find_model<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, KeyStoreError>> {
        let models = self.models.read().unwrap_or_else(PoisonError::into_inner);
        ready(Ok(models.get(id).cloned()))
    }

    fn put_model<'a>(
        &'a self,
        id: &'a str,
        entry: &'a serde_json::Value,
        replace: bool,
    ) -> BoxFuture<'a, Result<(), WriteError>> {
        let mut models = self.models.write().unwrap_or_else(PoisonError::into_inner);
        match (models.contains_key(id), replace) {
            (true, false) => return ready(Err(WriteError::Exists)),
            (false, true) => return ready(Err(WriteError::NotFound)),
            _ => {}
        }
        models.insert(id.to_owned(), entry.clone());
        ready(Ok(()))
    }

    fn delete_model<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), KeyStoreError>> {
        let mut models = self.models.write().unwrap_or_else(PoisonError::into_inner);
        models.remove(id);
        ready(Ok(()))
    }

    fn list_models(&self) -> BoxFuture<'_, Result<Vec<serde_json::Value>, KeyStoreError>> {
        let models = self.models.read().unwrap_or_else(PoisonError::into_inner);
        ready(Ok(models.values().cloned().collect()))
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
        "max_parallel_requests" => stored.max_parallel_requests = changed.max_parallel_requests,
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
        KeyField::MaxParallel => stored.max_parallel_requests = changed.max_parallel_requests,
        KeyField::Metadata => stored.metadata.clone_from(&changed.metadata),
        KeyField::Guardrails => stored.guardrails.clone_from(&changed.guardrails),
        KeyField::Blocked => stored.blocked = changed.blocked,
        KeyField::Expires => stored.expires_at = changed.expires_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn models_and_users_are_created_once_and_replaced_only_if_there() {
        let store = MemoryKeyStore::new();
        let entry = serde_json::json!({"model_name": "m"});
        assert_eq!(
            store.put_model("a", &entry, true).await,
            Err(WriteError::NotFound)
        );
        store.put_model("a", &entry, false).await.unwrap();
        assert_eq!(
            store.put_model("a", &entry, false).await,
            Err(WriteError::Exists)
        );
        assert_eq!(store.list_models().await.unwrap(), vec![entry.clone()]);
        store.delete_model("a").await.unwrap();
        assert_eq!(store.find_model("a").await.unwrap(), None);
        let user = User {
            user_id: "u".into(),
            ..User::default()
        };
        assert_eq!(store.put_user(&user, true).await, Err(WriteError::NotFound));
        store.put_user(&user, false).await.unwrap();
        assert_eq!(store.put_user(&user, false).await, Err(WriteError::Exists));
        assert_eq!(store.find_user("u").await.unwrap(), Some(user));
    }
}
