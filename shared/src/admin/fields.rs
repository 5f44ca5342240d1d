//! The fields of an admin request body, read leniently but typed: absent means "leave as is",
//! `null` means "clear", a value of the wrong type is a 400 naming the field.

use serde_json::{Map, Value};

use super::AdminError;
use crate::keys::parse_duration;

/// A JSON object body.
pub(crate) struct Fields<'a>(pub(crate) &'a Map<String, Value>);

/// Absent (`None`), null (`Some(None)`) or a value.
pub(crate) type Change<T> = Option<Option<T>>;

impl<'a> Fields<'a> {
    fn get(&self, name: &str) -> Change<&'a Value> {
        self.0.get(name).map(|v| (!v.is_null()).then_some(v))
    }

    pub(crate) fn string(&self, name: &'static str) -> Result<Change<String>, AdminError> {
        self.typed(name, "a string", |v| v.as_str().map(str::to_owned))
    }

    pub(crate) fn strings(&self, name: &'static str) -> Result<Change<Vec<String>>, AdminError> {
        self.typed(name, "a list of strings", |v| {
            v.as_array()?
                .iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
    }

    pub(crate) fn amount(&self, name: &'static str) -> Result<Change<f64>, AdminError> {
        self.typed(name, "a number of USD, 0 or more", |v| {
            v.as_f64().filter(|x| x.is_finite() && *x >= 0.0)
        })
    }

    pub(crate) fn count(&self, name: &'static str) -> Result<Change<u64>, AdminError> {
        self.typed(name, "a whole number, 0 or more", |v| {
            v.as_u64().or_else(|| {
                v.as_f64()
                    .filter(|x| x.fract() == 0.0 && *x >= 0.0)
                    .map(|x| x as u64)
            })
        })
    }

    pub(crate) fn flag(&self, name: &'static str) -> Result<Change<bool>, AdminError> {
        self.typed(name, "true or false", Value::as_bool)
    }

    pub(crate) fn object(
        &self,
        name: &'static str,
    ) -> Result<Change<Map<String, Value>>, AdminError> {
        self.typed(name, "an object", |v| v.as_object().cloned())
    }

    pub(crate) fn list(&self, name: &'static str) -> Result<Change<Vec<Value>>, AdminError> {
        self.typed(name, "a list", |v| v.as_array().cloned())
    }

    /// A LiteLLM duration (`30d`, `1h`), kept as given.
    pub(crate) fn duration(&self, name: &'static str) -> Result<Change<String>, AdminError> {
        let change = self.string(name)?;
        if let Some(Some(text)) = &change {
            if parse_duration(text).is_none() {
                return Err(AdminError::bad(
                    format!("`{name}` must be a duration such as 30s, 10m, 1h, 1d, 30d or 1mo"),
                    name,
                ));
            }
        }
        Ok(change)
    }

    fn typed<T>(
        &self,
        name: &'static str,
        what: &str,
        read: impl Fn(&'a Value) -> Option<T>,
    ) -> Result<Change<T>, AdminError> {
        match self.get(name) {
            None => Ok(None),
            Some(None) => Ok(Some(None)),
            Some(Some(value)) => read(value)
                .map(|v| Some(Some(v)))
                .ok_or_else(|| AdminError::bad(format!("`{name}` must be {what}"), name)),
        }
    }
}

/// Applies a change to a field.
pub(crate) fn set<T>(field: &mut Option<T>, change: Change<T>) {
    if let Some(value) = change {
        *field = value;
    }
}

/// Applies a change to a field whose "clear" is its default.
pub(crate) fn set_or_default<T: Default>(field: &mut T, change: Change<T>) {
    if let Some(value) = change {
        *field = value.unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_null_value_and_wrong_type() {
        let body = json!({"a": null, "b": "x", "c": 3, "d": "1d", "e": "soon", "f": -1});
        let fields = Fields(body.as_object().unwrap());
        assert_eq!(fields.string("z").unwrap(), None);
        assert_eq!(fields.string("a").unwrap(), Some(None));
        assert_eq!(fields.string("b").unwrap(), Some(Some("x".into())));
        assert_eq!(fields.count("c").unwrap(), Some(Some(3)));
        assert_eq!(fields.duration("d").unwrap(), Some(Some("1d".into())));
        assert_eq!(fields.duration("e").unwrap_err().param(), Some("e"));
        assert_eq!(fields.amount("f").unwrap_err().param(), Some("f"));
        assert_eq!(fields.count("b").unwrap_err().param(), Some("b"));
    }
}
