//! LiteLLM's model access groups: a key's or team's `models` may name a group of model groups
//! (`model_info.access_groups` in the config) instead of each model, or the special
//! `all-proxy-models` / `*` (every model) and, on a key, `all-team-models` (whatever its team
//! may use). Expanded before a key's list is narrowed by its team's, so a group never widens
//! what a team allows.

use std::collections::BTreeMap;

/// Every model.
pub const ALL_PROXY_MODELS: &str = "all-proxy-models";
/// A key's: whatever its team may use.
pub const ALL_TEAM_MODELS: &str = "all-team-models";

/// Access group name to the model groups in it (config order, no repeats).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessGroups(BTreeMap<String, Vec<String>>);

impl AccessGroups {
    pub fn new(groups: BTreeMap<String, Vec<String>>) -> Self {
        AccessGroups(groups)
    }

    /// These groups with `more`'s members added (new groups, and new members at the end).
    pub fn with(&self, more: &BTreeMap<String, Vec<String>>) -> Self {
        let mut groups = self.0.clone();
        for (name, models) in more {
            let members = groups.entry(name.clone()).or_default();
            for model in models {
                if !members.contains(model) {
                    members.push(model.clone());
                }
            }
        }
        AccessGroups(groups)
    }

    /// The model groups in the access group `name`, if it is one.
    pub fn members(&self, name: &str) -> Option<&[String]> {
        self.0.get(name).map(Vec::as_slice)
    }

    /// The access groups `model` belongs to.
    pub fn groups_of(&self, model: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(_, members)| members.iter().any(|m| m == model))
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// A `models` list with its access groups replaced by their members; empty (all) when it
    /// names `all-proxy-models`, `*` or `all-team-models`. A name that is neither a group nor
    /// special stays as it is (a model group's own name).
    pub fn expand(&self, models: &[String]) -> Vec<String> {
        if models
            .iter()
            .any(|m| m == ALL_PROXY_MODELS || m == "*" || m == ALL_TEAM_MODELS)
        {
            return Vec::new();
        }
        let mut out: Vec<String> = Vec::new();
        for name in models {
            let members = self
                .members(name)
                .map_or_else(|| vec![name.clone()], <[String]>::to_vec);
            for model in members {
                if !out.contains(&model) {
                    out.push(model);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    #[test]
    fn groups_expand_and_specials_mean_all() {
        let groups = AccessGroups::new(BTreeMap::from([(
            "beta".to_owned(),
            list(&["haiku", "sonnet"]),
        )]));
        assert_eq!(
            groups.expand(&list(&["beta", "nova"])),
            list(&["haiku", "sonnet", "nova"])
        );
        assert_eq!(
            groups.expand(&list(&["haiku", "beta"])),
            list(&["haiku", "sonnet"])
        );
        assert!(groups.expand(&list(&["all-proxy-models"])).is_empty());
        assert!(groups.expand(&list(&["*"])).is_empty());
        assert!(groups.expand(&list(&["all-team-models"])).is_empty());
        assert_eq!(groups.groups_of("sonnet"), ["beta"]);
        assert!(groups.groups_of("nova").is_empty());
    }

    #[test]
    fn run_time_members_join_the_configs_groups() {
        let config = AccessGroups::new(BTreeMap::from([("beta".to_owned(), list(&["haiku"]))]));
        let merged = config.with(&BTreeMap::from([
            ("beta".to_owned(), list(&["haiku", "llama"])),
            ("new".to_owned(), list(&["llama"])),
        ]));
        assert_eq!(merged.members("beta").unwrap(), list(&["haiku", "llama"]));
        assert_eq!(merged.members("new").unwrap(), list(&["llama"]));
        assert_eq!(
            config.members("beta").unwrap(),
            list(&["haiku"]),
            "unchanged"
        );
    }

    #[test]
    fn a_group_never_widens_a_team() {
        let groups = AccessGroups::new(BTreeMap::from([(
            "everything".to_owned(),
            list(&["a", "b", "c"]),
        )]));
        let allowed = super::super::principal::allowed_models(
            &groups.expand(&list(&["everything"])),
            &groups.expand(&list(&["a"])),
        );
        assert_eq!(allowed.unwrap().to_vec(), list(&["a"]));
        let allowed = super::super::principal::allowed_models(
            &groups.expand(&list(&["all-proxy-models"])),
            &groups.expand(&list(&["b"])),
        );
        assert_eq!(allowed.unwrap().to_vec(), list(&["b"]));
    }
}
