//! LiteLLM's `drop_params` settings: OpenAI parameters a model cannot honour are dropped instead
//! of refused, everywhere (`litellm_settings.drop_params`) or per model group
//! (`litellm_params.drop_params`, `litellm_params.additional_drop_params`).

use std::collections::BTreeMap;

use super::raw::RawConfig;

/// What the config says to drop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropParams {
    /// `litellm_settings.drop_params`: drop every parameter the model cannot honour.
    pub all: bool,
    /// Per model group, from its deployments' `litellm_params`.
    pub groups: BTreeMap<String, GroupDrops>,
}

/// A model group's own drop settings. Deployments of one group are interchangeable, so a
/// group drops what any of its deployments says to drop (conversion happens before routing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupDrops {
    /// `litellm_params.drop_params: true` on a deployment of the group.
    pub all: bool,
    /// `litellm_params.additional_drop_params`: parameters dropped even when supported.
    pub names: Vec<String>,
}

impl DropParams {
    /// What to drop for a request to `group`: (drop every unsupported parameter, named ones).
    /// A request's own `drop_params` wins over the config's, as in LiteLLM.
    pub fn for_request(
        &self,
        group: &str,
        requested_all: Option<bool>,
        requested_names: &[String],
    ) -> (bool, Vec<String>) {
        let own = self.groups.get(group);
        let all = requested_all.unwrap_or(self.all || own.is_some_and(|g| g.all));
        let mut names: Vec<String> = own.map(|g| g.names.clone()).unwrap_or_default();
        for name in requested_names {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        (all, names)
    }
}

/// The drop settings of `raw`.
pub(super) fn settings(raw: &RawConfig) -> DropParams {
    let mut groups: BTreeMap<String, GroupDrops> = BTreeMap::new();
    for deployment in raw.model_list.iter().flatten() {
        let params = &deployment.litellm_params;
        if params.drop_params != Some(true) && params.additional_drop_params.is_none() {
            continue;
        }
        let group = groups.entry(deployment.model_name.clone()).or_default();
        group.all |= params.drop_params == Some(true);
        for name in params.additional_drop_params.iter().flatten() {
            if !group.names.contains(name) {
                group.names.push(name.clone());
            }
        }
    }
    DropParams {
        all: raw
            .litellm_settings
            .as_ref()
            .is_some_and(|l| l.drop_params == Some(true)),
        groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_wins_and_names_add_up() {
        let mut drops = DropParams::default();
        drops.groups.insert(
            "g".into(),
            GroupDrops {
                all: true,
                names: vec!["user".into()],
            },
        );
        assert_eq!(drops.for_request("other", None, &[]), (false, vec![]));
        assert_eq!(
            drops.for_request("g", None, &[]),
            (true, vec!["user".into()])
        );
        assert_eq!(
            drops.for_request("g", Some(false), &["n".into(), "user".into()]),
            (false, vec!["user".into(), "n".into()])
        );
        drops.all = true;
        assert_eq!(drops.for_request("other", None, &[]), (true, vec![]));
    }
}
