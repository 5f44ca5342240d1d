//! The process environment, read once: the only place in the project that touches `std::env`.
//!
//! Everything else receives an [`Environment`] value, so tests build one from pairs instead of
//! mutating the real process environment.

use std::collections::HashMap;
use std::fmt;

/// A snapshot of environment variables. Its `Debug` lists names only, never values.
#[derive(Clone, Default)]
pub struct Environment {
    vars: HashMap<String, String>,
}

impl Environment {
    /// Snapshot the current process environment (names and values converted lossily to UTF-8).
    // The one place allowed to read the process environment (clippy.toml bans it elsewhere).
    #[allow(clippy::disallowed_methods)]
    pub fn from_process() -> Self {
        let vars = std::env::vars_os()
            .map(|(name, value)| {
                (
                    name.to_string_lossy().into_owned(),
                    value.to_string_lossy().into_owned(),
                )
            })
            .collect();
        Self { vars }
    }

    /// Build an environment from explicit pairs (for tests and embedding).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars = pairs
            .into_iter()
            .map(|(name, value)| (name.into(), value.into()))
            .collect();
        Self { vars }
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.vars.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Environment")
            .field("names", &names)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_pairs_and_get() {
        let env = Environment::from_pairs([("A", "1"), ("B", "two")]);
        assert_eq!(env.get("A"), Some("1"));
        assert_eq!(env.get("B"), Some("two"));
        assert_eq!(env.get("C"), None);
    }

    #[test]
    fn debug_shows_names_not_values() {
        let env = Environment::from_pairs([("LITELLM_MASTER_KEY", "sk-very-secret")]);
        let shown = format!("{env:?}");
        assert!(shown.contains("LITELLM_MASTER_KEY"));
        assert!(!shown.contains("sk-very-secret"));
    }

    #[test]
    fn from_process_sees_path_like_variables() {
        // PATH is set in every realistic test environment; only check the snapshot is non-empty.
        let env = Environment::from_process();
        assert!(!env.vars.is_empty());
    }
}
