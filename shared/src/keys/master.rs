//! The master key: from the config (`general_settings.master_key` / `LITELLM_MASTER_KEY`), or
//! from Secrets Manager (`GATEWAY_MASTER_KEY_SECRET_ID`), cached in the execution environment and
//! fetched again every refresh interval, so a rotated key works without a redeploy.
//!
//! During a rotation the previous value stays accepted until the grace period after the new
//! version was created (its `CreatedDate`, or when this instance first saw it): a warm instance
//! keeps the value it saw last, a cold one asks for the `AWSPREVIOUS` stage. Keys are compared in
//! constant time and held in [`Secret`], so they never reach a log.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_secretsmanager::Client;
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;

use crate::clock::WallClock;
use crate::secret::Secret;

/// After a failed fetch, the next one waits at most this long.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// Where the master key comes from.
#[derive(Clone, Default)]
pub enum MasterKey {
    /// No master key: admin endpoints and master access are refused.
    #[default]
    None,
    /// From the config.
    Static(Secret<String>),
    SecretsManager(Arc<SecretsManagerMasterKey>),
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MasterKey::None => "MasterKey::None",
            MasterKey::Static(_) => "MasterKey::Static(*****)",
            MasterKey::SecretsManager(_) => "MasterKey::SecretsManager",
        })
    }
}

impl MasterKey {
    pub fn from_config(key: Option<Secret<String>>) -> MasterKey {
        key.map_or(MasterKey::None, MasterKey::Static)
    }

    pub fn is_configured(&self) -> bool {
        !matches!(self, MasterKey::None)
    }

    /// Whether `key` is the master key (current, or previous within its grace period).
    pub async fn matches(&self, key: &str) -> bool {
        match self {
            MasterKey::None => false,
            MasterKey::Static(master) => same(key, master),
            MasterKey::SecretsManager(source) => source.matches(key).await,
        }
    }
}

fn same(key: &str, secret: &Secret<String>) -> bool {
    bool::from(key.as_bytes().ct_eq(secret.expose().as_bytes()))
}

/// The secret's value: the string itself, or a JSON object's `master_key` (or
/// `LITELLM_MASTER_KEY`) field. Surrounding white space is ignored.
pub fn parse_master_secret(text: &str) -> Result<Secret<String>, &'static str> {
    crate::store::parse_secret(text, &["master_key", "LITELLM_MASTER_KEY"])
}

struct State {
    current: Option<Secret<String>>,
    version: Option<String>,
    /// The value before the current one, accepted until the instant given.
    /// The previous value and until when it is accepted (Unix ms of the key's clock).
    previous: Option<(Secret<String>, u64)>,
    /// Unix ms of the key's clock.
    next_fetch: u64,
}

/// The master key in Secrets Manager.
pub struct SecretsManagerMasterKey {
    client: Client,
    secret_id: String,
    refresh: Duration,
    grace: Duration,
    state: Mutex<State>,
    clock: WallClock,
}

impl SecretsManagerMasterKey {
    /// Nothing is fetched until the first key is checked.
    pub fn new(client: Client, secret_id: String, refresh: Duration, grace: Duration) -> Self {
        SecretsManagerMasterKey {
            client,
            secret_id,
            refresh,
            grace,
            state: Mutex::new(State {
                current: None,
                version: None,
                previous: None,
                next_fetch: 0,
            }),
            clock: WallClock::system(),
        }
    }

    /// Refreshes and the grace period read `clock` (tests move it).
    pub fn with_clock(mut self, clock: WallClock) -> Self {
        self.clock = clock;
        self
    }

    /// Fetches the secret now (a cold start warms the cache with this); an error is logged.
    pub async fn prefetch(&self) {
        let mut state = self.state.lock().await;
        self.refresh(&mut state).await;
    }

    async fn matches(&self, key: &str) -> bool {
        let mut state = self.state.lock().await;
        if self.clock.unix_ms() >= state.next_fetch {
            self.refresh(&mut state).await;
        }
        if state.current.as_ref().is_some_and(|c| same(key, c)) {
            return true;
        }
        state
            .previous
            .as_ref()
            .is_some_and(|(p, until)| self.clock.unix_ms() < *until && same(key, p))
    }

    async fn refresh(&self, state: &mut State) {
        let fetched = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await;
        let output = match fetched {
            Ok(output) => output,
            Err(err) => {
                tracing::error!(
                    secret_id = %self.secret_id,
                    error = %aws_sdk_secretsmanager::error::DisplayErrorContext(&err),
                    "cannot read the master key from Secrets Manager; keeping the last value"
                );
                state.next_fetch =
                    self.clock.unix_ms() + millis(self.refresh.min(RETRY_AFTER_FAILURE));
                return;
            }
        };
        state.next_fetch = self.clock.unix_ms() + millis(self.refresh);
        let parsed = output.secret_string().map(parse_master_secret);
        let value = match parsed {
            Some(Ok(value)) => value,
            Some(Err(reason)) => {
                tracing::error!(secret_id = %self.secret_id, reason, "the master key secret is unusable");
                return;
            }
            None => {
                tracing::error!(secret_id = %self.secret_id, "the master key secret has no SecretString");
                return;
            }
        };
        let version = output.version_id().map(str::to_owned);
        if state.version.is_some() && state.version == version {
            return;
        }
        // When this version began: its creation date, else now.
        let now = self.clock.unix_ms();
        let created = output
            .created_date()
            .and_then(|d| SystemTime::try_from(*d).ok())
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(now, millis);
        let until = created.saturating_add(millis(self.grace));
        let previous = match state.current.take() {
            Some(seen) => Some(seen),
            None if until > now => self.previous_stage().await,
            None => None,
        };
        state.previous = previous
            .filter(|p| p.expose() != value.expose())
            .map(|p| (p, until));
        state.current = Some(value);
        state.version = version;
        tracing::info!(secret_id = %self.secret_id, "master key loaded from Secrets Manager");
    }

    /// The `AWSPREVIOUS` value, if there is one.
    async fn previous_stage(&self) -> Option<Secret<String>> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_stage("AWSPREVIOUS")
            .send()
            .await
            .ok()?;
        parse_master_secret(output.secret_string()?).ok()
    }
}

/// A duration in whole milliseconds, saturated.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_or_json_secrets() {
        assert_eq!(parse_master_secret(" sk-1\n").unwrap().expose(), "sk-1");
        assert_eq!(
            parse_master_secret(r#"{"master_key": "sk-2", "other": 1}"#)
                .unwrap()
                .expose(),
            "sk-2"
        );
        assert_eq!(
            parse_master_secret(r#"{"LITELLM_MASTER_KEY": "sk-3"}"#)
                .unwrap()
                .expose(),
            "sk-3"
        );
        assert!(parse_master_secret(r#"{"password": "x"}"#).is_err());
        assert!(parse_master_secret("{not json").is_err());
        assert!(parse_master_secret("  ").is_err());
    }

    #[tokio::test]
    async fn static_and_absent_master_keys() {
        let master = MasterKey::from_config(Some(Secret::new("sk-m".to_owned())));
        assert!(master.matches("sk-m").await);
        assert!(!master.matches("sk-n").await);
        assert!(!MasterKey::None.matches("").await);
        assert_eq!(format!("{master:?}"), "MasterKey::Static(*****)");
    }
}
