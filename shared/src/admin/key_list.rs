//! LiteLLM's `GET /key/list` and `POST /key/block` / `/key/unblock`, apart from HTTP.
//!
//! The listing: keys filtered by `user_id`, `team_id`, `key_alias` and `key_hash`, newest first
//! (ties by hash, as LiteLLM orders them), paged from 1; each key as its hash (LiteLLM's
//! `token`) or, with `return_full_object`, as `/key/info` shows it. Never a key in plain text.

use serde_json::{json, Map, Value};

use super::{views, AdminError, KeyAdmin};
use crate::keys::{KeyHash, VirtualKey};

/// `/key/list`'s page size unless `size` is given, and the largest it may be (LiteLLM's).
pub const DEFAULT_KEY_PAGE_SIZE: usize = 10;
pub const MAX_KEY_PAGE_SIZE: usize = 100;

/// What `/key/list` narrows the keys to; `None` is no condition.
#[derive(Debug, Default, Clone)]
pub struct KeyFilter {
    pub user_id: Option<String>,
    pub team_id: Option<String>,
    pub key_alias: Option<String>,
    /// A key's hash (or, leniently, the key itself).
    pub key_hash: Option<String>,
}

impl KeyFilter {
    fn matches(&self, hash: &KeyHash, key: &VirtualKey) -> bool {
        let same = |wanted: &Option<String>, have: &Option<String>| {
            wanted.as_ref().is_none_or(|w| have.as_ref() == Some(w))
        };
        same(&self.user_id, &key.user)
            && same(&self.team_id, &key.team)
            && same(&self.key_alias, &key.alias)
            && self.key_hash.as_deref().is_none_or(|given| {
                KeyHash::parse(given).is_some_and(|h| &h == hash) || &KeyHash::of(given) == hash
            })
    }
}

impl KeyAdmin<'_> {
    /// `GET /key/list`: `{"keys", "total_count", "current_page", "total_pages"}`.
    pub async fn list_keys(
        &self,
        filter: &KeyFilter,
        page: usize,
        size: usize,
        full: bool,
    ) -> Result<Value, AdminError> {
        // One query: a user's or a team's keys when the filter names one, else all of them.
        let mut keys = match (&filter.user_id, &filter.team_id) {
            (Some(user), _) => self.store.user_keys(user).await?,
            (None, Some(team)) => self.store.team_keys(team).await?,
            (None, None) => self.store.list_keys().await?,
        };
        keys.retain(|(hash, key)| filter.matches(hash, key));
        keys.sort_by(|(ha, a), (hb, b)| {
            (b.created_at, hb.as_str()).cmp(&(a.created_at, ha.as_str()))
        });
        let size = size.clamp(1, MAX_KEY_PAGE_SIZE);
        let page = page.max(1);
        let total = keys.len();
        let mut shown = Vec::new();
        for (hash, key) in keys.iter().skip((page - 1).saturating_mul(size)).take(size) {
            shown.push(if full {
                let spend = self.key_spend(hash, key).await?;
                views::key_info(hash, key, spend, self.now)
            } else {
                Value::String(hash.as_str().to_owned())
            });
        }
        Ok(json!({
            "keys": shown,
            "total_count": total,
            "current_page": page,
            "total_pages": total.div_ceil(size),
        }))
    }

    /// `POST /key/block` and `/key/unblock`: `{"key"}` (plain or hashed) blocked or not, as
    /// `/key/update` with `blocked` would; the key's fields after the change.
    pub async fn block_key(
        &self,
        body: &Map<String, Value>,
        blocked: bool,
    ) -> Result<Value, AdminError> {
        let Some(Value::String(key)) = body.get("key") else {
            return Err(AdminError::bad("`key` is required", "key"));
        };
        let mut update = Map::new();
        update.insert("key".into(), Value::String(key.clone()));
        update.insert("blocked".into(), Value::Bool(blocked));
        self.update_key(&update).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_name_user_team_alias_and_hash() {
        let key = VirtualKey {
            user: Some("ann".into()),
            team: Some("ops".into()),
            alias: Some("ci".into()),
            ..VirtualKey::default()
        };
        let hash = KeyHash::of("sk-listed-key-1");
        let filter = |f: KeyFilter| f.matches(&hash, &key);
        assert!(filter(KeyFilter::default()));
        assert!(filter(KeyFilter {
            user_id: Some("ann".into()),
            team_id: Some("ops".into()),
            key_alias: Some("ci".into()),
            key_hash: Some(hash.as_str().into()),
        }));
        assert!(filter(KeyFilter {
            key_hash: Some("sk-listed-key-1".into()),
            ..KeyFilter::default()
        }));
        assert!(!filter(KeyFilter {
            user_id: Some("bob".into()),
            ..KeyFilter::default()
        }));
        assert!(!filter(KeyFilter {
            key_alias: Some("other".into()),
            ..KeyFilter::default()
        }));
        assert!(!filter(KeyFilter {
            key_hash: Some(KeyHash::of("sk-another-key").as_str().into()),
            ..KeyFilter::default()
        }));
    }
}
