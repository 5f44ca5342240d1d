//! `os.environ/NAME` resolution, LiteLLM's way to keep secrets out of `config.yaml`.
//!
//! Runs on the parsed YAML tree before typed deserialization: every string value that is exactly
//! `os.environ/NAME` is replaced by the variable's value, looked up in the real environment first
//! and then in the file's `environment_variables` map (which never overrides the environment).
//! A missing variable is an error naming the field path and the variable.

use std::collections::BTreeMap;

use serde_yaml_ng::{Mapping, Value};

use super::error::ConfigError;
use super::lenient::scalar_text;
use crate::env::Environment;

/// LiteLLM's prefix for an environment reference.
pub(super) const ENV_PREFIX: &str = "os.environ/";

/// The config tree with references replaced, and every value that came from the environment
/// (so error messages can be scrubbed of them).
pub(super) struct Resolved {
    pub root: Mapping,
    pub env_values: Vec<String>,
}

/// Resolve every `os.environ/` reference in `root`; consumes `environment_variables`.
pub(super) fn resolve(root: Value, env: &Environment) -> Result<Resolved, ConfigError> {
    let mut root = match root {
        Value::Mapping(map) => map,
        Value::Null => Mapping::new(),
        _ => return Err(ConfigError::invalid("(root)", "expected a map of settings")),
    };
    let mut lookup = Lookup {
        env,
        file_vars: BTreeMap::new(),
        env_values: Vec::new(),
    };
    if let Some(vars) = root.shift_remove("environment_variables") {
        lookup.file_vars = file_variables(vars, &mut lookup)?;
    }
    for (key, value) in root.iter_mut() {
        lookup.walk(value, &key_text(key))?;
    }
    Ok(Resolved {
        root,
        env_values: lookup.env_values,
    })
}

struct Lookup<'a> {
    env: &'a Environment,
    file_vars: BTreeMap<String, String>,
    env_values: Vec<String>,
}

impl Lookup<'_> {
    fn walk(&mut self, value: &mut Value, path: &str) -> Result<(), ConfigError> {
        match value {
            Value::String(text) => {
                if let Some(resolved) = self.reference(text, path)? {
                    *text = resolved;
                }
            }
            Value::Sequence(items) => {
                for (index, item) in items.iter_mut().enumerate() {
                    self.walk(item, &format!("{path}[{index}]"))?;
                }
            }
            Value::Mapping(map) => {
                for (key, item) in map.iter_mut() {
                    self.walk(item, &format!("{path}.{}", key_text(key)))?;
                }
            }
            Value::Tagged(tagged) => self.walk(&mut tagged.value, path)?,
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
        Ok(())
    }

    /// `Some(value)` if `text` is an `os.environ/NAME` reference, `None` for a plain string.
    fn reference(&mut self, text: &str, path: &str) -> Result<Option<String>, ConfigError> {
        let Some(name) = text.strip_prefix(ENV_PREFIX) else {
            return Ok(None);
        };
        if name.is_empty() {
            return Err(ConfigError::invalid(
                path,
                "os.environ/ must be followed by a variable name",
            ));
        }
        let found = self
            .env
            .get(name)
            .or_else(|| self.file_vars.get(name).map(String::as_str));
        match found {
            Some(value) => {
                let value = value.to_owned();
                self.env_values.push(value.clone());
                Ok(Some(value))
            }
            None => Err(ConfigError::MissingEnv {
                path: path.to_owned(),
                var: name.to_owned(),
            }),
        }
    }
}

/// The `environment_variables` map; its own values may reference the real environment.
fn file_variables(
    vars: Value,
    lookup: &mut Lookup<'_>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let map = match vars {
        Value::Null => return Ok(BTreeMap::new()),
        Value::Mapping(map) => map,
        _ => {
            return Err(ConfigError::invalid(
                "environment_variables",
                "expected a map of NAME: value",
            ))
        }
    };
    let mut out = BTreeMap::new();
    for (key, value) in &map {
        let name = key_text(key);
        let path = format!("environment_variables.{name}");
        let text = scalar_text(value)
            .ok_or_else(|| ConfigError::invalid(&path, "expected a string or number"))?;
        let text = lookup.reference(&text, &path)?.unwrap_or(text);
        out.insert(name, text);
    }
    Ok(out)
}

fn key_text(key: &Value) -> String {
    scalar_text(key).unwrap_or_else(|| String::from("?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(yaml: &str, env: &[(&str, &str)]) -> Result<Resolved, ConfigError> {
        let value: Value = serde_yaml_ng::from_str(yaml).unwrap();
        resolve(value, &Environment::from_pairs(env.iter().copied()))
    }

    #[test]
    fn resolves_nested_references() {
        let yaml = "a:\n  - b: os.environ/B\n    c: plain\n";
        let out = run(yaml, &[("B", "bee")]).unwrap();
        let a = out.root.get("a").unwrap();
        assert_eq!(a[0]["b"], Value::String("bee".into()));
        assert_eq!(a[0]["c"], Value::String("plain".into()));
        assert_eq!(out.env_values, vec![String::from("bee")]);
    }

    #[test]
    fn missing_variable_names_path_and_variable() {
        let err = run("a:\n  - b: os.environ/NOPE\n", &[]).err().unwrap();
        match err {
            ConfigError::MissingEnv { path, var } => {
                assert_eq!(path, "a[0].b");
                assert_eq!(var, "NOPE");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn environment_variables_fill_in_but_do_not_override() {
        let yaml = "environment_variables:\n  X: file-x\n  Y: file-y\n  Z: os.environ/REAL\n\
                    v: [os.environ/X, os.environ/Y, os.environ/Z]\n";
        let out = run(yaml, &[("X", "env-x"), ("REAL", "real")]).unwrap();
        let v = out.root.get("v").unwrap();
        assert_eq!(v[0], Value::String("env-x".into()));
        assert_eq!(v[1], Value::String("file-y".into()));
        assert_eq!(v[2], Value::String("real".into()));
        assert!(out.root.get("environment_variables").is_none());
    }

    #[test]
    fn empty_document_is_an_empty_map_and_scalars_are_rejected() {
        assert!(run("", &[]).unwrap().root.is_empty());
        assert!(run("- 1\n", &[]).is_err());
    }
}
