//! Who is calling: the `Principal` (a user's JWT or an API key), the `Authenticator` that
//! resolves a credential into one, and the permission checks every protected route makes. The
//! HTTP extractor lives in `http/principal.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use footprint_analytics::Role;
use footprint_store::{ApiKeyRecord, Store};

use crate::accounts::api_key;
use crate::accounts::jwt::{JwtKeys, TokenError};
use crate::kernel::error::ApiError;

pub const SCOPE_INGEST: &str = "ingest";
/// An API key that may read `/metrics` (a Prometheus scraper's).
pub const SCOPE_METRICS: &str = "metrics";
pub const API_KEY_HEADER: &str = "x-api-key";

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User { user_id: String, role: Role, username: Option<String> },
    ApiKey { key_id: String, scopes: Vec<String> },
}

impl Principal {
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Principal::User { user_id, .. } => Some(user_id),
            Principal::ApiKey { .. } => None,
        }
    }

    /// A short, non-secret name for logs and the audit trail.
    pub fn actor(&self) -> String {
        match self {
            Principal::User { user_id, .. } => user_id.clone(),
            Principal::ApiKey { key_id, .. } => format!("api-key:{key_id}"),
        }
    }

    fn role(&self) -> Option<Role> {
        match self {
            Principal::User { role, .. } => Some(*role),
            Principal::ApiKey { .. } => None,
        }
    }

    pub fn is_staff(&self) -> bool {
        self.role().is_some_and(Role::is_staff)
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.role() {
            Some(Role::Admin) => Ok(()),
            Some(_) => Err(ApiError::Forbidden("this route needs the admin role".to_owned())),
            None => Err(ApiError::Forbidden("API keys cannot use this route; use an admin's access token".to_owned())),
        }
    }

    pub fn require_staff(&self) -> Result<(), ApiError> {
        match self.role() {
            Some(role) if role.is_staff() => Ok(()),
            Some(_) => Err(ApiError::Forbidden("this route needs the manager or admin role".to_owned())),
            None => Err(ApiError::Forbidden("API keys cannot use this route; use a manager's access token".to_owned())),
        }
    }

    /// Reading or changing a user's own data: that user, or a manager/admin.
    pub fn require_self_or_staff(&self, user_id: &str) -> Result<(), ApiError> {
        if self.user_id() == Some(user_id) || self.is_staff() {
            return Ok(());
        }
        Err(ApiError::Forbidden(format!("only {user_id} or a manager/admin may access this user's data")))
    }

    /// The user's rights over their own data (erasure, export): that user, or an admin.
    pub fn require_self_or_admin(&self, user_id: &str) -> Result<(), ApiError> {
        if self.user_id() == Some(user_id) || self.role() == Some(Role::Admin) {
            return Ok(());
        }
        Err(ApiError::Forbidden(format!("only {user_id} or an admin may do this with this user's data")))
    }

    /// Reading `/metrics` when it is token-protected: an admin, or an API key with the `metrics` scope.
    pub fn require_metrics_reader(&self) -> Result<(), ApiError> {
        match self {
            Principal::ApiKey { scopes, .. } if scopes.iter().any(|s| s == SCOPE_METRICS) => Ok(()),
            Principal::ApiKey { .. } => Err(ApiError::Forbidden("this API key lacks the metrics scope".to_owned())),
            Principal::User { .. } => self.require_admin(),
        }
    }

    /// Tracking (events, consent) for `user_id`: that user's token, a manager/admin token,
    /// or an API key with the `ingest` scope.
    pub fn may_track(&self, user_id: &str) -> Result<(), String> {
        match self {
            Principal::ApiKey { scopes, .. } if scopes.iter().any(|s| s == SCOPE_INGEST) => Ok(()),
            Principal::ApiKey { .. } => Err("this API key lacks the ingest scope".to_owned()),
            Principal::User { user_id: own, role, .. } if own == user_id || role.is_staff() => Ok(()),
            Principal::User { user_id: own, .. } => Err(format!("the token of {own} may only track user_id {own}")),
        }
    }
}

/// Checks credentials: JWTs by signature, API keys against the store (cached briefly).
pub struct Authenticator {
    jwt: JwtKeys,
    store: Arc<dyn Store>,
    api_key_cache: Mutex<HashMap<String, (Option<ApiKeyRecord>, Instant)>>,
    api_key_cache_ttl: Duration,
}

impl Authenticator {
    pub fn new(jwt: JwtKeys, store: Arc<dyn Store>, api_key_cache_ttl: Duration) -> Self {
        Self { jwt, store, api_key_cache: Mutex::new(HashMap::new()), api_key_cache_ttl }
    }

    pub fn jwt(&self) -> &JwtKeys {
        &self.jwt
    }

    /// The principal behind a credential; a token's expiry is read against `now`, the server's clock.
    pub async fn authenticate(&self, credential: &str, now: time::OffsetDateTime) -> Result<Principal, ApiError> {
        if api_key::looks_like_api_key(credential) {
            return self.authenticate_api_key(credential).await;
        }
        match self.jwt.verify(credential, now) {
            Ok(claims) => Ok(Principal::User { user_id: claims.sub, role: claims.role, username: claims.username }),
            Err(TokenError::Expired) => Err(ApiError::TokenExpired),
            Err(TokenError::Invalid(why)) => {
                Err(ApiError::InvalidToken(format!("the access token is not valid ({why}): log in again")))
            }
        }
    }

    async fn authenticate_api_key(&self, secret: &str) -> Result<Principal, ApiError> {
        let key_hash = api_key::hash(secret);
        let cached = {
            let cache = self.api_key_cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            cache
                .get(&key_hash)
                .filter(|(_, at)| at.elapsed() < self.api_key_cache_ttl)
                .map(|(record, _)| record.clone())
        };
        let record = match cached {
            Some(record) => record,
            None => {
                let record = self.store.api_key_by_hash(&key_hash).await?;
                let mut cache = self.api_key_cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if cache.len() > 10_000 {
                    cache.clear();
                }
                cache.insert(key_hash, (record.clone(), Instant::now()));
                record
            }
        };
        match record {
            Some(key) if key.revoked_at_us.is_none() => {
                Ok(Principal::ApiKey { key_id: key.key_id, scopes: key.scopes })
            }
            Some(_) => Err(ApiError::InvalidToken("this API key has been revoked".to_owned())),
            None => Err(ApiError::InvalidToken("unknown API key".to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, role: Role) -> Principal {
        Principal::User { user_id: id.to_owned(), role, username: None }
    }

    #[test]
    fn tracking_permissions() {
        assert!(user("alice", Role::User).may_track("alice").is_ok());
        assert!(user("alice", Role::User).may_track("bob").unwrap_err().contains("only track user_id alice"));
        assert!(user("mgr", Role::Manager).may_track("bob").is_ok());
        let key = Principal::ApiKey { key_id: "fp_x".into(), scopes: vec![SCOPE_INGEST.into()] };
        assert!(key.may_track("anyone").is_ok());
        let scopeless = Principal::ApiKey { key_id: "fp_y".into(), scopes: vec![] };
        assert!(scopeless.may_track("anyone").is_err());
    }

    #[test]
    fn role_checks() {
        assert!(user("a", Role::Admin).require_admin().is_ok());
        assert!(user("m", Role::Manager).require_admin().is_err());
        assert!(user("m", Role::Manager).require_staff().is_ok());
        assert!(user("u", Role::User).require_staff().is_err());
        assert!(user("u", Role::User).require_self_or_staff("u").is_ok());
        assert!(user("u", Role::User).require_self_or_staff("v").is_err());
        let key = Principal::ApiKey { key_id: "fp_x".into(), scopes: vec![SCOPE_INGEST.into()] };
        assert!(key.require_staff().is_err() && key.require_admin().is_err());
    }
}
