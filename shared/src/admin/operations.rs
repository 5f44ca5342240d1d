//! What the key and team endpoints do (LiteLLM's `/key/*` and `/team/*`), apart from HTTP:
//! requests are JSON objects, answers are LiteLLM's JSON shapes. Only the master key reaches this
//! (the guard is [`super::master_only`]).

use std::borrow::Cow;

use serde_json::{json, Map, Value};

use super::fields::{set, set_or_default, Fields};
use super::views;
use crate::keys::{
    self, Authenticator, KeyField, KeyHash, KeyStore, KeyStoreError, Team, VirtualKey, WriteError,
    TEAM_FIELDS,
};
use crate::limits::Scope;

/// Why an admin call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdminError {
    #[error("{message}")]
    BadRequest {
        message: Cow<'static, str>,
        param: Option<&'static str>,
    },
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] KeyStoreError),
    /// The usage store (spend) did not answer.
    #[error("usage store unavailable: {0}")]
    Unavailable(String),
}

impl AdminError {
    pub(crate) fn bad(message: impl Into<Cow<'static, str>>, param: &'static str) -> Self {
        AdminError::BadRequest {
            message: message.into(),
            param: Some(param),
        }
    }

    pub fn param(&self) -> Option<&'static str> {
        match self {
            AdminError::BadRequest { param, .. } => *param,
            _ => None,
        }
    }
}

/// The admin operations over a store; changes made here drop this instance's cached copies.
pub struct KeyAdmin<'a> {
    pub(super) store: &'a dyn KeyStore,
    pub(super) auth: &'a Authenticator,
    pub(super) now: u64,
}

impl<'a> KeyAdmin<'a> {
    pub fn new(auth: &'a Authenticator) -> Self {
        KeyAdmin {
            store: auth.store().as_ref(),
            auth,
            now: auth.clock().unix_secs(),
        }
    }

    /// `POST /key/generate`: the new key in plain text, shown this once.
    pub async fn generate_key(&self, body: &Map<String, Value>) -> Result<Value, AdminError> {
        let fields = Fields(body);
        let plain = match fields.string("key")? {
            Some(Some(key)) if keys::is_well_formed(key.trim()) => key.trim().to_owned(),
            Some(Some(_)) => {
                return Err(AdminError::bad(
                    "`key` must start with `sk-` and have 8 to 128 letters, digits, `-` or `_`",
                    "key",
                ))
            }
            _ => keys::new_key().map_err(|err| {
                AdminError::Store(KeyStoreError(format!("no random bytes for a key: {err}")))
            })?,
        };
        let mut key = VirtualKey {
            key_name: short_name(&plain),
            created_at: self.now,
            ..VirtualKey::default()
        };
        self.apply_key(&mut key, &fields).await?;
        if let Some(user_id) = &key.user {
            self.ensure_user(user_id).await?;
        }
        let hash = KeyHash::of(&plain);
        match self.store.create_key(&hash, &key).await {
            Ok(()) => {}
            Err(WriteError::Exists) => {
                return Err(AdminError::bad("this key exists already", "key"))
            }
            Err(WriteError::NotFound) => return Err(AdminError::NotFound("key".into())),
            Err(WriteError::Store(err)) => return Err(err.into()),
        }
        self.auth.forget_key(&hash);
        let mut view = views::key_info(&hash, &key, 0.0, self.now);
        if let Some(object) = view.as_object_mut() {
            views::generated_extras(object, body, &hash, self.now);
            object.insert("key".into(), Value::String(plain));
        }
        Ok(view)
    }

    /// `GET /key/info?key=`: `{"key": ..., "info": {...}}`.
    pub async fn key_info(&self, key: &str) -> Result<Value, AdminError> {
        let (hash, stored) = self.find_key(key).await?;
        let spend = self.key_spend(&hash, &stored).await?;
        Ok(json!({"key": key, "info": views::key_info(&hash, &stored, spend, self.now)}))
    }

    /// `POST /key/update`: the key's fields after the change, with `key` as given.
    pub async fn update_key(&self, body: &Map<String, Value>) -> Result<Value, AdminError> {
        let fields = Fields(body);
        let Some(Some(given)) = fields.string("key")? else {
            return Err(AdminError::bad("`key` is required", "key"));
        };
        let (hash, mut stored) = self.find_key(&given).await?;
        let named = self.apply_key(&mut stored, &fields).await?;
        // Only the named fields are written, in one conditional update: a concurrent update of
        // other fields (`blocked: true`, say) stays as it was written.
        let stored = match self.store.update_key(&hash, &stored, &named).await {
            Ok(updated) => updated,
            Err(WriteError::Store(err)) => return Err(err.into()),
            Err(_) => {
                return Err(AdminError::NotFound(format!(
                    "key `{}` not found",
                    hash.prefix()
                )))
            }
        };
        self.auth.forget_key(&hash);
        let spend = self.key_spend(&hash, &stored).await?;
        let mut view = views::key_info(&hash, &stored, spend, self.now);
        if let Some(object) = view.as_object_mut() {
            object.insert("key".into(), Value::String(given));
        }
        Ok(view)
    }

    /// `POST /key/delete` with `{"keys": [...]}`: every key must exist, else nothing is deleted.
    pub async fn delete_keys(&self, body: &Map<String, Value>) -> Result<Value, AdminError> {
        let Some(Some(keys)) = Fields(body).strings("keys")? else {
            return Err(AdminError::bad(
                "`keys` (a list of keys) is required",
                "keys",
            ));
        };
        let mut hashes = Vec::new();
        for key in &keys {
            hashes.push(self.find_key(key).await?.0);
        }
        self.store.delete_keys(&hashes).await?;
        for hash in &hashes {
            self.auth.forget_key(hash);
        }
        Ok(json!({"deleted_keys": keys}))
    }

    /// `POST /team/new`: the team as stored.
    pub async fn new_team(&self, body: &Map<String, Value>) -> Result<Value, AdminError> {
        let fields = Fields(body);
        let team_id = match fields.string("team_id")? {
            Some(Some(id)) if valid_team_id(&id) => id,
            Some(Some(_)) => {
                return Err(AdminError::bad(
                    "`team_id` must be 1 to 128 letters, digits, `-`, `_`, `.` or `@`",
                    "team_id",
                ))
            }
            _ => uuid::Uuid::new_v4().to_string(),
        };
        let mut team = Team {
            team_id,
            created_at: self.now,
            ..Team::default()
        };
        apply_team(&mut team, &fields)?;
        match self.store.create_team(&team).await {
            Ok(()) => {}
            Err(WriteError::Store(err)) => return Err(err.into()),
            Err(_) => {
                return Err(AdminError::bad(
                    format!("team `{}` exists already", team.team_id),
                    "team_id",
                ))
            }
        }
        self.auth.forget_team(&team.team_id);
        Ok(views::team_info(&team, 0.0, self.now))
    }

    /// `GET /team/info?team_id=`: the team, its keys and (empty) memberships.
    pub async fn team_info(&self, team_id: &str) -> Result<Value, AdminError> {
        let team = self.find_team(team_id).await?;
        let spend = self.team_spend(&team).await?;
        let mut keys = Vec::new();
        for (hash, key) in self.store.team_keys(team_id).await? {
            let spend = self.key_spend(&hash, &key).await?;
            keys.push(views::key_info(&hash, &key, spend, self.now));
        }
        Ok(json!({
            "team_id": team.team_id,
            "team_info": views::team_info(&team, spend, self.now),
            "keys": keys,
            "team_memberships": [],
        }))
    }

    /// `POST /team/update`: `{"team_id": ..., "data": team}`.
    pub async fn update_team(&self, body: &Map<String, Value>) -> Result<Value, AdminError> {
        let fields = Fields(body);
        let Some(Some(team_id)) = fields.string("team_id")? else {
            return Err(AdminError::bad("`team_id` is required", "team_id"));
        };
        let mut team = self.find_team(&team_id).await?;
        apply_team(&mut team, &fields)?;
        // Only the named fields are written: a concurrent update cannot undo `blocked: true`.
        let named: Vec<&'static str> = TEAM_FIELDS
            .into_iter()
            .filter(|name| body.contains_key(*name))
            .collect();
        let team = match self.store.update_team(&team, &named).await {
            Ok(updated) => updated,
            Err(WriteError::Store(err)) => return Err(err.into()),
            Err(_) => return Err(AdminError::NotFound(format!("team `{team_id}` not found"))),
        };
        self.auth.forget_team(&team_id);
        let spend = self.team_spend(&team).await?;
        Ok(json!({"team_id": team_id, "data": views::team_info(&team, spend, self.now)}))
    }

    /// `POST /team/member_add`: `{"team_id", "member": {"user_id", "role"} | [...]}`; members
    /// already there (by `user_id` or `user_email`) are replaced. The team as stored.
    pub async fn add_members(&self, body: &Map<String, Value>) -> Result<Value, AdminError> {
        let fields = Fields(body);
        let Some(Some(team_id)) = fields.string("team_id")? else {
            return Err(AdminError::bad("`team_id` is required", "team_id"));
        };
        let added: Vec<Value> = match body.get("member") {
            Some(Value::Array(list)) => list.clone(),
            Some(member @ Value::Object(_)) => vec![member.clone()],
            _ => {
                return Err(AdminError::bad(
                    "`member` ({\"user_id\", \"role\"} or a list of them) is required",
                    "member",
                ))
            }
        };
        for member in &added {
            if member_id(member).is_none() {
                return Err(AdminError::bad(
                    "each member needs a `user_id` or `user_email`",
                    "member",
                ));
            }
            // LiteLLM's team roles.
            match member.get("role") {
                None | Some(Value::Null) => {}
                Some(Value::String(role)) if role == "admin" || role == "user" => {}
                Some(_) => {
                    return Err(AdminError::bad(
                        "a member's `role` is `admin` or `user`",
                        "member",
                    ))
                }
            }
        }
        let mut team = self.find_team(&team_id).await?;
        for member in added {
            let mut member = member;
            if let Some(object) = member.as_object_mut() {
                if !object.get("role").is_some_and(Value::is_string) {
                    object.insert("role".into(), Value::String("user".into()));
                }
            }
            team.members_with_roles
                .retain(|m| member_id(m) != member_id(&member));
            team.members_with_roles.push(member);
        }
        self.write_members(team).await
    }

    /// `POST /team/member_delete`: `{"team_id", "user_id" | "user_email"}`. The team as stored.
    pub async fn delete_member(&self, body: &Map<String, Value>) -> Result<Value, AdminError> {
        let fields = Fields(body);
        let Some(Some(team_id)) = fields.string("team_id")? else {
            return Err(AdminError::bad("`team_id` is required", "team_id"));
        };
        let user = fields.string("user_id")?.flatten();
        let email = fields.string("user_email")?.flatten();
        if user.is_none() && email.is_none() {
            return Err(AdminError::bad(
                "`user_id` or `user_email` is required",
                "user_id",
            ));
        }
        let mut team = self.find_team(&team_id).await?;
        let before = team.members_with_roles.len();
        team.members_with_roles.retain(|m| {
            let same_user = user
                .as_deref()
                .is_some_and(|u| m.get("user_id").and_then(Value::as_str) == Some(u));
            let same_email = email
                .as_deref()
                .is_some_and(|e| m.get("user_email").and_then(Value::as_str) == Some(e));
            !(same_user || same_email)
        });
        if team.members_with_roles.len() == before {
            return Err(AdminError::NotFound(format!(
                "no such member in team `{team_id}`"
            )));
        }
        self.write_members(team).await
    }

    /// `POST /team/delete`: `{"team_ids": [...]}`; every team must exist. Deletes the teams and
    /// their keys, as LiteLLM does.
    pub async fn delete_teams(&self, body: &Map<String, Value>) -> Result<Value, AdminError> {
        let Some(Some(ids)) = Fields(body).strings("team_ids")? else {
            return Err(AdminError::bad(
                "`team_ids` (a list of team ids) is required",
                "team_ids",
            ));
        };
        for id in &ids {
            self.find_team(id).await?;
        }
        let mut deleted_keys = 0;
        for id in &ids {
            let hashes: Vec<KeyHash> = self
                .store
                .team_keys(id)
                .await?
                .into_iter()
                .map(|(hash, _)| hash)
                .collect();
            self.store.delete_keys(&hashes).await?;
            for hash in &hashes {
                self.auth.forget_key(hash);
            }
            deleted_keys += hashes.len();
            self.store.delete_team(id).await?;
            self.auth.forget_team(id);
        }
        Ok(json!({"deleted_teams": ids, "deleted_keys": deleted_keys}))
    }

    pub(super) async fn write_members(&self, team: Team) -> Result<Value, AdminError> {
        let team_id = team.team_id.clone();
        let team = match self.store.update_team(&team, &["members_with_roles"]).await {
            Ok(updated) => updated,
            Err(WriteError::Store(err)) => return Err(err.into()),
            Err(_) => return Err(AdminError::NotFound(format!("team `{team_id}` not found"))),
        };
        self.auth.forget_team(&team_id);
        let spend = self.team_spend(&team).await?;
        let mut view = views::team_info(&team, spend, self.now);
        if let Some(object) = view.as_object_mut() {
            object.insert("updated_users".into(), json!([]));
            object.insert("updated_team_memberships".into(), json!([]));
        }
        Ok(view)
    }

    /// A key named by its plain text or by its hash (`token`).
    async fn find_key(&self, given: &str) -> Result<(KeyHash, VirtualKey), AdminError> {
        if let Some(hash) = KeyHash::parse(given) {
            if let Some(key) = self.store.find(&hash).await? {
                return Ok((hash, key));
            }
        }
        let hash = KeyHash::of(given);
        match self.store.find(&hash).await? {
            Some(key) => Ok((hash, key)),
            None => Err(AdminError::NotFound("key not found".into())),
        }
    }

    pub(super) async fn find_team(&self, team_id: &str) -> Result<Team, AdminError> {
        self.store
            .find_team(team_id)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("team `{team_id}` not found")))
    }

    pub(super) async fn key_spend(
        &self,
        hash: &KeyHash,
        key: &VirtualKey,
    ) -> Result<f64, AdminError> {
        let period = key.limits().budget_sort_key(self.now);
        Ok(self
            .store
            .spend(&Scope::Key(hash.as_str().to_owned()), &period)
            .await?)
    }

    pub(super) async fn team_spend(&self, team: &Team) -> Result<f64, AdminError> {
        let period = team.limits().budget_sort_key(self.now);
        Ok(self
            .store
            .spend(&Scope::Team(team.team_id.clone()), &period)
            .await?)
    }

    /// Applies the body's key fields to `key`; the fields it names.
    async fn apply_key(
        &self,
        key: &mut VirtualKey,
        fields: &Fields<'_>,
    ) -> Result<Vec<KeyField>, AdminError> {
        // As in LiteLLM, the admin may name a team that does not exist yet: the key is
        // refused nothing for it, and takes the team's limits once the team is created.
        let team = fields.string("team_id")?;
        if let Some(Some(id)) = &team {
            if !valid_team_id(id) {
                return Err(AdminError::bad(
                    "`team_id` must be 1 to 128 letters, digits, `-`, `_`, `.` or `@`",
                    "team_id",
                ));
            }
        }
        let mut named = Vec::new();
        let mut note = |field: KeyField, given: bool| {
            if given {
                named.push(field);
            }
        };
        note(KeyField::Team, team.is_some());
        set(&mut key.team, team);
        let alias = fields.string("key_alias")?;
        note(KeyField::Alias, alias.is_some());
        set(&mut key.alias, alias);
        let user = fields.string("user_id")?;
        note(KeyField::User, user.is_some());
        set(&mut key.user, user);
        let models = fields.strings("models")?;
        note(KeyField::Models, models.is_some());
        set_or_default(&mut key.models, models);
        let max_budget = fields.amount("max_budget")?;
        note(KeyField::MaxBudget, max_budget.is_some());
        set(&mut key.max_budget, max_budget);
        let budget_duration = fields.duration("budget_duration")?;
        note(KeyField::BudgetDuration, budget_duration.is_some());
        set(&mut key.budget_duration, budget_duration);
        let rpm = fields.count("rpm_limit")?;
        note(KeyField::RpmLimit, rpm.is_some());
        set(&mut key.rpm_limit, rpm);
        let tpm = fields.count("tpm_limit")?;
        note(KeyField::TpmLimit, tpm.is_some());
        set(&mut key.tpm_limit, tpm);
        let parallel = fields.count("max_parallel_requests")?;
        note(KeyField::MaxParallel, parallel.is_some());
        set(&mut key.max_parallel_requests, parallel);
        let metadata = fields.object("metadata")?;
        note(KeyField::Metadata, metadata.is_some());
        set_or_default(&mut key.metadata, metadata);
        let guardrails = fields.strings("guardrails")?;
        note(KeyField::Guardrails, guardrails.is_some());
        set_or_default(&mut key.guardrails, guardrails);
        let blocked = fields.flag("blocked")?;
        note(KeyField::Blocked, blocked.is_some());
        set_or_default(&mut key.blocked, blocked);
        if let Some(duration) = fields.duration("duration")? {
            note(KeyField::Expires, true);
            key.expires_at = duration
                .as_deref()
                .and_then(keys::parse_duration)
                .map(|d| self.now + d.as_secs());
        }
        Ok(named)
    }
}

fn apply_team(team: &mut Team, fields: &Fields<'_>) -> Result<(), AdminError> {
    set(&mut team.team_alias, fields.string("team_alias")?);
    set_or_default(&mut team.models, fields.strings("models")?);
    set(&mut team.max_budget, fields.amount("max_budget")?);
    set(
        &mut team.budget_duration,
        fields.duration("budget_duration")?,
    );
    set(&mut team.rpm_limit, fields.count("rpm_limit")?);
    set(&mut team.tpm_limit, fields.count("tpm_limit")?);
    set(
        &mut team.max_parallel_requests,
        fields.count("max_parallel_requests")?,
    );
    set_or_default(&mut team.metadata, fields.object("metadata")?);
    set_or_default(&mut team.guardrails, fields.strings("guardrails")?);
    set_or_default(&mut team.blocked, fields.flag("blocked")?);
    set_or_default(
        &mut team.members_with_roles,
        fields.list("members_with_roles")?,
    );
    Ok(())
}

/// A team member's identity: its `user_id`, else its `user_email`.
pub(super) fn member_id(member: &Value) -> Option<&str> {
    member
        .get("user_id")
        .and_then(Value::as_str)
        .or_else(|| member.get("user_email").and_then(Value::as_str))
}

/// LiteLLM's abbreviation: `sk-...` and the last four characters.
fn short_name(key: &str) -> String {
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("sk-...{tail}")
}

pub(super) fn valid_team_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{MasterKey, MemoryKeyStore};
    use std::sync::Arc;
    use std::time::Duration;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[tokio::test]
    async fn keys_and_teams_in_memory() {
        let store = Arc::new(MemoryKeyStore::new());
        let auth = Authenticator::new(MasterKey::None, store.clone(), Duration::from_secs(10));
        let admin = KeyAdmin::new(&auth);
        let team = admin
            .new_team(&obj(
                json!({"team_id": "t1", "max_budget": 2.0, "rpm_limit": 5}),
            ))
            .await
            .unwrap();
        assert_eq!(team["team_id"], "t1");
        assert_eq!(team["max_budget"], 2.0);
        let made = admin
            .generate_key(&obj(
                json!({"team_id": "t1", "models": ["m"], "duration": "1d"}),
            ))
            .await
            .unwrap();
        let plain = made["key"].as_str().unwrap().to_owned();
        assert!(plain.starts_with("sk-"));
        assert_eq!(made["token"], KeyHash::of(&plain).as_str());
        assert!(made["expires"].is_string());
        let info = admin.key_info(&plain).await.unwrap();
        assert_eq!(info["info"]["team_id"], "t1");
        assert_eq!(info["info"].get("key"), None);
        // The admin may mint a key for a team that does not exist yet (LiteLLM does).
        let teamless = admin
            .generate_key(&obj(json!({"team_id": "later"})))
            .await
            .unwrap();
        assert_eq!(teamless["team_id"], "later");
        assert_eq!(teamless["token_id"], teamless["token"]);
        assert!(teamless["updated_at"].is_string());
        let bad_team = admin
            .generate_key(&obj(json!({"team_id": "no spaces"})))
            .await
            .unwrap_err();
        assert_eq!(bad_team.param(), Some("team_id"));
        let listed = admin.team_info("t1").await.unwrap();
        assert_eq!(listed["keys"].as_array().unwrap().len(), 1);
        let deleted = admin
            .delete_keys(&obj(json!({"keys": [plain.clone()]})))
            .await
            .unwrap();
        assert_eq!(deleted, json!({"deleted_keys": [plain]}));
        assert!(matches!(
            admin.key_info(&plain).await,
            Err(AdminError::NotFound(_))
        ));
        assert_eq!(short_name("sk-abcdef"), "sk-...cdef");
    }
}
