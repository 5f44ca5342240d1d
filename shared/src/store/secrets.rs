//! Secrets read from Secrets Manager once at start-up (Phoenix's API key, the CloudFront
//! origin-verify secret), so their values never sit in a function's environment, where anyone who
//! may read the function's configuration would see them. The master key has its own reader with
//! rotation (`keys::SecretsManagerMasterKey`); all share [`parse_secret`].

use crate::env::Environment;
use crate::secret::Secret;

use super::AwsClients;

/// Why a secret could not be read; never holds the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretReadError {
    #[error("secret `{id}` could not be read: {message}")]
    Unreadable { id: String, message: String },
    #[error("secret `{id}`: {message}")]
    Invalid { id: String, message: &'static str },
}

/// The value of the secret `id`: its string, or one of `fields` of its JSON object.
pub async fn read_secret(
    env: &Environment,
    id: &str,
    fields: &[&str],
) -> Result<Secret<String>, SecretReadError> {
    let client = AwsClients::load(env).await.secrets_manager;
    let output = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|err| SecretReadError::Unreadable {
            id: id.to_owned(),
            message: aws_sdk_secretsmanager::error::DisplayErrorContext(err).to_string(),
        })?;
    let text = output
        .secret_string()
        .ok_or_else(|| SecretReadError::Invalid {
            id: id.to_owned(),
            message: "the secret has no string value",
        })?;
    parse_secret(text, fields).map_err(|message| SecretReadError::Invalid {
        id: id.to_owned(),
        message,
    })
}

/// A secret's value: the string itself, or the first of `fields` a JSON object holds as a
/// string. Surrounding white space is ignored; an empty value is an error.
pub fn parse_secret(text: &str, fields: &[&str]) -> Result<Secret<String>, &'static str> {
    let text = text.trim();
    let value = if text.starts_with('{') {
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|_| "the secret is not a valid JSON object")?;
        fields
            .iter()
            .find_map(|field| object.get(*field).and_then(|v| v.as_str()))
            .ok_or("the secret's JSON has none of the expected fields")?
            .trim()
            .to_owned()
    } else {
        text.to_owned()
    };
    if value.is_empty() {
        return Err("the secret is empty");
    }
    Ok(Secret::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_or_json_field_values_are_read() {
        let fields = ["api_key", "PHOENIX_API_KEY"];
        assert_eq!(parse_secret(" k1\n", &fields).unwrap().expose(), "k1");
        let json = r#"{"PHOENIX_API_KEY": "k2", "other": 1}"#;
        assert_eq!(parse_secret(json, &fields).unwrap().expose(), "k2");
        assert!(parse_secret(r#"{"password": "x"}"#, &fields).is_err());
        assert!(parse_secret("{not json", &fields).is_err());
        assert!(parse_secret("  ", &fields).is_err());
    }
}
