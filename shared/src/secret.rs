//! `Secret<T>`: a value (a key, a password) that never shows up in `Debug` or `Display` output.
//!
//! It deserializes transparently from the inner value and deliberately does not implement
//! `Serialize`, so a secret cannot leak into a JSON log line or response by accident.

use std::fmt;

use serde::Deserialize;

/// The placeholder printed instead of a secret value.
pub const REDACTED: &str = "*****";

/// A secret value: `Debug` and `Display` print `*****`; read it with [`Secret::expose`].
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wrap a secret value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret value itself; call only where the value is actually used.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let secret = Secret::new(String::from("sk-1234"));
        assert_eq!(format!("{secret:?}"), "*****");
        assert_eq!(format!("{secret}"), "*****");
        assert_eq!(format!("{:?}", Some(secret.clone())), "Some(*****)");
        assert_eq!(secret.expose(), "sk-1234");
    }

    #[test]
    fn deserializes_transparently() {
        let secret: Secret<String> = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(secret.expose(), "abc");
    }
}
