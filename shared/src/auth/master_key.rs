//! The master key check, in constant time.

use subtle::ConstantTimeEq;

use super::{presented_key, Principal};
use crate::error::ApiError;
use crate::secret::Secret;

/// Accepts the master key; without one configured, it refuses every request rather than
/// running an open proxy.
#[derive(Debug, Clone)]
pub struct MasterKeyAuth {
    master_key: Option<Secret<String>>,
}

impl MasterKeyAuth {
    pub fn new(master_key: Option<Secret<String>>) -> Self {
        MasterKeyAuth { master_key }
    }

    pub fn authenticate(&self, headers: &http::HeaderMap) -> Result<Principal, ApiError> {
        let Some(key) = presented_key(headers) else {
            return Err(ApiError::unauthorized(
                "No API key provided. Send it as `Authorization: Bearer <key>`.",
            ));
        };
        let Some(master) = &self.master_key else {
            return Err(ApiError::unauthorized(
                "This gateway has no keys configured.",
            ));
        };
        if bool::from(key.as_bytes().ct_eq(master.expose().as_bytes())) {
            Ok(Principal::master())
        } else {
            Err(ApiError::unauthorized("Incorrect API key provided."))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn headers(name: &str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
        h
    }

    #[test]
    fn accepts_bearer_and_x_api_key_and_rejects_others() {
        let auth = MasterKeyAuth::new(Some(Secret::new("sk-master".to_owned())));
        assert_eq!(
            auth.authenticate(&headers("authorization", "Bearer sk-master"))
                .unwrap(),
            Principal::master()
        );
        assert!(auth
            .authenticate(&headers("x-api-key", "sk-master"))
            .is_ok());
        let wrong = auth
            .authenticate(&headers("authorization", "Bearer sk-other"))
            .unwrap_err();
        assert_eq!(wrong.status(), 401);
        assert!(
            !wrong.message().contains("sk-"),
            "the error never echoes a key"
        );
        assert_eq!(
            auth.authenticate(&HeaderMap::new()).unwrap_err().status(),
            401
        );
    }

    #[test]
    fn without_a_master_key_nothing_is_accepted() {
        let auth = MasterKeyAuth::new(None);
        assert_eq!(
            auth.authenticate(&headers("authorization", "Bearer anything"))
                .unwrap_err()
                .status(),
            401
        );
    }
}
