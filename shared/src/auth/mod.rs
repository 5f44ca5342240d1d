//! Who is calling: the bearer key checked against the master key (virtual keys come later).

mod master_key;

pub use master_key::MasterKeyAuth;

/// The caller a request runs for; carried into routing, usage records and traces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// A stable, non-secret name of the key ("master", or a virtual key's id).
    pub key_id: String,
    pub team: Option<String>,
}

impl Principal {
    pub fn master() -> Self {
        Principal {
            key_id: "master".to_owned(),
            team: None,
        }
    }

    /// An in-process caller such as the Lex function, which has no bearer key.
    pub fn service(name: &str, team: Option<String>) -> Self {
        Principal {
            key_id: format!("service:{name}"),
            team,
        }
    }
}

/// The key a request presents: `Authorization: Bearer <key>`, else `x-api-key: <key>`.
pub fn presented_key(headers: &http::HeaderMap) -> Option<&str> {
    if let Some(value) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let value = value.trim();
        let key = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .unwrap_or(value)
            .trim();
        return (!key.is_empty()).then_some(key);
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
}
