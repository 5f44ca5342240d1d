//! Which guardrails run for a request, and how each behaves ([`GuardrailPolicy`]).
//!
//! A request gets, in the `guardrails` list's order: those with `default_on`, those attached
//! to its model group (any deployment's `litellm_params.guardrails`), the key's and team's
//! (`Principal::guardrails`, which the request cannot remove), and those the request names in
//! its body's `guardrails` (adding only). Guardrails added in code (`GatewayBuilder::
//! input_guardrail`/`output_guardrail`) run on every request, first.

use std::collections::HashMap;
use std::sync::Arc;

use super::Guardrail;
use crate::config::{GatewayConfig, GuardrailMode, GuardrailSettings};
use crate::error::GatewayError;

/// How one guardrail behaves, from its `litellm_params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardrailPolicy {
    pub modes: Vec<GuardrailMode>,
    pub default_on: bool,
    pub mask_request_content: bool,
    pub mask_response_content: bool,
    pub disable_exception_on_block: bool,
    pub fail_open: bool,
}

impl GuardrailPolicy {
    pub fn from_settings(settings: &GuardrailSettings) -> Self {
        GuardrailPolicy {
            modes: settings.modes.clone(),
            default_on: settings.default_on,
            mask_request_content: settings.mask_request_content,
            mask_response_content: settings.mask_response_content,
            disable_exception_on_block: settings.disable_exception_on_block,
            fail_open: settings.fail_open,
        }
    }

    /// Always on in `mode`, masking applied, blocks raised, failures refused.
    pub fn always(mode: GuardrailMode) -> Self {
        GuardrailPolicy {
            modes: vec![mode],
            default_on: true,
            mask_request_content: true,
            mask_response_content: true,
            disable_exception_on_block: false,
            fail_open: false,
        }
    }
}

/// A guardrail with its policy.
pub struct Attached {
    pub guardrail: Arc<dyn Guardrail>,
    pub policy: GuardrailPolicy,
}

impl Attached {
    pub fn new(guardrail: Arc<dyn Guardrail>, policy: GuardrailPolicy) -> Arc<Self> {
        Arc::new(Attached { guardrail, policy })
    }

    pub fn name(&self) -> &str {
        self.guardrail.name()
    }
}

/// The guardrails of one request, by mode, in order.
#[derive(Clone, Default)]
pub struct Selected {
    pub pre_call: Vec<Arc<Attached>>,
    pub during_call: Vec<Arc<Attached>>,
    pub post_call: Arc<[Arc<Attached>]>,
}

impl Selected {
    /// The names of every selected guardrail, `pre_call`, then `during_call`, then `post_call`
    /// (what shaped an answer, for the response cache's key).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pre_call
            .iter()
            .chain(&self.during_call)
            .chain(self.post_call.iter())
            .map(|g| g.name())
    }
}

/// The config names a guardrail nobody built.
#[derive(Debug, thiserror::Error)]
#[error("guardrail `{0}` is configured but was not built")]
pub struct MissingGuardrail(pub String);

/// Every guardrail the gateway knows and where it is attached.
#[derive(Default)]
pub struct GuardrailSet {
    /// Added in code: on every request, first.
    always: Vec<Arc<Attached>>,
    /// The `guardrails` list, in order.
    named: Vec<Arc<Attached>>,
    /// Model group → guardrail names attached by its deployments.
    groups: HashMap<String, Vec<String>>,
}

impl GuardrailSet {
    /// The config's guardrails with their implementations (`built`, by name), plus `always`.
    pub fn new(
        config: &GatewayConfig,
        built: &HashMap<String, Arc<dyn Guardrail>>,
        always: Vec<Arc<Attached>>,
    ) -> Result<Self, MissingGuardrail> {
        let named = config
            .guardrails
            .iter()
            .map(|settings| {
                let guardrail = built
                    .get(&settings.name)
                    .ok_or_else(|| MissingGuardrail(settings.name.clone()))?;
                Ok(Attached::new(
                    Arc::clone(guardrail),
                    GuardrailPolicy::from_settings(settings),
                ))
            })
            .collect::<Result<_, MissingGuardrail>>()?;
        let mut groups: HashMap<String, Vec<String>> = HashMap::new();
        for deployment in &config.model_list {
            let names = groups.entry(deployment.model_name.clone()).or_default();
            for name in &deployment.guardrails {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        Ok(GuardrailSet {
            always,
            named,
            groups,
        })
    }

    /// The guardrails for a request to `group` by a caller bound to `principal` guardrails,
    /// asking for `requested` more. An unknown requested name is the caller's error; an unknown
    /// name on the key refuses the request (it must not run unguarded).
    pub fn select(
        &self,
        group: &str,
        principal: &[String],
        requested: &[String],
    ) -> Result<Selected, GatewayError> {
        for (index, name) in requested.iter().enumerate() {
            if !self.named.iter().any(|g| g.name() == name) {
                return Err(GatewayError::invalid_request(
                    format!("unknown guardrail {name:?}"),
                    format!("guardrails[{index}]"),
                ));
            }
        }
        if let Some(name) = principal
            .iter()
            .find(|name| !self.named.iter().any(|g| g.name() == name.as_str()))
        {
            tracing::error!(guardrail = %name, "the key names a guardrail that is not configured; refusing");
            return Err(GatewayError::DependencyUnavailable("guardrail".into()));
        }
        let attached = self.groups.get(group);
        let on = |g: &&Arc<Attached>| {
            let name = g.name();
            g.policy.default_on
                || attached.is_some_and(|names| names.iter().any(|n| n == name))
                || principal.iter().any(|n| n == name)
                || requested.iter().any(|n| n == name)
        };
        let chosen: Vec<&Arc<Attached>> = self
            .always
            .iter()
            .chain(self.named.iter().filter(on))
            .collect();
        let in_mode = |mode: GuardrailMode| -> Vec<Arc<Attached>> {
            chosen
                .iter()
                .filter(|g| g.policy.modes.contains(&mode))
                .map(|g| Arc::clone(g))
                .collect()
        };
        Ok(Selected {
            pre_call: in_mode(GuardrailMode::PreCall),
            during_call: in_mode(GuardrailMode::DuringCall),
            post_call: in_mode(GuardrailMode::PostCall).into(),
        })
    }
}
