//! Models added at run time reach every instance: each refreshes its run-time groups from the
//! table when the last refresh is older than the key cache's TTL (`GATEWAY_KEY_CACHE_TTL_SECS`,
//! the same bound as a key's change), in one query, at the start of a request that names no
//! group of the config (requests for the config's models never wait for it), or in the
//! background for a model listing; concurrent requests go on with what they have meanwhile. An instance's own admin changes refresh at
//! once. A store that does not answer keeps the groups as they were (logged).

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::gateway::Gateway;

/// When run-time models were last read, and the one refresh in flight.
#[derive(Debug)]
pub(crate) struct ModelRefresh {
    every: Duration,
    next: Mutex<Option<Instant>>,
    running: tokio::sync::Mutex<()>,
}

impl ModelRefresh {
    pub(crate) fn new(every: Duration) -> Self {
        ModelRefresh {
            every,
            next: Mutex::new(None),
            running: tokio::sync::Mutex::new(()),
        }
    }
}

impl Gateway {
    /// Reads the stored models if they are due (or `now`), when this instance serves them.
    /// True when their access groups changed: a principal authenticated before is stale.
    pub async fn refresh_models(&self, now: bool) -> bool {
        if !self.router.serves_runtime_models() {
            return false;
        }
        if !now && !self.models_due() {
            return false;
        }
        let _running = if now {
            self.models.running.lock().await
        } else {
            match self.models.running.try_lock() {
                Ok(guard) => guard,
                Err(_) => return false,
            }
        };
        let changed = match self.auth.store().list_models().await {
            Ok(entries) => {
                self.router.replace_runtime_models(&entries);
                let groups =
                    runtime_access_groups(&entries, &|name| self.is_configured_model(name));
                self.auth.set_runtime_access_groups(&groups)
            }
            Err(err) => {
                tracing::warn!(error = %err, "stored models not read; kept as they were");
                false
            }
        };
        *self
            .models
            .next
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + self.models.every);
        changed
    }

    /// Before a request for `model` runs: a name the config does not have reads the stored
    /// models if due. True when that changed the access groups, so the caller's principal
    /// (authenticated before the body named a model) must be authenticated again.
    pub async fn refresh_models_for(&self, model: &str) -> bool {
        !self.router.is_configured(model) && self.refresh_models(false).await
    }

    /// For listings (`/v1/models`, `/model/info`): starts a refresh if one is due, without
    /// waiting for it (a store that stalls must not hold a listing), so a listing shows what
    /// the last refresh read.
    pub fn refresh_models_soon(self: &std::sync::Arc<Self>) {
        if !self.router.serves_runtime_models() || !self.models_due() {
            return;
        }
        let gateway = std::sync::Arc::clone(self);
        tokio::spawn(async move { gateway.refresh_models(false).await });
    }

    fn models_due(&self) -> bool {
        self.models
            .next
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none_or(|next| Instant::now() >= next)
    }

    /// Whether `name` is a group of the config.
    pub fn is_configured_model(&self, name: &str) -> bool {
        self.router.is_configured(name)
    }

    /// Whether `id` is a deployment id of the config.
    pub fn is_configured_deployment(&self, id: &str) -> bool {
        self.router.is_configured_deployment(id)
    }

    /// Whether this instance builds and serves models added at run time.
    pub fn serves_runtime_models(&self) -> bool {
        self.router.serves_runtime_models()
    }
}

/// The stored models' `model_info.access_groups`: access group to model groups. An entry named
/// like a group of the config (which the router leaves out) adds nothing.
fn runtime_access_groups(
    entries: &[serde_json::Value],
    configured: &dyn Fn(&str) -> bool,
) -> BTreeMap<String, Vec<String>> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in entries {
        let Some(name) = entry["model_name"].as_str().filter(|n| !configured(n)) else {
            continue;
        };
        let names = entry["model_info"]["access_groups"].as_array();
        for group in names.into_iter().flatten().filter_map(|g| g.as_str()) {
            let members = groups.entry(group.to_owned()).or_default();
            if !members.iter().any(|m| m == name) {
                members.push(name.to_owned());
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn stored_models_join_their_access_groups_unless_they_shadow_the_config() {
        let entries = [
            json!({"model_name": "llama", "model_info": {"access_groups": ["beta", "open"]}}),
            json!({"model_name": "llama", "model_info": {"access_groups": ["beta"]}}),
            json!({"model_name": "claude-3-sonnet", "model_info": {"access_groups": ["beta"]}}),
            json!({"model_name": "mistral"}),
        ];
        let groups = super::runtime_access_groups(&entries, &|n| n == "claude-3-sonnet");
        assert_eq!(groups["beta"], ["llama"]);
        assert_eq!(groups["open"], ["llama"]);
        assert_eq!(groups.len(), 2);
    }
}
