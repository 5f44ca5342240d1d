//! Model groups added at run time (LiteLLM's `/model/new`, stored in the table so every
//! instance sees them): rebuilt from the stored entries at each refresh, looked up after the
//! config's groups (which a stored entry may not shadow).
//!
//! A group is built once per version of its entries and kept for the process's life in an
//! append-only map, so a request still running on the previous version finishes on it; only the
//! name-to-version table changes. Each update costs one small group's memory until the
//! instance ends (admin calls, so bounded in practice).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use elsa::sync::{FrozenMap, FrozenVec};
use serde_json::Value;

use super::clock::Clock;
use super::deployment::Deployment;
use super::group::ModelGroup;
use crate::config::{runtime_deployment, ModelDeployment, RouterSettings};
use crate::providers::ChatProvider;

/// Builds the provider of a deployment added at run time (the Bedrock clients of the wiring).
pub type ProviderFactory =
    Arc<dyn Fn(&ModelDeployment) -> Result<Arc<dyn ChatProvider>, String> + Send + Sync>;

/// The most groups an instance builds for wildcard routes (one per model name a caller sends
/// to one); past it, a new name is not found (logged), so callers cannot grow memory without
/// bound.
pub const MAX_WILDCARD_GROUPS: usize = 256;

/// The groups of the stored model entries, and those built for wildcard routes.
pub struct RuntimeGroups {
    wildcard_built: AtomicUsize,
    /// Every version ever built, by `<name>\0<entries as JSON>`.
    built: FrozenMap<String, Box<ModelGroup>>,
    /// Every name ever built, in order (for listings; filtered by `current`).
    names: FrozenVec<String>,
    /// Name to the version in use.
    current: RwLock<BTreeMap<String, String>>,
    settings: RouterSettings,
    clock: Clock,
    factory: Option<ProviderFactory>,
}

impl std::fmt::Debug for RuntimeGroups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeGroups")
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

impl RuntimeGroups {
    pub(super) fn new(settings: RouterSettings, clock: Clock) -> Self {
        RuntimeGroups {
            wildcard_built: AtomicUsize::new(0),
            built: FrozenMap::new(),
            names: FrozenVec::new(),
            current: RwLock::new(BTreeMap::new()),
            settings,
            clock,
            factory: None,
        }
    }

    pub(super) fn set_factory(&mut self, factory: ProviderFactory) {
        self.factory = Some(factory);
    }

    pub fn can_build(&self) -> bool {
        self.factory.is_some()
    }

    pub(super) fn group(&self, name: &str) -> Option<&ModelGroup> {
        let version = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()?;
        self.built.get(&version)
    }

    /// The group for `name` through a wildcard route of `patterns` (config groups named with
    /// one `*`, such as `bedrock/*` or `anthropic.*`; the most specific wins): the pattern's
    /// deployment with the `*` of its model id replaced by what the name's `*` matched. Built
    /// once per name.
    pub(super) fn wildcard<'a>(
        &'a self,
        name: &str,
        patterns: impl Iterator<Item = &'a ModelGroup>,
    ) -> Option<&'a ModelGroup> {
        let version = format!("*\0{name}");
        if let Some(group) = self.built.get(&version) {
            return Some(group);
        }
        let mut matches: Vec<(&ModelGroup, &str)> = patterns
            .filter_map(|g| capture(&g.name, name).map(|c| (g, c)))
            .collect();
        matches.sort_by_key(|(g, _)| std::cmp::Reverse(g.name.len()));
        let (pattern, captured) = matches.into_iter().next()?;
        if !is_model_id_part(captured) {
            return None;
        }
        if self.wildcard_built.load(Ordering::Relaxed) >= MAX_WILDCARD_GROUPS {
            tracing::warn!(pattern = %pattern.name, "wildcard route full; model not built");
            return None;
        }
        let mut config = pattern.deployments.first()?.config.clone();
        config.model_id = config.model_id.replacen('*', captured, 1);
        config.deployment_id = format!("{}:{name}", config.deployment_id);
        config.model_name = name.to_owned();
        let group = self.build(name, vec![(config, &Value::Null)])?;
        self.wildcard_built.fetch_add(1, Ordering::Relaxed);
        Some(self.built.insert(version, Box::new(group)))
    }

    pub(super) fn names(&self) -> impl Iterator<Item = &str> {
        let current = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect::<HashSet<String>>();
        let mut seen = HashSet::new();
        (0..self.names.len())
            .filter_map(|i| self.names.get(i))
            .filter(move |name| current.contains(*name) && seen.insert(name.to_owned()))
    }

    /// Makes `entries` (stored `model_list` entries) the groups in use; `taken` says which
    /// names the config has. An entry that does not build is left out, with a warning.
    pub(super) fn replace(&self, entries: &[Value], taken: &dyn Fn(&str) -> bool) {
        let mut by_name: BTreeMap<String, Vec<(ModelDeployment, &Value)>> = BTreeMap::new();
        for entry in entries {
            match runtime_deployment(entry) {
                Ok(d) if !taken(&d.model_name) => {
                    by_name
                        .entry(d.model_name.clone())
                        .or_default()
                        .push((d, entry));
                }
                Ok(d) => {
                    tracing::warn!(model = %d.model_name, "stored model shadows the config's; left out")
                }
                Err(err) => tracing::warn!(error = %err, "stored model does not build; left out"),
            }
        }
        let mut current = BTreeMap::new();
        for (name, deployments) in by_name {
            let texts: Vec<String> = deployments.iter().map(|(_, e)| e.to_string()).collect();
            let version = format!("{name}\0{}", texts.join("\0"));
            if self.built.get(&version).is_none() {
                let Some(group) = self.build(&name, deployments) else {
                    continue;
                };
                self.built.insert(version.clone(), Box::new(group));
                self.names.push(name.clone());
            }
            current.insert(name, version);
        }
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = current;
    }

    fn build(&self, name: &str, entries: Vec<(ModelDeployment, &Value)>) -> Option<ModelGroup> {
        let factory = self.factory.as_ref()?;
        let mut deployments = Vec::new();
        for (config, _) in entries {
            match factory(&config) {
                Ok(provider) => deployments.push(Deployment::new(
                    config,
                    provider,
                    &self.settings,
                    self.clock,
                )),
                Err(err) => {
                    tracing::warn!(model = %name, error = %err, "no provider for a stored model");
                }
            }
        }
        (!deployments.is_empty())
            .then(|| ModelGroup::new(name.to_owned(), deployments, self.settings.routing_strategy))
    }
}

/// What the one `*` of `pattern` matches in `name` (not empty), if `name` fits it.
pub fn capture<'n>(pattern: &str, name: &'n str) -> Option<&'n str> {
    let (prefix, suffix) = pattern.split_once('*')?;
    if suffix.contains('*') || name.len() <= prefix.len() + suffix.len() {
        return None;
    }
    name.strip_prefix(prefix)?.strip_suffix(suffix)
}

/// A Bedrock model id's characters (no `/`, so a name cannot pick another route), 1 to 128.
fn is_model_id_part(text: &str) -> bool {
    (1..=128).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_star_captures_a_non_empty_middle() {
        assert_eq!(
            capture("bedrock/*", "bedrock/anthropic.x-v1:0"),
            Some("anthropic.x-v1:0")
        );
        assert_eq!(capture("anthropic.*", "anthropic.claude"), Some("claude"));
        assert_eq!(capture("*", "anything"), Some("anything"));
        assert_eq!(capture("bedrock/*", "bedrock/"), None);
        assert_eq!(capture("bedrock/*", "openai/gpt"), None);
        assert_eq!(capture("plain", "plain"), None);
        assert!(!is_model_id_part("a/b"));
        assert!(is_model_id_part("anthropic.claude-3-haiku-20240307-v1:0"));
    }
}
