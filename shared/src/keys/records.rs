//! What a store knows about a virtual key and a team (LiteLLM's fields, typed).

use serde_json::{Map, Value};

use crate::limits::{BudgetPeriod, Limits};

/// A virtual key, as stored under its hash.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VirtualKey {
    /// `key_alias`.
    pub alias: Option<String>,
    /// `team_id`.
    pub team: Option<String>,
    /// `user_id`.
    pub user: Option<String>,
    /// Model groups the key may use; empty means all.
    pub models: Vec<String>,
    /// Unix seconds after which the key is refused.
    pub expires_at: Option<u64>,
    pub blocked: bool,
    /// The short display name shown in listings (`sk-...abcd`); never the key.
    pub key_name: String,
    /// Unix seconds; also the start of the first budget period.
    pub created_at: u64,
    /// USD per budget period (or for the key's life without `budget_duration`).
    pub max_budget: Option<f64>,
    /// As given (`30d`, `1h`): how often spend resets.
    pub budget_duration: Option<String>,
    pub rpm_limit: Option<u64>,
    pub tpm_limit: Option<u64>,
    /// LiteLLM's `max_parallel_requests`: requests of this key in flight at once.
    pub max_parallel_requests: Option<u64>,
    pub metadata: Map<String, Value>,
    /// Guardrails that run for this key (names from the config).
    pub guardrails: Vec<String>,
}

impl VirtualKey {
    /// The key's budget and rate limits.
    pub fn limits(&self) -> Limits {
        Limits::new(
            self.max_budget,
            self.budget_duration.as_deref(),
            self.created_at,
            self.rpm_limit,
            self.tpm_limit,
        )
    }
}

/// A team: keys belong to one, and its budget and limits hold across all of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Team {
    pub team_id: String,
    pub team_alias: Option<String>,
    /// Model groups the team's keys may use; empty means all.
    pub models: Vec<String>,
    pub max_budget: Option<f64>,
    pub budget_duration: Option<String>,
    pub rpm_limit: Option<u64>,
    pub tpm_limit: Option<u64>,
    /// LiteLLM's `max_parallel_requests`: requests of the team's keys in flight at once.
    pub max_parallel_requests: Option<u64>,
    pub metadata: Map<String, Value>,
    pub guardrails: Vec<String>,
    pub blocked: bool,
    /// `members_with_roles` as given (kept, not enforced).
    pub members_with_roles: Vec<Value>,
    pub created_at: u64,
}

impl Team {
    pub fn limits(&self) -> Limits {
        Limits::new(
            self.max_budget,
            self.budget_duration.as_deref(),
            self.created_at,
            self.rpm_limit,
            self.tpm_limit,
        )
    }

    /// The current budget period's start and end, if the team has a duration.
    pub fn budget_period(&self) -> Option<BudgetPeriod> {
        self.limits().budget_period
    }
}

/// LiteLLM's roles for a user (`user_role`); only the master key administers, whatever the role.
pub const USER_ROLES: [&str; 4] = [
    "proxy_admin",
    "proxy_admin_viewer",
    "internal_user",
    "internal_user_viewer",
];

/// A user (LiteLLM's internal user): keys name it by `user_id`. Stored whole, as one JSON
/// document (an update replaces it).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct User {
    pub user_id: String,
    pub user_alias: Option<String>,
    pub user_email: Option<String>,
    /// One of [`USER_ROLES`]; `internal_user` unless given.
    pub user_role: String,
    /// Model groups the user's keys are meant for (shown; a key's own `models` decide).
    pub models: Vec<String>,
    pub max_budget: Option<f64>,
    pub budget_duration: Option<String>,
    pub tpm_limit: Option<u64>,
    pub rpm_limit: Option<u64>,
    pub metadata: Map<String, Value>,
    pub created_at: u64,
    pub updated_at: u64,
}

impl User {
    /// The user's budget and rate limits, held across all of its keys (as LiteLLM's).
    pub fn limits(&self) -> Limits {
        Limits::new(
            self.max_budget,
            self.budget_duration.as_deref(),
            self.created_at,
            self.rpm_limit,
            self.tpm_limit,
        )
    }
}
