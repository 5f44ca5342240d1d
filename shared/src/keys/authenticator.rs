//! Step 1 of the pipeline: the presented key becomes a [`Principal`], or an error.
//!
//! The master key is compared in constant time; any other key is hashed and looked up in the
//! key store, so a key's plain text is never stored or sent anywhere.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use subtle::ConstantTimeEq;

use super::{KeyHash, KeyStore, Principal};
use crate::error::{AuthFailure, GatewayError};
use crate::secret::Secret;

pub struct Authenticator {
    master_key: Option<Secret<String>>,
    store: Arc<dyn KeyStore>,
}

impl Authenticator {
    pub fn new(master_key: Option<Secret<String>>, store: Arc<dyn KeyStore>) -> Self {
        Authenticator { master_key, store }
    }

    pub async fn authenticate(&self, key: Option<&str>) -> Result<Principal, GatewayError> {
        let Some(key) = key else {
            return Err(GatewayError::Unauthenticated(AuthFailure::NoKey));
        };
        if let Some(master) = &self.master_key {
            if bool::from(key.as_bytes().ct_eq(master.expose().as_bytes())) {
                return Ok(Principal::master());
            }
        }
        let hash = KeyHash::of(key);
        let found = self.store.find(&hash).await.map_err(|err| {
            tracing::error!(error = %err, "key lookup failed");
            GatewayError::DependencyUnavailable("key store".into())
        })?;
        let Some(virtual_key) = found else {
            return Err(GatewayError::Unauthenticated(match self.master_key {
                Some(_) => AuthFailure::UnknownKey,
                None => AuthFailure::NoKeysConfigured,
            }));
        };
        if virtual_key.blocked {
            return Err(GatewayError::Unauthenticated(AuthFailure::Blocked));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if virtual_key.expires_at.is_some_and(|at| at <= now) {
            return Err(GatewayError::Unauthenticated(AuthFailure::Expired));
        }
        Ok(Principal {
            key_id: hash.prefix().to_owned(),
            key_alias: virtual_key.alias,
            team: virtual_key.team,
            user: virtual_key.user,
            models: (!virtual_key.models.is_empty()).then(|| virtual_key.models.into()),
            guardrails: virtual_key.guardrails,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{MemoryKeyStore, VirtualKey};

    fn auth(master: Option<&str>) -> (Authenticator, Arc<MemoryKeyStore>) {
        let store = Arc::new(MemoryKeyStore::new());
        let auth = Authenticator::new(master.map(|m| Secret::new(m.to_owned())), store.clone());
        (auth, store)
    }

    fn failure(result: Result<Principal, GatewayError>) -> AuthFailure {
        match result {
            Err(GatewayError::Unauthenticated(failure)) => failure,
            other => panic!("expected an auth failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn master_key_and_unknown_keys() {
        let (auth, _) = auth(Some("sk-master"));
        assert_eq!(
            auth.authenticate(Some("sk-master")).await.unwrap(),
            Principal::master()
        );
        assert_eq!(
            failure(auth.authenticate(Some("sk-other")).await),
            AuthFailure::UnknownKey
        );
        assert_eq!(failure(auth.authenticate(None).await), AuthFailure::NoKey);
    }

    #[tokio::test]
    async fn without_any_key_configured_nothing_is_accepted() {
        let (auth, _) = auth(None);
        assert_eq!(
            failure(auth.authenticate(Some("anything")).await),
            AuthFailure::NoKeysConfigured
        );
    }

    #[tokio::test]
    async fn virtual_keys_carry_team_and_models_and_can_expire_or_be_blocked() {
        let (auth, store) = auth(Some("sk-master"));
        store.insert(
            "sk-team-a",
            VirtualKey {
                alias: Some("ci".into()),
                team: Some("a".into()),
                models: vec!["claude-3-haiku".into()],
                ..VirtualKey::default()
            },
        );
        store.insert(
            "sk-old",
            VirtualKey {
                expires_at: Some(1),
                ..VirtualKey::default()
            },
        );
        store.insert(
            "sk-blocked",
            VirtualKey {
                blocked: true,
                ..VirtualKey::default()
            },
        );
        let principal = auth.authenticate(Some("sk-team-a")).await.unwrap();
        assert_eq!(principal.team.as_deref(), Some("a"));
        assert_eq!(principal.key_alias.as_deref(), Some("ci"));
        assert_eq!(principal.key_id, KeyHash::of("sk-team-a").prefix());
        assert!(!principal.key_id.contains("sk-"));
        assert!(principal.may_use("claude-3-haiku"));
        assert!(!principal.may_use("claude-3-sonnet"));
        assert_eq!(
            failure(auth.authenticate(Some("sk-old")).await),
            AuthFailure::Expired
        );
        assert_eq!(
            failure(auth.authenticate(Some("sk-blocked")).await),
            AuthFailure::Blocked
        );
    }
}
