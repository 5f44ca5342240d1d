//! The master key: from the config (`general_settings.master_key` / `LITELLM_MASTER_KEY`), or
//! from Secrets Manager (`GATEWAY_MASTER_KEY_SECRET_ID`), cached in the execution environment and
//! fetched again every refresh interval, so a rotated key works without a redeploy.
//!
//! The refresh runs in the background: a request compares against the value already held (a read
//! lock, never held across an await) and, when the refresh interval has passed, starts one
//! background fetch. Only an instance that holds no value at all (its start-up fetch failed) waits
//! for a fetch, and that fetch is bounded by the Secrets Manager client's deadlines.
//!
//! During a rotation the previous value stays accepted until the grace period after the new
//! version was created (its `CreatedDate`, or when this instance first saw it): a warm instance
//! keeps the value it saw last, a cold one asks for the `AWSPREVIOUS` stage. Keys are compared by
//! their SHA-256 digests in constant time (so neither the content nor the length of the master key
//! leaks through timing), and held in [`Secret`], so they never reach a log.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_secretsmanager::Client;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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
            MasterKey::Static(master) => same(&digest(key), &digest(master.expose())),
            MasterKey::SecretsManager(source) => source.matches(key).await,
        }
    }
}

type KeyDigest = [u8; 32];

fn digest(key: &str) -> KeyDigest {
    Sha256::digest(key.as_bytes()).into()
}

/// Equal digests, compared in constant time (both are 32 bytes, whatever the keys' lengths).
fn same(a: &KeyDigest, b: &KeyDigest) -> bool {
    bool::from(a.ct_eq(b))
}

/// The secret's value: the string itself, or a JSON object's `master_key` (or
/// `LITELLM_MASTER_KEY`) field. Surrounding white space is ignored.
pub fn parse_master_secret(text: &str) -> Result<Secret<String>, &'static str> {
    crate::store::parse_secret(text, &["master_key", "LITELLM_MASTER_KEY"])
}

#[derive(Default)]
struct State {
    current: Option<KeyDigest>,
    version: Option<String>,
    /// The value before the current one, accepted until the instant given.
    /// (Unix ms of the key's clock.)
    previous: Option<(KeyDigest, u64)>,
    /// Unix ms of the key's clock.
    next_fetch: Option<u64>,
}

/// The master key in Secrets Manager.
pub struct SecretsManagerMasterKey {
    client: Client,
    secret_id: String,
    refresh: Duration,
    grace: Duration,
    state: RwLock<State>,
    /// One fetch at a time: requests that find one running do not start another.
    fetching: tokio::sync::Mutex<()>,
    background: AtomicBool,
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
            state: RwLock::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
            background: AtomicBool::new(false),
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
        let _one = self.fetching.lock().await;
        self.refresh().await;
    }

    async fn matches(self: &Arc<Self>, key: &str) -> bool {
        let (loaded, due) = {
            let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
            let due = state.next_fetch.is_none_or(|at| self.clock.unix_ms() >= at);
            (state.current.is_some(), due)
        };
        if !loaded && due {
            // Nothing to compare with: wait for the fetch (one at a time, bounded by the
            // client's deadlines). Another request's fetch may have loaded it meanwhile.
            let _one = self.fetching.lock().await;
            let still_due = {
                let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
                state.next_fetch.is_none_or(|at| self.clock.unix_ms() >= at)
            };
            if still_due {
                self.refresh().await;
            }
        } else if due {
            self.refresh_in_background();
        }
        let presented = digest(key);
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        if state.current.as_ref().is_some_and(|c| same(&presented, c)) {
            return true;
        }
        state
            .previous
            .as_ref()
            .is_some_and(|(p, until)| self.clock.unix_ms() < *until && same(&presented, p))
    }

    /// Starts one fetch off the request path, unless one is running.
    fn refresh_in_background(self: &Arc<Self>) {
        if self.background.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = Arc::clone(self);
        tokio::spawn(async move {
            if let Ok(_one) = this.fetching.try_lock() {
                this.refresh().await;
            }
            this.background.store(false, Ordering::Release);
        });
    }

    /// Fetches the secret and updates the state; the caller holds `fetching`.
    async fn refresh(&self) {
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
                self.write().next_fetch =
                    Some(self.clock.unix_ms() + millis(self.refresh.min(RETRY_AFTER_FAILURE)));
                return;
            }
        };
        self.write().next_fetch = Some(self.clock.unix_ms() + millis(self.refresh));
        let parsed = output.secret_string().map(parse_master_secret);
        let value = match parsed {
            Some(Ok(value)) => digest(value.expose()),
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
        let (known, seen) = {
            let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
            (
                state.version.is_some() && state.version == version,
                state.current,
            )
        };
        if known {
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
        let previous = match seen {
            Some(seen) => Some(seen),
            None if until > now => self.previous_stage().await,
            None => None,
        };
        let mut state = self.write();
        state.previous = previous.filter(|p| !same(p, &value)).map(|p| (p, until));
        state.current = Some(value);
        state.version = version;
        tracing::info!(secret_id = %self.secret_id, "master key loaded from Secrets Manager");
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `AWSPREVIOUS` value's digest, if there is one.
    async fn previous_stage(&self) -> Option<KeyDigest> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_stage("AWSPREVIOUS")
            .send()
            .await
            .ok()?;
        parse_master_secret(output.secret_string()?)
            .ok()
            .map(|value| digest(value.expose()))
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
