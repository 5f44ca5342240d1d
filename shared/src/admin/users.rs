//! LiteLLM's users (`/user/new`, `/user/info`, `/user/update`, `/user/delete`, `/user/list`),
//! apart from HTTP. A user owns the keys that name it (`user_id`); deleting a user deletes
//! them and takes it out of its teams, as LiteLLM does. Its spend is its keys' spend.

use serde_json::{json, Map, Value};

use super::fields::{set, set_or_default, Fields};
use super::operations::{member_id, valid_team_id};
use super::{views, AdminError, KeyAdmin};
use crate::keys::{KeyHash, Team, User, WriteError, USER_ROLES};

/// `/user/list`'s page size unless `page_size` is given, and the largest it may be.
pub const DEFAULT_USER_PAGE_SIZE: usize = 25;
pub const MAX_USER_PAGE_SIZE: usize = 100;

impl KeyAdmin<'_> {
    /// `POST /user/new`: the user and, unless `auto_create_key` is false, a new key for it
    /// (`key`, in plain text this once). With `team_id`, the user joins that team as `user`.
    pub async fn new_user(&self, body: &Map<String, Value>) -> Result<Value, AdminError> {
        let fields = Fields(body);
        let user_id = match fields.string("user_id")? {
            Some(Some(id)) if valid_team_id(&id) => id,
            Some(Some(_)) => {
                return Err(AdminError::bad(
                    "`user_id` must be 1 to 128 letters, digits, `-`, `_`, `.` or `@`",
                    "user_id",
                ))
            }
            _ => uuid::Uuid::new_v4().to_string(),
        };
        let team_id = fields.string("team_id")?.flatten();
        if let Some(team_id) = &team_id {
            self.find_team(team_id).await?;
        }
        let auto_create_key = fields.flag("auto_create_key")?.flatten().unwrap_or(true);
        let mut user = User {
            user_id,
            user_role: "internal_user".into(),
            created_at: self.now,
            updated_at: self.now,
            ..User::default()
        };
        apply_user(&mut user, &fields)?;
        match self.store.put_user(&user, false).await {
            Ok(()) => {}
            Err(WriteError::Store(err)) => return Err(err.into()),
            Err(_) => {
                return Err(AdminError::bad(
                    format!("user `{}` exists already", user.user_id),
                    "user_id",
                ))
            }
        }
        if let Some(team_id) = &team_id {
            self.join_team(team_id, &user).await?;
        }
        let key = if auto_create_key {
            let mut key_body = Map::new();
            key_body.insert("user_id".into(), json!(user.user_id));
            key_body.insert("models".into(), json!(user.models));
            if let Some(team_id) = &team_id {
                key_body.insert("team_id".into(), json!(team_id));
            }
            Some(self.generate_key(&key_body).await?)
        } else {
            None
        };
        let mut view = user_view(&user, 0.0);
        if let Some(object) = view.as_object_mut() {
            let field = |name: &str| key.as_ref().and_then(|k| k.get(name)).cloned();
            object.insert("key".into(), field("key").unwrap_or(Value::Null));
            object.insert("token".into(), field("token").unwrap_or(Value::Null));
            object.insert("expires".into(), field("expires").unwrap_or(Value::Null));
            object.insert("team_id".into(), json!(team_id));
            object.insert("teams".into(), json!(team_id.iter().collect::<Vec<_>>()));
        }
        Ok(view)
    }

    /// `GET /user/info?user_id=`: `{"user_id", "user_info", "keys", "teams"}`.
    pub async fn user_info(&self, user_id: &str) -> Result<Value, AdminError> {
        let user = self.find_user(user_id).await?;
        let mut keys = Vec::new();
        let mut spend = 0.0;
        for (hash, key) in self.store.user_keys(user_id).await? {
            let key_spend = self.key_spend(&hash, &key).await?;
            spend += key_spend;
            keys.push(views::key_info(&hash, &key, key_spend, self.now));
        }
        let teams: Vec<Value> = self
            .teams_of(user_id)
            .await?
            .iter()
            .map(|team| views::team_info(team, 0.0, self.now))
            .collect();
        Ok(json!({
            "user_id": user_id,
            "user_info": user_view(&user, spend),
            "keys": keys,
            "teams": teams,
        }))
    }

    /// `POST /user/update`: `{"user_id", "data": user}`.
    pub async fn update_user(&self, body: &Map<String, Value>) -> Result<Value, AdminError> {
        let fields = Fields(body);
        let Some(Some(user_id)) = fields.string("user_id")? else {
            return Err(AdminError::bad("`user_id` is required", "user_id"));
        };
        let mut user = self.find_user(&user_id).await?;
        apply_user(&mut user, &fields)?;
        user.updated_at = self.now;
        match self.store.put_user(&user, true).await {
            Ok(()) => self.auth.forget_user(&user_id),
            Err(WriteError::Store(err)) => return Err(err.into()),
            Err(_) => return Err(AdminError::NotFound(format!("user `{user_id}` not found"))),
        }
        Ok(json!({"user_id": user_id, "data": user_view(&user, 0.0)}))
    }

    /// `POST /user/delete` with `{"user_ids": [...]}`: every user must exist, else nothing is
    /// deleted. Their keys go with them, and they leave their teams.
    pub async fn delete_users(&self, body: &Map<String, Value>) -> Result<Value, AdminError> {
        let Some(Some(ids)) = Fields(body).strings("user_ids")? else {
            return Err(AdminError::bad(
                "`user_ids` (a list of user ids) is required",
                "user_ids",
            ));
        };
        for id in &ids {
            self.find_user(id).await?;
        }
        let mut deleted_keys = 0;
        for id in &ids {
            let hashes: Vec<KeyHash> = self
                .store
                .user_keys(id)
                .await?
                .into_iter()
                .map(|(hash, _)| hash)
                .collect();
            self.store.delete_keys(&hashes).await?;
            for hash in &hashes {
                self.auth.forget_key(hash);
            }
            deleted_keys += hashes.len();
            for mut team in self.teams_of(id).await? {
                team.members_with_roles
                    .retain(|m| m.get("user_id").and_then(Value::as_str) != Some(id));
                self.write_members(team).await?;
            }
            self.store.delete_user(id).await?;
            self.auth.forget_user(id);
        }
        Ok(json!({"deleted_users": ids, "deleted_keys": deleted_keys}))
    }

    /// `GET /user/list[?page=&page_size=]`: LiteLLM's paged listing (pages from 1).
    pub async fn list_users(&self, page: usize, page_size: usize) -> Result<Value, AdminError> {
        let users = self.store.list_users().await?;
        let total = users.len();
        let page_size = page_size.clamp(1, MAX_USER_PAGE_SIZE);
        let page = page.max(1);
        let shown: Vec<Value> = users
            .iter()
            .skip((page - 1).saturating_mul(page_size))
            .take(page_size)
            .map(|user| user_view(user, 0.0))
            .collect();
        Ok(json!({
            "users": shown,
            "total": total,
            "page": page,
            "page_size": page_size,
            "total_pages": total.div_ceil(page_size),
        }))
    }

    /// The user a new key names, created (no budget, no limits, `internal_user`) when the table
    /// has none, as LiteLLM's `/key/generate` does. An id `/user/new` would refuse is left as the
    /// key's label only; a user created meanwhile by another request is kept as it is.
    pub(super) async fn ensure_user(&self, user_id: &str) -> Result<(), AdminError> {
        if !valid_team_id(user_id) || self.store.find_user(user_id).await?.is_some() {
            return Ok(());
        }
        let user = User {
            user_id: user_id.to_owned(),
            user_role: "internal_user".into(),
            created_at: self.now,
            updated_at: self.now,
            ..User::default()
        };
        match self.store.put_user(&user, false).await {
            Ok(()) | Err(WriteError::Exists | WriteError::NotFound) => Ok(()),
            Err(WriteError::Store(err)) => Err(err.into()),
        }
    }

    async fn find_user(&self, user_id: &str) -> Result<User, AdminError> {
        self.store
            .find_user(user_id)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("user `{user_id}` not found")))
    }

    /// The teams that list `user_id` among their members.
    async fn teams_of(&self, user_id: &str) -> Result<Vec<Team>, AdminError> {
        Ok(self
            .store
            .list_teams()
            .await?
            .into_iter()
            .filter(|team| {
                team.members_with_roles
                    .iter()
                    .any(|m| m.get("user_id").and_then(Value::as_str) == Some(user_id))
            })
            .collect())
    }

    async fn join_team(&self, team_id: &str, user: &User) -> Result<(), AdminError> {
        let mut team = self.find_team(team_id).await?;
        let mut member = json!({"user_id": user.user_id, "role": "user"});
        if let (Some(email), Some(object)) = (&user.user_email, member.as_object_mut()) {
            object.insert("user_email".into(), json!(email));
        }
        team.members_with_roles
            .retain(|m| member_id(m) != Some(user.user_id.as_str()));
        team.members_with_roles.push(member);
        self.write_members(team).await.map(|_| ())
    }
}

fn apply_user(user: &mut User, fields: &Fields<'_>) -> Result<(), AdminError> {
    if let Some(role) = fields.string("user_role")? {
        let role = role.unwrap_or_else(|| "internal_user".into());
        if !USER_ROLES.contains(&role.as_str()) {
            return Err(AdminError::bad(
                format!("`user_role` must be one of {}", USER_ROLES.join(", ")),
                "user_role",
            ));
        }
        user.user_role = role;
    }
    set(&mut user.user_alias, fields.string("user_alias")?);
    set(&mut user.user_email, fields.string("user_email")?);
    set_or_default(&mut user.models, fields.strings("models")?);
    set(&mut user.max_budget, fields.amount("max_budget")?);
    set(
        &mut user.budget_duration,
        fields.duration("budget_duration")?,
    );
    set(&mut user.tpm_limit, fields.count("tpm_limit")?);
    set(&mut user.rpm_limit, fields.count("rpm_limit")?);
    set_or_default(&mut user.metadata, fields.object("metadata")?);
    Ok(())
}

/// A user as LiteLLM shows it (`user_info`, `/user/list`'s rows).
fn user_view(user: &User, spend: f64) -> Value {
    json!({
        "user_id": user.user_id,
        "user_alias": user.user_alias,
        "user_email": user.user_email,
        "user_role": user.user_role,
        "models": user.models,
        "max_budget": user.max_budget,
        "budget_duration": user.budget_duration,
        "tpm_limit": user.tpm_limit,
        "rpm_limit": user.rpm_limit,
        "metadata": user.metadata,
        "spend": spend,
        "created_at": views::iso(user.created_at),
        "updated_at": views::iso(user.updated_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Authenticator, MasterKey, MemoryKeyStore};
    use std::sync::Arc;
    use std::time::Duration;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[tokio::test]
    async fn users_in_memory() {
        let store = Arc::new(MemoryKeyStore::new());
        let auth = Authenticator::new(MasterKey::None, store, Duration::from_secs(10));
        let admin = KeyAdmin::new(&auth);
        let made = admin
            .new_user(&obj(json!({"user_id": "u1", "max_budget": 3.0})))
            .await
            .unwrap();
        assert!(made["key"].as_str().unwrap().starts_with("sk-"));
        let info = admin.user_info("u1").await.unwrap();
        assert_eq!(info["keys"].as_array().unwrap().len(), 1);
        assert_eq!(info["user_info"]["max_budget"], 3.0);
        let bad = admin
            .update_user(&obj(json!({"user_id": "u1", "user_role": "god"})))
            .await
            .unwrap_err();
        assert_eq!(bad.param(), Some("user_role"));
        let deleted = admin
            .delete_users(&obj(json!({"user_ids": ["u1"]})))
            .await
            .unwrap();
        assert_eq!(deleted["deleted_keys"], 1);
        assert!(matches!(
            admin.user_info("u1").await,
            Err(AdminError::NotFound(_))
        ));
        assert_eq!(admin.list_users(1, 25).await.unwrap()["total"], 0);
    }
}
