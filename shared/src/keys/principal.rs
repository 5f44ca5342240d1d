//! The caller a request runs for: carried into routing, limits, usage records and traces.

use std::sync::Arc;

use super::parallel::ParallelLimit;
use super::KeyHash;
use crate::limits::Limits;

/// Which edge a request came in through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// The OpenAI-compatible HTTP API.
    Api,
    /// The Lex V2 fulfillment function.
    Lex,
}

impl Caller {
    pub fn as_str(self) -> &'static str {
        match self {
            Caller::Api => "api",
            Caller::Lex => "lex",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// A stable, non-secret name of the key: `master`, a virtual key's hash prefix, or
    /// `service:<name>` for an in-process caller.
    pub key_id: String,
    pub key_alias: Option<String>,
    pub team: Option<String>,
    pub user: Option<String>,
    /// Model groups this caller may use; `None` means all.
    pub models: Option<Arc<[String]>>,
    /// A virtual key's full hash: the partition of its budget and rate-limit counters.
    pub key_hash: Option<KeyHash>,
    /// The key's budget and rate limits (empty for the master key and services).
    pub limits: Limits,
    /// The team's budget and rate limits; `None` until looked up (the pipeline looks a
    /// service's team up before the model call).
    pub team_limits: Option<Limits>,
    /// The user's budget and rate limits (a key's `user_id`), when it has a user with some.
    pub user_limits: Option<Limits>,
    /// Guardrails for this caller: the key's and its team's, without repeats.
    pub guardrails: Vec<String>,
    /// `max_parallel_requests` of the key and its team (`keys::parallel`).
    pub parallel: Vec<ParallelLimit>,
}

impl Principal {
    pub fn master() -> Self {
        Principal {
            key_id: "master".to_owned(),
            key_alias: None,
            team: None,
            user: None,
            models: None,
            key_hash: None,
            limits: Limits::default(),
            team_limits: None,
            user_limits: None,
            guardrails: Vec::new(),
            parallel: Vec::new(),
        }
    }

    /// Whether this is the master key (admin endpoints accept only it).
    pub fn is_master(&self) -> bool {
        self.key_id == "master" && self.key_hash.is_none()
    }

    /// An in-process caller such as the Lex function, which has no bearer key.
    pub fn service(name: &str, team: Option<String>) -> Self {
        Principal {
            key_id: format!("service:{name}"),
            team,
            ..Principal::master()
        }
    }

    /// Narrows the caller's models to `team`'s (a team's empty list allows all): a key or
    /// service can never use a model its team may not.
    pub fn narrow_to_team(&mut self, team: &[String]) {
        if team.is_empty() {
            return;
        }
        self.models = Some(match &self.models {
            None => team.into(),
            Some(own) => own
                .iter()
                .filter(|m| team_allows(team, m))
                .cloned()
                .collect(),
        });
    }

    /// Whether this caller may use the model group `model`.
    pub fn may_use(&self, model: &str) -> bool {
        self.models
            .as_ref()
            .is_none_or(|models| models.iter().any(|m| m == model || fits(m, model)))
    }
}

/// The `max_parallel_requests` limit of a key (by its hash).
pub fn key_parallel(hash: &KeyHash, max: Option<u64>) -> Option<ParallelLimit> {
    max.map(|max| ParallelLimit {
        scope: format!("key#{}", hash.as_str()),
        max,
        label: "key max_parallel_requests",
    })
}

/// The `max_parallel_requests` limit of a team.
pub fn team_parallel(team_id: &str, max: Option<u64>) -> Option<ParallelLimit> {
    max.map(|max| ParallelLimit {
        scope: format!("team#{team_id}"),
        max,
        label: "team max_parallel_requests",
    })
}

/// The model groups a key of `team` may use: the key's list narrowed by its team's (the
/// intersection when both name some; an empty list allows all). `None` means all; an empty
/// list (a key naming only models its team does not allow) means none.
pub fn allowed_models(key: &[String], team: &[String]) -> Option<Arc<[String]>> {
    match (key.is_empty(), team.is_empty()) {
        (true, true) => None,
        (false, true) => Some(key.into()),
        (true, false) => Some(team.into()),
        (false, false) => Some(
            key.iter()
                .filter(|m| team_allows(team, m))
                .cloned()
                .collect(),
        ),
    }
}

/// Whether a team's `models` allow a key's entry: named, or reached by a wildcard route the
/// team names (a key's route broader than the team's is not kept: it would widen the team's).
fn team_allows(team: &[String], model: &str) -> bool {
    team.iter().any(|t| t == model || fits(t, model))
}

/// Whether `model` fits the wildcard route `pattern` (one `*`, as `bedrock/*`): a key allowed
/// the route may use every model it reaches.
fn fits(pattern: &str, model: &str) -> bool {
    pattern.contains('*') && crate::router::wildcard_capture(pattern, model).is_some()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_teams_wildcard_route_keeps_the_keys_models_it_reaches_and_nothing_wider() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let allowed = allowed_models(
            &list(&["bedrock/anthropic.x", "bedrock/*", "other"]),
            &list(&["bedrock/anthropic.*"]),
        )
        .unwrap();
        assert_eq!(&*allowed, &list(&["bedrock/anthropic.x"])[..]);
    }

    use super::*;

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    #[test]
    fn a_key_narrows_its_team_and_never_widens_it() {
        let allowed = |key: &[&str], team: &[&str]| {
            allowed_models(&list(key), &list(team)).map(|m| m.to_vec())
        };
        assert_eq!(allowed(&[], &[]), None);
        assert_eq!(allowed(&["a"], &[]), Some(list(&["a"])));
        assert_eq!(allowed(&[], &["b"]), Some(list(&["b"])));
        assert_eq!(allowed(&["a", "b"], &["b", "c"]), Some(list(&["b"])));
        // A key that names only models its team may not use may use none.
        let none = allowed_models(&list(&["a"]), &list(&["c"])).unwrap();
        let principal = Principal {
            models: Some(none),
            ..Principal::master()
        };
        assert!(!principal.may_use("a") && !principal.may_use("c"));
    }

    #[test]
    fn a_service_is_narrowed_to_its_team() {
        let mut service = Principal::service("lex", Some("support".into()));
        service.narrow_to_team(&list(&["haiku"]));
        assert!(service.may_use("haiku") && !service.may_use("sonnet"));
        service.narrow_to_team(&[]);
        assert!(service.may_use("haiku") && !service.may_use("sonnet"));
        service.models = Some(Vec::new().into());
        service.narrow_to_team(&list(&["haiku"]));
        assert!(!service.may_use("haiku"), "narrowing never widens");
    }
}
