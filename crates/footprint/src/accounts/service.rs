//! Accounts: creation (by an admin, or granted to a user known from tracking), login with
//! lockout after repeated failures (`lockout.rs`), reading an account, and the admin bootstrap.

use std::net::IpAddr;

use footprint_analytics::{Email, Role, Tier, UserId, Username};
use footprint_store::{NewAccount, UserRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::accounts::audit;
use crate::accounts::jwt::{IssuedToken, TokenSubject};
use crate::accounts::lockout::{self, Admission};
use crate::accounts::mfa;
use crate::accounts::password::check_password_policy;
use crate::accounts::risk::{self, LoginContext};
use crate::app::config::Secret;
use crate::app::state::AppState;
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;

const PROFILE_MAX_BYTES: usize = 16 * 1024;

/// An account to create. `user_id` defaults to the username, else the e-mail.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub email: Option<String>,
    #[schema(value_type = String)]
    pub password: Secret,
    /// `admin`, `manager` or `user` (default).
    #[schema(value_type = Option<String>, example = "user")]
    pub role: Option<Role>,
    /// `free` (default), `premium`, `enterprise` or `vip`.
    #[schema(value_type = Option<String>, example = "premium")]
    pub tier: Option<Tier>,
    /// Profile data: `display_name`, `language`, `timezone`, `ai_preferences`, and other keys.
    #[serde(alias = "profile_data")]
    #[schema(value_type = Option<Object>)]
    pub profile: Option<Map<String, Value>>,
}

/// An account or tracked user as shown by the API; never the password hash.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UserView {
    pub user_id: String,
    pub username: Option<String>,
    pub email: Option<String>,
    #[schema(value_type = String)]
    pub role: Role,
    #[schema(value_type = String)]
    pub tier: Tier,
    #[schema(value_type = Object)]
    pub profile: Map<String, Value>,
    /// False for a user known only from tracking.
    pub has_account: bool,
    pub n_events: i64,
    pub first_seen_at: Option<String>,
    pub last_seen_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

pub async fn view(state: &AppState, user: &UserRecord) -> Result<UserView, ApiError> {
    let activity = state.store.user_activity(&user.user_key).await?;
    let decrypt = |field: &Option<String>| -> Result<Option<String>, ApiError> {
        field.as_deref().map(|value| state.keys.cipher.decrypt(value)).transpose().map_err(ApiError::internal)
    };
    let profile = match decrypt(&user.profile_enc)? {
        Some(text) => serde_json::from_str(&text).map_err(ApiError::internal)?,
        None => Map::new(),
    };
    Ok(UserView {
        user_id: user.user_id.clone(),
        username: user.username.clone(),
        email: decrypt(&user.email_enc)?,
        role: user.role,
        tier: user.tier,
        profile,
        has_account: user.has_account(),
        n_events: activity.n_events,
        first_seen_at: activity.first_event_us.map(rfc3339),
        last_seen_at: activity.last_event_us.map(rfc3339),
        created_at: rfc3339(user.created_at_us),
        updated_at: rfc3339(user.updated_at_us),
    })
}

/// Checks the well-known profile keys (and normalises seed 003's settings, see `settings`);
/// other keys are kept as given.
pub fn validate_profile(profile: &mut Map<String, Value>) -> Result<(), String> {
    let text_limits = [("display_name", 100), ("language", 35), ("timezone", 64)];
    for (key, max_chars) in text_limits {
        match profile.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(text)) if text.chars().count() <= max_chars && !text.chars().any(char::is_control) => {}
            Some(_) => {
                return Err(format!("profile.{key}: must be text of at most {max_chars} characters"));
            }
        }
    }
    // Checked against the IANA database bundled into the binary.
    if let Some(timezone) = profile.get("timezone").and_then(Value::as_str)
        && jiff::tz::db().get(timezone.trim()).is_err()
    {
        return Err(format!("profile.timezone: {timezone:?} is not an IANA time zone such as Europe/Paris or UTC"));
    }
    if let Some(language) = profile.get("language").and_then(Value::as_str)
        && language_tags::LanguageTag::parse(language.trim()).is_err()
    {
        return Err(format!(
            "profile.language: {language:?} is not a BCP 47 language tag such as fr, en-GB or zh-Hant"
        ));
    }
    crate::accounts::settings::check(profile)?;
    let size = Value::Object(profile.clone()).to_string().len();
    if size > PROFILE_MAX_BYTES {
        return Err(format!("profile: must be at most {PROFILE_MAX_BYTES} bytes of JSON (got {size})"));
    }
    Ok(())
}

/// Creates an account; a user id known only from tracking gains the account and keeps its history.
pub async fn create_account(state: &AppState, request: NewUserRequest, actor: &str) -> Result<UserView, ApiError> {
    let invalid = |error: footprint_analytics::InvalidValue| ApiError::Validation(error.to_string());
    let username = request.username.as_deref().map(Username::parse).transpose().map_err(invalid)?;
    let email = request.email.as_deref().map(Email::parse).transpose().map_err(invalid)?;
    let user_id = match (&request.user_id, &username, &email) {
        (Some(given), _, _) => UserId::parse(given).map_err(invalid)?,
        (None, Some(username), _) => UserId::parse(username.as_str()).map_err(invalid)?,
        (None, None, Some(email)) => UserId::parse(email.as_str()).map_err(invalid)?,
        (None, None, None) => {
            return Err(ApiError::Validation(
                "username or email is required so that the account can log in".to_owned(),
            ));
        }
    };
    if username.is_none() && email.is_none() {
        return Err(ApiError::Validation("username or email is required so that the account can log in".to_owned()));
    }
    check_password_policy(request.password.expose()).map_err(ApiError::Validation)?;
    let mut profile = request.profile.unwrap_or_default();
    validate_profile(&mut profile).map_err(ApiError::Validation)?;

    let password_hash = state.passwords.hash(request.password.expose().to_owned()).await.map_err(ApiError::internal)?;
    let account = AccountParts {
        user_id,
        username,
        email,
        password_hash,
        role: request.role.unwrap_or(Role::User),
        tier: request.tier.unwrap_or(state.config.tiers.default_tier),
        profile,
    };
    let created = store_account(state, account, actor, "user.create").await?;
    view(state, &created).await
}

/// An account's checked parts, the password already hashed.
pub(crate) struct AccountParts {
    pub user_id: UserId,
    pub username: Option<Username>,
    pub email: Option<Email>,
    pub password_hash: String,
    pub role: Role,
    pub tier: Tier,
    pub profile: Map<String, Value>,
}

/// Stores an account (its e-mail and profile encrypted, a new token generation) and records it
/// in the audit log as `action`; `Conflict` when the id, username or e-mail is taken.
pub(crate) async fn store_account(
    state: &AppState,
    account: AccountParts,
    actor: &str,
    action: &str,
) -> Result<UserRecord, ApiError> {
    let keys = &state.keys;
    let AccountParts { user_id, username, email, password_hash, role, tier, profile } = account;
    let account = NewAccount {
        user_id: user_id.as_str().to_owned(),
        user_key: keys.pseudonymizer.user_key(user_id.as_str()),
        username: username.as_ref().map(|u| u.as_str().to_owned()),
        email_enc: email.as_ref().map(|e| keys.cipher.encrypt(e.as_str())),
        email_index: email.as_ref().map(|e| keys.pseudonymizer.email_index(e.as_str())),
        password_hash,
        role,
        tier,
        profile_enc: (!profile.is_empty()).then(|| keys.cipher.encrypt(&Value::Object(profile).to_string())),
        token_generation: crate::kernel::crypto::random_generation(),
        now_us: state.clock.now_us(),
    };
    let created = state.store.create_account(account).await?;
    // This node may remember the id without an account (its tokens refused): not any more.
    state.auth.forget_account(&created.user_id);
    // The user counts of the statistics change.
    state.cache.invalidate().await;
    audit::record(state, action, Some(actor), Some(&created.user_id), "success", json!({"role": role.as_str()})).await;
    Ok(created)
}

async fn find_by_login(state: &AppState, login: &str) -> Result<Option<UserRecord>, ApiError> {
    if let Some(user) = state.store.user_by_username(login.trim()).await? {
        return Ok(Some(user));
    }
    match Email::parse(login) {
        Ok(email) => Ok(state.store.user_by_email_index(&state.keys.pseudonymizer.email_index(email.as_str())).await?),
        Err(_) => Ok(None),
    }
}

/// Checks a username (or e-mail) and password from `client` and issues an access token. Each
/// attempt is counted before the password is checked, so parallel guesses share one budget;
/// failures lock the login for the client's network only (see `lockout`). A login that names
/// no account is answered exactly like a wrong password, locks included.
pub async fn login(
    state: &AppState,
    login: &str,
    password: String,
    client: Option<IpAddr>,
    context: &LoginContext,
) -> Result<LoginOutcome, ApiError> {
    let account = find_by_login(state, login).await?.filter(UserRecord::has_account);
    let subject = account.as_ref().map(|user| user.user_id.clone());
    let subject = subject.as_deref();
    let pair = lockout::pair(state, account.as_ref(), login, client);
    let network = json!({"network": pair.network});
    let attempt = match lockout::admit(state, pair).await? {
        Admission::Checked(attempt) => attempt,
        Admission::Refused { retry_after_secs, locked_now } => {
            if locked_now {
                audit::record(state, "login", subject, subject, "locked", network).await;
            }
            return Err(lockout::refusal(retry_after_secs));
        }
    };
    // An unknown login costs the same hash as a known one.
    let verified = match &account {
        Some(user) => {
            let stored_hash = user.password_hash.clone().unwrap_or_default();
            state.passwords.verify(password, stored_hash).await.map_err(ApiError::internal)?
        }
        None => {
            state.passwords.verify_nothing(password).await.map_err(ApiError::internal)?;
            false
        }
    };
    let Some(user) = account.filter(|_| verified) else {
        let outcome = if lockout::failed(state, &attempt).await? { "locked" } else { "failure" };
        let reason = if subject.is_some() { "wrong password" } else { "unknown login" };
        let detail = json!({"reason": reason, "network": attempt.pair.network});
        audit::record(state, "login", subject, subject, outcome, detail).await;
        return Err(ApiError::InvalidCredentials);
    };
    let mut assessment = risk::assess(state, &user, context, client, attempt.previous_failures()).await?;
    let method = match mfa::required(state, &user).await? {
        Some(method) => Some(method),
        None if assessment.exceeds_threshold() => {
            let fallback = mfa::fallback(state, &user);
            if fallback.is_none() {
                assessment
                    .risk
                    .reasons
                    .push("above the threshold, but the account has no second factor to ask for".to_owned());
            }
            fallback
        }
        None => None,
    };
    let detail = json!({
        "network": attempt.pair.network,
        "risk_score": assessment.risk.score,
        "risk_threshold": assessment.threshold,
        "reasons": assessment.risk.reasons,
    });
    if let Some(method) = method {
        // The attempts are not forgotten until the second factor passes: wrong codes count on.
        risk::record(state, &user, &assessment, "challenged").await?;
        audit::record(state, "login", subject, subject, "mfa_required", detail).await;
        return Ok(LoginOutcome::SecondFactor(mfa::challenge(state, &user, method, &assessment).await?));
    }
    lockout::succeeded(state, &attempt).await?;
    risk::record(state, &user, &assessment, "success").await?;
    audit::record(state, "login", subject, subject, "success", detail).await;
    let token = issue_token(state, &user);
    Ok(LoginOutcome::Token(Box::new(user), token))
}

/// What a correct password leads to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// The access token.
    Token(Box<UserRecord>, IssuedToken),
    /// The account has a second factor: the challenge to complete with it.
    SecondFactor(mfa::MfaRequired),
}

/// An access token for an account, under its current token generation, lasting no longer
/// than the account's `security_settings.session_timeout_minutes`.
pub fn issue_token(state: &AppState, user: &UserRecord) -> IssuedToken {
    let subject = TokenSubject {
        user_id: &user.user_id,
        role: user.role,
        username: user.username.as_deref(),
        generation: user.token_generation,
    };
    let settings = crate::accounts::settings::security_settings(&state.keys.cipher, user);
    let timeout = crate::accounts::settings::session_timeout(&settings);
    state.auth.jwt().issue_within(subject, state.clock.now(), timeout)
}

/// Whose an access token is (the username, else the user id), or `None` when it is not valid:
/// forged, expired, or its account erased.
pub async fn token_owner(state: &AppState, token: &str) -> Result<Option<String>, ApiError> {
    match state.auth.verify_access_token(token, state.clock.now()).await {
        Ok(claims) => Ok(Some(claims.username.unwrap_or(claims.sub))),
        Err(ApiError::InvalidToken(_) | ApiError::TokenExpired) => Ok(None),
        Err(other) => Err(other),
    }
}

pub async fn get_user(state: &AppState, user_id: &str) -> Result<UserView, ApiError> {
    match state.store.user(user_id).await? {
        Some(user) => view(state, &user).await,
        None => Err(ApiError::NotFound(format!("no user with user_id {user_id}"))),
    }
}

/// Creates the configured admin (`FOOTPRINT_ADMIN_USERNAME` + `FOOTPRINT_ADMIN_PASSWORD`)
/// when the store has no admin yet.
pub async fn bootstrap_admin(state: &AppState) -> Result<(), ApiError> {
    let auth = &state.config.auth;
    let (username, password) = match (&auth.admin_username, &auth.admin_password) {
        (Some(username), Some(password)) => (username.clone(), password.expose().to_owned()),
        (Some(_), None) | (None, Some(_)) => {
            tracing::warn!(
                "set both FOOTPRINT_ADMIN_USERNAME and FOOTPRINT_ADMIN_PASSWORD to create an admin; none was created"
            );
            return Ok(());
        }
        (None, None) => {
            if state.store.count_admins().await? == 0 {
                tracing::warn!(
                    "no admin account exists: set FOOTPRINT_ADMIN_USERNAME and FOOTPRINT_ADMIN_PASSWORD, or run `footprint admin create`"
                );
            }
            return Ok(());
        }
    };
    if state.store.count_admins().await? > 0 {
        return Ok(());
    }
    let request = NewUserRequest {
        user_id: None,
        username: Some(username.clone()),
        email: None,
        password: Secret::new(password),
        role: Some(Role::Admin),
        tier: Some(state.config.tiers.admin_tier),
        profile: None,
    };
    match create_account(state, request, "bootstrap").await {
        Ok(_) => tracing::info!(username = %username, "admin account created from the environment"),
        // Another node (or `setup-db`) created it at the same moment.
        Err(ApiError::Conflict(_)) if state.store.count_admins().await? > 0 => {}
        Err(error) => return Err(error),
    }
    Ok(())
}

/// Revokes every access token issued to the account so far (all sessions, every node once its
/// look-up of the generation is older than `auth.token_check_cache_ms`; this node at once).
pub async fn revoke_tokens(state: &AppState, user_id: &str, actor: &str) -> Result<(), ApiError> {
    if !state.store.renew_token_generation(user_id, crate::kernel::crypto::random_generation()).await? {
        return Err(ApiError::NotFound(format!("no account {user_id}")));
    }
    state.auth.forget_account(user_id);
    audit::record(state, "account.tokens_revoked", Some(actor), Some(user_id), "success", serde_json::json!({})).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn profiles_are_checked_where_the_keys_are_known() {
        let ok = json!({"display_name": "Jean Dupont", "language": "fr", "timezone": "Europe/Paris", "ai_preferences": {"personalization_level": "advanced"}, "favourite_genre": "jazz"});
        assert!(validate_profile(&mut ok.as_object().cloned().unwrap()).is_ok());
        let bad_zone = json!({"timezone": "Paris"});
        assert!(
            validate_profile(&mut bad_zone.as_object().cloned().unwrap()).unwrap_err().starts_with("profile.timezone")
        );
        let made_up_zone = json!({"timezone": "Europe/Atlantis"});
        assert!(
            validate_profile(&mut made_up_zone.as_object().cloned().unwrap())
                .unwrap_err()
                .starts_with("profile.timezone")
        );
        for zone in ["UTC", "America/Argentina/Buenos_Aires", "Asia/Kolkata"] {
            assert!(validate_profile(&mut json!({"timezone": zone}).as_object().cloned().unwrap()).is_ok(), "{zone}");
        }
        for language in ["fr", "en-GB", "zh-Hant-TW", "es-419"] {
            assert!(
                validate_profile(&mut json!({"language": language}).as_object().cloned().unwrap()).is_ok(),
                "{language}"
            );
        }
        for language in ["french!", "e", "en_GB", "x"] {
            let error = validate_profile(&mut json!({"language": language}).as_object().cloned().unwrap()).unwrap_err();
            assert!(error.starts_with("profile.language"), "{language}: {error}");
        }
        let bad_name = json!({"display_name": 42});
        assert!(
            validate_profile(&mut bad_name.as_object().cloned().unwrap())
                .unwrap_err()
                .starts_with("profile.display_name")
        );
        let bad_prefs = json!({"ai_preferences": "lots"});
        assert!(validate_profile(&mut bad_prefs.as_object().cloned().unwrap()).is_err());
    }
}
