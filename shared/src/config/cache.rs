//! LiteLLM's response cache settings: `litellm_settings.cache: true` and `cache_params`.
//!
//! ```yaml
//! litellm_settings:
//!   cache: true
//!   cache_params:
//!     type: local            # local (in memory, per instance) | dynamodb (the one table);
//!                            # redis and s3 become dynamodb (a warning says so); default: dynamodb
//!                            # when the table is configured (Lambda), else local
//!     ttl: 600               # seconds an answer is kept (default 600)
//!     mode: default_on       # default_off: only requests with `cache: {"use-cache": true}`
//!     supported_call_types: [acompletion, completion, embedding]   # default: chat and embeddings
//!     max_entries: 1000      # ours, local only: the LRU's bound in answers
//!     max_bytes: 67108864    # ours, local only: the LRU's bound in bytes (default 64 MiB)
//! ```
//!
//! Semantic caches (`redis-semantic`, `qdrant-semantic`, ...) answer different questions with
//! one answer, which this gateway will not do: they are refused at startup, as are unknown
//! types. Connection settings of redis/s3 (`host`, `port`, `password`, `s3_bucket_name`, ...)
//! are ignored with a warning.

use std::time::Duration;

use serde_yaml_ng::Value;

use super::error::ConfigError;

/// Where cached answers live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheKind {
    /// An LRU in this instance's memory.
    Local,
    /// DynamoDB items in the gateway's table when it is configured, else [`CacheKind::Local`].
    Shared,
}

/// The typed `cache_params` (only meaningful when `enabled`).
#[derive(Debug, Clone, PartialEq)]
pub struct CacheSettings {
    pub enabled: bool,
    pub kind: CacheKind,
    pub ttl: Duration,
    /// `mode: default_on` (the default): every supported request reads and writes the cache;
    /// `default_off`: only requests that opt in with `cache: {"use-cache": true}`.
    pub default_on: bool,
    /// Chat completions (`completion`/`acompletion`) are cached.
    pub chat: bool,
    /// Embeddings (`embedding`/`aembedding`) are cached.
    pub embeddings: bool,
    pub max_entries: usize,
    pub max_bytes: usize,
}

impl CacheSettings {
    pub const DEFAULT_TTL: Duration = Duration::from_secs(600);
    pub const DEFAULT_MAX_ENTRIES: usize = 1000;
    pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            enabled: false,
            kind: CacheKind::Shared,
            ttl: Self::DEFAULT_TTL,
            default_on: true,
            chat: true,
            embeddings: true,
            max_entries: Self::DEFAULT_MAX_ENTRIES,
            max_bytes: Self::DEFAULT_MAX_BYTES,
        }
    }
}

const IGNORED_CONNECTION_PARAMS: &[&str] = &[
    "host",
    "port",
    "password",
    "username",
    "redis_startup_nodes",
    "service_name",
    "sentinel_nodes",
    "namespace",
    "s3_bucket_name",
    "s3_region_name",
    "s3_api_version",
    "s3_path",
    "s3_endpoint_url",
    "s3_aws_access_key_id",
    "s3_aws_secret_access_key",
    "s3_aws_session_token",
    "ssl",
    "default_in_memory_ttl",
    "default_in_redis_ttl",
];

/// The settings from `litellm_settings.cache` and `cache_params`, and the warnings they give.
pub(super) fn settings(
    cache: Option<bool>,
    params: Option<&Value>,
) -> Result<(CacheSettings, Vec<String>), ConfigError> {
    let mut out = CacheSettings {
        enabled: cache == Some(true),
        ..CacheSettings::default()
    };
    let mut warnings = Vec::new();
    let Some(params) = params.filter(|p| !p.is_null()) else {
        return Ok((out, warnings));
    };
    let path = "litellm_settings.cache_params";
    let Value::Mapping(map) = params else {
        return Err(ConfigError::invalid(path, "expected a mapping"));
    };
    for (key, value) in map {
        let Some(key) = key.as_str() else {
            return Err(ConfigError::invalid(path, "keys must be strings"));
        };
        let at = format!("{path}.{key}");
        match key {
            "type" => out.kind = kind(&at, value, &mut warnings)?,
            "ttl" => out.ttl = Duration::from_secs(positive(&at, value)?),
            "mode" => {
                out.default_on = match value.as_str() {
                    Some("default_on") => true,
                    Some("default_off") => false,
                    _ => {
                        return Err(ConfigError::invalid(
                            at,
                            "expected default_on or default_off",
                        ))
                    }
                }
            }
            "supported_call_types" => {
                let Some(list) = value.as_sequence() else {
                    return Err(ConfigError::invalid(at, "expected a list of call types"));
                };
                out.chat = false;
                out.embeddings = false;
                for call in list {
                    match call.as_str() {
                        Some("completion" | "acompletion") => out.chat = true,
                        Some("embedding" | "aembedding") => out.embeddings = true,
                        Some(other) => warnings.push(format!(
                            "{at}: `{other}` is not served by this gateway; ignored"
                        )),
                        None => return Err(ConfigError::invalid(at, "expected strings")),
                    }
                }
            }
            "max_entries" => {
                out.max_entries = usize::try_from(positive(&at, value)?).unwrap_or(usize::MAX)
            }
            "max_bytes" => {
                out.max_bytes = usize::try_from(positive(&at, value)?).unwrap_or(usize::MAX)
            }
            other if IGNORED_CONNECTION_PARAMS.contains(&other) => {
                warnings.push(format!(
                    "{at} is not used: cached answers live in memory or in the gateway's DynamoDB table; ignored"
                ));
            }
            _ => warnings.push(format!("{at} is not supported; ignored")),
        }
    }
    Ok((out, warnings))
}

fn kind(at: &str, value: &Value, warnings: &mut Vec<String>) -> Result<CacheKind, ConfigError> {
    match value.as_str() {
        Some("local") => Ok(CacheKind::Local),
        Some("dynamodb") => Ok(CacheKind::Shared),
        Some(other @ ("redis" | "s3" | "gcs" | "disk")) => {
            warnings.push(format!(
                "{at}: `{other}` is served by the gateway's DynamoDB table in Lambda (in memory locally)"
            ));
            Ok(CacheKind::Shared)
        }
        Some(other) if other.ends_with("semantic") => Err(ConfigError::invalid(
            at,
            format!("`{other}`: semantic caching is not supported (use local or dynamodb)"),
        )),
        _ => Err(ConfigError::invalid(at, "expected local or dynamodb")),
    }
}

fn positive(at: &str, value: &Value) -> Result<u64, ConfigError> {
    let n = value
        .as_u64()
        .or_else(|| value.as_f64().filter(|f| *f >= 1.0).map(|f| f as u64))
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()));
    match n {
        Some(n) if n > 0 => Ok(n),
        _ => Err(ConfigError::invalid(at, "expected a positive whole number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<(CacheSettings, Vec<String>), ConfigError> {
        let value: Value = serde_yaml_ng::from_str(yaml).unwrap();
        settings(Some(true), Some(&value))
    }

    #[test]
    fn litellm_params_become_settings() {
        let (s, warnings) = parse(
            "type: local\nttl: 30\nmode: default_off\nsupported_call_types: [acompletion]\nmax_entries: 5\n",
        )
        .unwrap();
        assert!(s.enabled && !s.default_on && s.chat && !s.embeddings);
        assert_eq!(s.kind, CacheKind::Local);
        assert_eq!(s.ttl, Duration::from_secs(30));
        assert_eq!(s.max_entries, 5);
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn redis_maps_to_the_table_with_a_warning_and_semantic_is_refused() {
        let (s, warnings) = parse("type: redis\nhost: x\nport: 6379\n").unwrap();
        assert_eq!(s.kind, CacheKind::Shared);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        let err = parse("type: redis-semantic\n").unwrap_err().to_string();
        assert!(err.contains("semantic"), "{err}");
        assert!(parse("ttl: 0\n").is_err());
        assert!(parse("mode: sometimes\n").is_err());
    }
}
