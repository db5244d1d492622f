//! Who is calling: the `Principal` (a user's JWT or an API key), the `Authenticator` that
//! resolves a credential into one, and the permission checks every protected route makes. The
//! HTTP extractor lives in `http/principal.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use footprint_analytics::{Role, Tier};
use footprint_store::{ApiKeyRecord, Store, UserRecord};

use crate::accounts::api_key::{self, ORIGIN_SCOPE_PREFIX, SCOPE_BROWSER};
use crate::accounts::jwt::{Claims, JwtKeys, TokenError};
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

    /// Whether this is a publishable key of the browser tracker.
    pub fn is_browser_key(&self) -> bool {
        matches!(self, Principal::ApiKey { scopes, .. } if scopes.iter().any(|s| s == SCOPE_BROWSER))
    }

    /// The origins a publishable key may send from (none for any other principal).
    pub fn browser_origins(&self) -> Vec<&str> {
        match self {
            Principal::ApiKey { scopes, .. } if self.is_browser_key() => {
                scopes.iter().filter_map(|scope| scope.strip_prefix(ORIGIN_SCOPE_PREFIX)).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Tracking (events, consent) for `user_id`: that user's token, a manager/admin token,
    /// an API key with the `ingest` scope, or a publishable key (which reaches only `/api/collect`).
    pub fn may_track(&self, user_id: &str) -> Result<(), String> {
        match self {
            Principal::ApiKey { scopes, .. } if scopes.iter().any(|s| s == SCOPE_INGEST || s == SCOPE_BROWSER) => {
                Ok(())
            }
            Principal::ApiKey { .. } => Err("this API key lacks the ingest scope".to_owned()),
            Principal::User { user_id: own, role, .. } if own == user_id || role.is_staff() => Ok(()),
            Principal::User { user_id: own, .. } => Err(format!("the token of {own} may only track user_id {own}")),
        }
    }
}

/// What was last read for a key, trusted for a short time.
struct Recent<V> {
    entries: Mutex<HashMap<String, (V, Instant)>>,
    ttl: Duration,
}

impl<V: Clone> Recent<V> {
    fn new(ttl: Duration) -> Self {
        Self { entries: Mutex::new(HashMap::new()), ttl }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, (V, Instant)>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, key: &str) -> Option<V> {
        self.entries().get(key).filter(|(_, at)| at.elapsed() < self.ttl).map(|(value, _)| value.clone())
    }

    fn put(&self, key: String, value: V) {
        let mut entries = self.entries();
        if entries.len() > 10_000 {
            entries.clear();
        }
        entries.insert(key, (value, Instant::now()));
    }

    fn forget(&self, key: &str) {
        self.entries().remove(key);
    }
}

/// Checks credentials: JWTs by signature and against their account's token generation, API
/// keys against the store (both looked up again after a short while).
pub struct Authenticator {
    jwt: JwtKeys,
    store: Arc<dyn Store>,
    api_keys: Recent<Option<ApiKeyRecord>>,
    /// The token generation and tier of each account recently seen (`None`: no account).
    accounts: Recent<Option<(i64, Tier)>>,
}

impl Authenticator {
    /// `api_key_cache_ttl` and `account_cache_ttl` bound how long a revoked key, or the token of
    /// an erased account, may still be accepted by a node that looked it up just before.
    pub fn new(jwt: JwtKeys, store: Arc<dyn Store>, api_key_cache_ttl: Duration, account_cache_ttl: Duration) -> Self {
        Self { jwt, store, api_keys: Recent::new(api_key_cache_ttl), accounts: Recent::new(account_cache_ttl) }
    }

    pub fn jwt(&self) -> &JwtKeys {
        &self.jwt
    }

    /// The principal behind a credential; a token's expiry is read against `now`, the server's clock.
    pub async fn authenticate(&self, credential: &str, now: time::OffsetDateTime) -> Result<Principal, ApiError> {
        Ok(self.authenticate_with_tier(credential, now).await?.0)
    }

    /// The principal behind a credential and the tier its calls count against: its account's
    /// (as read at most `account_cache_ttl` ago), or the one its API key was created with.
    pub async fn authenticate_with_tier(
        &self,
        credential: &str,
        now: time::OffsetDateTime,
    ) -> Result<(Principal, Tier), ApiError> {
        if api_key::looks_like_api_key(credential) {
            return self.authenticate_api_key(credential).await;
        }
        let (claims, tier) = self.verify(credential, now).await?;
        Ok((Principal::User { user_id: claims.sub, role: claims.role, username: claims.username }, tier))
    }

    /// The claims of an access token that is signed here, not expired at `now`, and issued
    /// under its account's current token generation: the token of an erased account, or one
    /// issued before its account's tokens were revoked, is `InvalidToken`.
    pub async fn verify_access_token(&self, token: &str, now: time::OffsetDateTime) -> Result<Claims, ApiError> {
        Ok(self.verify(token, now).await?.0)
    }

    async fn verify(&self, token: &str, now: time::OffsetDateTime) -> Result<(Claims, Tier), ApiError> {
        let claims = match self.jwt.verify(token, now) {
            Ok(claims) => claims,
            Err(TokenError::Expired) => return Err(ApiError::TokenExpired),
            Err(TokenError::Invalid(why)) => {
                return Err(ApiError::InvalidToken(format!("the access token is not valid ({why}): log in again")));
            }
        };
        let account = match self.accounts.get(&claims.sub) {
            Some(account) => account,
            None => {
                let user = self.store.user(&claims.sub).await?;
                let account = user.filter(UserRecord::has_account).map(|user| (user.token_generation, user.tier));
                self.accounts.put(claims.sub.clone(), account);
                account
            }
        };
        match account {
            Some((generation, tier)) if generation == claims.generation => Ok((claims, tier)),
            _ => Err(ApiError::InvalidToken(
                "the access token was revoked (its account was erased or changed): log in again".to_owned(),
            )),
        }
    }

    /// Forgets what this node read of the account, so that a change to it (its erasure) is
    /// seen here at the next request; other nodes see it once their look-up is older than
    /// `account_cache_ttl`.
    pub fn forget_account(&self, user_id: &str) {
        self.accounts.forget(user_id);
    }

    async fn authenticate_api_key(&self, secret: &str) -> Result<(Principal, Tier), ApiError> {
        let key_hash = api_key::hash(secret);
        let record = match self.api_keys.get(&key_hash) {
            Some(record) => record,
            None => {
                let record = self.store.api_key_by_hash(&key_hash).await?;
                self.api_keys.put(key_hash, record.clone());
                record
            }
        };
        match record {
            Some(key) if key.revoked_at_us.is_none() => {
                Ok((Principal::ApiKey { key_id: key.key_id, scopes: key.scopes }, key.tier))
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
