//! The caller a request runs for: carried into routing, limits, usage records and traces.

use std::sync::Arc;

use super::limits::Limits;
use super::KeyHash;

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
    /// Guardrails for this caller: the key's and its team's, without repeats.
    pub guardrails: Vec<String>,
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
            guardrails: Vec::new(),
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

    /// Whether this caller may use the model group `model`.
    pub fn may_use(&self, model: &str) -> bool {
        self.models
            .as_ref()
            .is_none_or(|models| models.iter().any(|m| m == model))
    }
}
