//! LiteLLM's per-request cache controls: the body's `cache` object.
//!
//! `{"cache": {"no-cache": true}}` skips reading (the fresh answer is still stored),
//! `"no-store": true` skips storing, `"ttl": N` keeps the answer N seconds instead of
//! `cache_params.ttl`, `"s-maxage": N` accepts only an answer stored at most N seconds ago,
//! `"use-cache": true` opts in when `cache_params.mode` is `default_off` (and `false` opts out),
//! `"namespace": "name"` keeps the answer apart from the same request's in other namespaces.

use serde::Deserialize;

use crate::error::GatewayError;

/// The most characters of a `cache.namespace`.
pub const MAX_NAMESPACE_CHARS: usize = 128;

/// Unknown keys are ignored, as in the rest of the body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CacheControls {
    #[serde(rename = "no-cache", default)]
    pub no_cache: bool,
    #[serde(rename = "no-store", default)]
    pub no_store: bool,
    #[serde(default)]
    pub ttl: Option<u64>,
    #[serde(rename = "s-maxage", default)]
    pub s_maxage: Option<u64>,
    #[serde(rename = "use-cache", default)]
    pub use_cache: Option<bool>,
    #[serde(default)]
    pub namespace: Option<String>,
}

impl CacheControls {
    /// A 400 naming the field for values no cache can honour.
    pub fn validate(&self) -> Result<(), GatewayError> {
        if let Some(namespace) = &self.namespace {
            if namespace.chars().count() > MAX_NAMESPACE_CHARS {
                return Err(GatewayError::invalid_request(
                    format!("`cache.namespace` is longer than {MAX_NAMESPACE_CHARS} characters"),
                    "cache.namespace",
                ));
            }
        }
        Ok(())
    }
}
