//! `ConfigError`: every way loading `config.yaml` can fail, each naming the offending field path.
//!
//! Messages never carry secret values: callers scrub resolved `os.environ/` values (see
//! [`ConfigError::scrubbed`]) and messages about secret fields are replaced wholesale.

use std::path::PathBuf;

use crate::secret::REDACTED;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed, or a field has the wrong type (`path` is empty for syntax errors).
    #[error("{}{message}", prefix(path))]
    Yaml { path: String, message: String },
    /// A field is well-formed YAML but not an acceptable value.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    /// An `os.environ/NAME` reference (or a required variable) names an unset variable.
    #[error("{path}: environment variable {var} is not set")]
    MissingEnv { path: String, var: String },
}

fn prefix(path: &str) -> String {
    if path.is_empty() {
        String::from("invalid YAML: ")
    } else {
        format!("{path}: ")
    }
}

/// Field names whose values are secrets: errors about them never echo the value.
const SECRET_FIELDS: &[&str] = &[
    "master_key",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "database_url",
];

impl ConfigError {
    pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Remove secrets from the message: any quoted occurrence of a value that came from the
    /// environment becomes `"*****"`, and a message about a secret field is replaced wholesale.
    pub(crate) fn scrubbed(self, resolved: &[String]) -> Self {
        match self {
            Self::Yaml { path, message } => {
                let message = scrub(&path, message, resolved);
                Self::Yaml { path, message }
            }
            Self::Invalid { path, message } => {
                let message = scrub(&path, message, resolved);
                Self::Invalid { path, message }
            }
            other => other,
        }
    }
}

fn scrub(path: &str, mut message: String, resolved: &[String]) -> String {
    let field = path.rsplit('.').next().unwrap_or(path);
    if SECRET_FIELDS.contains(&field) {
        return match message.split_once(", expected ") {
            Some((_, expected)) => format!("invalid value (hidden: a secret), expected {expected}"),
            None => String::from("invalid value (hidden: a secret)"),
        };
    }
    for value in resolved.iter().filter(|v| !v.is_empty()) {
        let quoted = format!("{value:?}");
        message = message.replace(&quoted, &format!("\"{REDACTED}\""));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_path() {
        let err = ConfigError::invalid("model_list[1].litellm_params.model", "bad");
        assert_eq!(err.to_string(), "model_list[1].litellm_params.model: bad");
        let err = ConfigError::MissingEnv {
            path: "general_settings.master_key".into(),
            var: "KEY".into(),
        };
        assert_eq!(
            err.to_string(),
            "general_settings.master_key: environment variable KEY is not set"
        );
    }

    #[test]
    fn scrubs_resolved_values_and_secret_fields() {
        let err = ConfigError::Yaml {
            path: "model_list[0].litellm_params.rpm".into(),
            message: "invalid type: string \"hunter2\", expected u64".into(),
        }
        .scrubbed(&["hunter2".into()]);
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.to_string().contains("\"*****\""));

        let err = ConfigError::Yaml {
            path: "general_settings.master_key".into(),
            message: "invalid type: integer 1234, expected a string".into(),
        }
        .scrubbed(&[]);
        assert!(!err.to_string().contains("1234"), "{err}");
    }
}
