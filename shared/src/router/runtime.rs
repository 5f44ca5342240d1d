//! Model groups added at run time (LiteLLM's `/model/new`, stored in the table so every
//! instance sees them): rebuilt from the stored entries at each refresh, looked up after the
//! config's groups (which a stored entry may not shadow).
//!
//! A group is built once per version of its entries and kept for the process's life in an
//! append-only map, so a request still running on the previous version finishes on it; only the
//! name-to-version table changes. Each update costs one small group's memory until the
//! instance ends (admin calls, so bounded in practice).

use std::collections::{BTreeMap, HashSet};
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

/// The groups of the stored model entries.
pub struct RuntimeGroups {
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
