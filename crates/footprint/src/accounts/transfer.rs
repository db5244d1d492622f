//! Accounts in `footprint export` / `footprint import` files (and their HTTP forms): one
//! `{"kind": "account", …}` line per account with its username, e-mail, role, tier, declared
//! profile and password hash (argon2id, as stored: the account logs in with the same password
//! on the instance that imports it). E-mail and profile are written in clear, as the privacy
//! export does, since the instance importing them encrypts them under its own key. Second
//! factors are not carried: their secrets stay with the instance that enrolled them, and the
//! account enrols again. Imported, an account whose id exists is left as it is (a duplicate).

use argon2::password_hash::phc::PasswordHash;
use footprint_analytics::{Email, Role, Tier, UserId, Username};
use footprint_store::{UserPageQuery, UserRecord};
use serde_json::{Map, Value, json};

use crate::accounts::service::{AccountParts, store_account, validate_profile};
use crate::app::state::AppState;
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;

pub const KIND: &str = "account";

/// Users read per page (those without an account are skipped).
const PAGE: u32 = 500;

fn account_line(state: &AppState, user: &UserRecord) -> Result<String, ApiError> {
    let keys = &state.keys;
    let email = user.email_enc.as_deref().map(|e| keys.cipher.decrypt(e)).transpose().map_err(ApiError::internal)?;
    let profile = match user.profile_enc.as_deref() {
        Some(stored) => serde_json::from_str::<Value>(&keys.cipher.decrypt(stored).map_err(ApiError::internal)?)
            .map_err(ApiError::internal)?,
        None => json!({}),
    };
    Ok(json!({
        "kind": KIND,
        "user_id": user.user_id,
        "username": user.username,
        "email": email,
        "role": user.role.as_str(),
        "tier": user.tier.as_str(),
        "profile": profile,
        "password_hash": user.password_hash,
        "created_at": rfc3339(user.created_at_us),
    })
    .to_string())
}

/// The accounts after `after` (a user id), a page at a time: the page's text, its line count,
/// and where the next page starts (`None`: this was the last).
pub async fn export_page(state: &AppState, after: Option<String>) -> Result<(String, u64, Option<String>), ApiError> {
    let users = state.store.users_page(UserPageQuery { search: None, after_user_id: after, limit: PAGE }).await?;
    let mut text = String::new();
    let mut lines = 0;
    for user in users.iter().filter(|user| user.has_account()) {
        text.push_str(&account_line(state, user)?);
        text.push('\n');
        lines += 1;
    }
    let next = match users.last() {
        Some(last) if users.len() == PAGE as usize => Some(last.user_id.clone()),
        _ => None,
    };
    Ok((text, lines, next))
}

fn text(object: &mut Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match object.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(format!("{field}: must be a string, not {other}")),
    }
}

/// Imports an account line (`kind` removed by the caller): `Ok(Ok(true))` when created,
/// `Ok(Ok(false))` when the id already had an account, `Ok(Err(reason))` when refused.
pub async fn import_line(
    state: &AppState,
    mut object: Map<String, Value>,
    actor: &str,
) -> Result<Result<bool, String>, ApiError> {
    let parsed = (|| -> Result<AccountParts, String> {
        let invalid = |error: footprint_analytics::InvalidValue| error.to_string();
        let user_id = text(&mut object, "user_id")?.ok_or("user_id: is required")?;
        let user_id = UserId::parse(&user_id).map_err(invalid)?;
        let username = text(&mut object, "username")?.map(|u| Username::parse(&u)).transpose().map_err(invalid)?;
        let email = text(&mut object, "email")?.map(|e| Email::parse(&e)).transpose().map_err(invalid)?;
        if username.is_none() && email.is_none() {
            return Err("username or email is required so that the account can log in".to_owned());
        }
        let role = match text(&mut object, "role")? {
            Some(role) => role.parse::<Role>().map_err(|e| format!("{e} (got {role:?})"))?,
            None => Role::User,
        };
        let tier = match text(&mut object, "tier")? {
            Some(tier) => tier.parse::<Tier>().map_err(|e| format!("{e} (got {tier:?})"))?,
            None => state.config.tiers.default_tier,
        };
        let password_hash = text(&mut object, "password_hash")?.ok_or(
            "password_hash: is required (as footprint export writes it); to create accounts from a list of \
             people, use footprint automation provision-users",
        )?;
        if !password_hash.starts_with("$argon2") || PasswordHash::new(&password_hash).is_err() {
            return Err("password_hash: must be an argon2 hash in PHC form ($argon2id$…)".to_owned());
        }
        let mut profile = match object.remove("profile") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(profile)) => profile,
            Some(_) => return Err("profile: must be an object".to_owned()),
        };
        validate_profile(&mut profile)?;
        object.remove("created_at");
        if let Some(field) = object.keys().next() {
            return Err(format!("{field}: is not a field of an account line"));
        }
        Ok(AccountParts { user_id, username, email, password_hash, role, tier, profile })
    })();
    let account = match parsed {
        Ok(account) => account,
        Err(reason) => return Ok(Err(reason)),
    };
    if state.store.user(account.user_id.as_str()).await?.is_some_and(|user| user.has_account()) {
        return Ok(Ok(false));
    }
    match store_account(state, account, actor, "user.import").await {
        Ok(_) => Ok(Ok(true)),
        Err(ApiError::Conflict(reason)) => Ok(Err(reason)),
        Err(other) => Err(other),
    }
}
