//! Changing an account (seed 003's `update_user_profile` and `upgrade_user_tier`): the declared
//! profile and its settings merged field by field, the role and tier by an admin, and the
//! tier history.

use footprint_analytics::{Role, Tier};
use footprint_store::GrantChange;
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::accounts::principal::Principal;
use crate::accounts::service::{UserView, validate_profile, view};
use crate::accounts::{audit, settings};
use crate::app::state::AppState;
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;

/// Fields an account change may not touch, with where they change instead.
const FIXED: [(&str, &str); 6] = [
    ("user_id", "the user id never changes"),
    ("username", "the username is chosen at creation"),
    ("email", "the e-mail is chosen at creation"),
    ("password", "passwords are not changed through this route"),
    ("has_account", "it is computed"),
    (
        "profile",
        "send the profile's fields themselves (display_name, language, timezone, ai_preferences, security_settings, …)",
    ),
];

/// What `PUT /api/v1/users/{id}` asks to change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountChange {
    /// Declared profile fields; `ai_preferences` and `security_settings` merge into the kept
    /// ones, a null removes a field.
    pub profile: Map<String, Value>,
    pub role: Option<Role>,
    pub tier: Option<Tier>,
}

impl AccountChange {
    /// The seed's `{"updates": {...}}`, or the same fields bare.
    pub fn parse(body: Value) -> Result<AccountChange, ApiError> {
        let mut fields = match body {
            Value::Object(mut object) if object.len() == 1 && object.get("updates").is_some_and(Value::is_object) => {
                match object.remove("updates") {
                    Some(Value::Object(inner)) => inner,
                    _ => Map::new(),
                }
            }
            Value::Object(object) => object,
            _ => {
                return Err(ApiError::Validation(
                    "the body must be a JSON object: {\"updates\": {...}} or the fields".to_owned(),
                ));
            }
        };
        if fields.is_empty() {
            return Err(ApiError::Validation(
                "updates: nothing to change; send display_name, language, timezone, ai_preferences, security_settings, role or tier"
                    .to_owned(),
            ));
        }
        for (field, why) in FIXED {
            if fields.contains_key(field) {
                return Err(ApiError::Validation(format!("updates.{field}: cannot be changed here: {why}")));
            }
        }
        let text = |field: &str, value: Value| match value {
            Value::String(text) => Ok(text),
            _ => Err(ApiError::Validation(format!("updates.{field}: must be a string"))),
        };
        let invalid = |error: footprint_analytics::InvalidValue| ApiError::Validation(format!("updates.{error}"));
        let role = fields.remove("role").map(|value| text("role", value)).transpose()?;
        let tier = fields.remove("tier").map(|value| text("tier", value)).transpose()?;
        Ok(AccountChange {
            role: role.map(|role| role.parse()).transpose().map_err(invalid)?,
            tier: tier.map(|tier| tier.parse()).transpose().map_err(invalid)?,
            profile: fields,
        })
    }
}

/// Applies `change` to the user `user_id` on behalf of `principal`: the user themself or a
/// manager/admin for the profile, an admin for the role and the tier. Everything is checked
/// before anything is written.
pub async fn change_account(
    state: &AppState,
    principal: &Principal,
    user_id: &str,
    change: AccountChange,
) -> Result<UserView, ApiError> {
    principal.require_self_or_staff(user_id)?;
    // What guards the login (the second factor's settings, the phone a code is texted to) is the
    // account's own or an admin's to change: a manager editing a profile must not redirect it.
    let guarding = ["security_settings", "phone", "phone_number"];
    if principal.user_id() != Some(user_id)
        && guarding.iter().any(|field| change.profile.contains_key(*field))
        && principal.require_admin().is_err()
    {
        return Err(ApiError::Forbidden(
            "security_settings and phone of another account are changed by that account or an admin".to_owned(),
        ));
    }
    if change.role.is_some() || change.tier.is_some() {
        principal
            .require_admin()
            .map_err(|_| ApiError::Forbidden("role and tier are changed by an admin".to_owned()))?;
    }
    let Some(user) = state.store.user(user_id).await? else {
        return Err(ApiError::NotFound(format!("no user with user_id {user_id}")));
    };
    let actor = principal.actor();
    let profile = if change.profile.is_empty() {
        None
    } else {
        let mut declared = match user.profile_enc.as_deref() {
            Some(stored) => {
                let text = state.keys.cipher.decrypt(stored).map_err(ApiError::internal)?;
                serde_json::from_str::<Map<String, Value>>(&text).map_err(ApiError::internal)?
            }
            None => Map::new(),
        };
        for (field, value) in change.profile {
            if matches!(field.as_str(), "ai_preferences" | "security_settings") {
                let merged = settings::merge(declared.remove(&field), value);
                declared.insert(field, merged);
            } else if value.is_null() {
                declared.remove(&field);
            } else {
                declared.insert(field, value);
            }
        }
        validate_profile(&mut declared).map_err(ApiError::Validation)?;
        Some(declared)
    };
    if change.role.is_some() || change.tier.is_some() {
        if !user.has_account() {
            return Err(ApiError::Conflict(format!("{user_id} has no account: a role or tier needs one")));
        }
        let demoted = user.role == Role::Admin && change.role.is_some_and(|role| role != Role::Admin);
        if demoted && state.store.count_admins().await? <= 1 {
            return Err(ApiError::Conflict(
                "updates.role: this is the last admin; make another admin first".to_owned(),
            ));
        }
    }
    if let Some(declared) = profile {
        let encrypted = state.keys.cipher.encrypt(&Value::Object(declared).to_string());
        let version = state.store.update_profile(&user.user_id, &encrypted, &actor, state.clock.now_us()).await?;
        audit::record(
            state,
            "profile.update",
            Some(&actor),
            Some(&user.user_id),
            "success",
            json!({"version": version}),
        )
        .await;
    }
    if change.role.is_some() || change.tier.is_some() {
        set_grants(state, &user, change.role, change.tier, &actor).await?;
    }
    reread(state, user_id).await
}

async fn set_grants(
    state: &AppState,
    user: &footprint_store::UserRecord,
    role: Option<Role>,
    tier: Option<Tier>,
    actor: &str,
) -> Result<(), ApiError> {
    let grants = GrantChange {
        role,
        tier,
        new_generation: crate::kernel::crypto::random_generation(),
        changed_by: actor.to_owned(),
        now_us: state.clock.now_us(),
    };
    if !state.store.update_grants(&user.user_id, grants).await? {
        return Err(ApiError::NotFound(format!("no account {}", user.user_id)));
    }
    // What this node read of the account (its token generation, its tier) is read again at
    // the next request; other nodes read it again within `auth.token_check_cache_ms`.
    state.auth.forget_account(&user.user_id);
    if let Some(role) = role.filter(|role| *role != user.role) {
        // Tokens carry the role: those issued under the old one are refused from now on.
        let detail = json!({"from": user.role.as_str(), "to": role.as_str()});
        audit::record(state, "user.role", Some(actor), Some(&user.user_id), "success", detail).await;
    }
    if let Some(tier) = tier.filter(|tier| *tier != user.tier) {
        let detail = json!({"from": user.tier.as_str(), "to": tier.as_str()});
        audit::record(state, "user.tier", Some(actor), Some(&user.user_id), "success", detail).await;
    }
    Ok(())
}

async fn reread(state: &AppState, user_id: &str) -> Result<UserView, ApiError> {
    match state.store.user(user_id).await? {
        Some(user) => view(state, &user).await,
        None => Err(ApiError::NotFound(format!("no user with user_id {user_id}"))),
    }
}

/// One change of tier, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TierChangeView {
    #[schema(value_type = String)]
    pub from_tier: Tier,
    #[schema(value_type = String)]
    pub to_tier: Tier,
    pub changed_by: String,
    pub changed_at: String,
}

/// The account after a tier change, with the tier it had and every change so far.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UpgradeView {
    #[serde(flatten)]
    pub user: UserView,
    #[schema(value_type = String)]
    pub previous_tier: Tier,
    pub tier_history: Vec<TierChangeView>,
}

/// Seed 003's `upgrade_user_tier`: an admin sets the account's tier (up or down); the change is
/// audited and kept in the tier history (the same tier again changes nothing).
pub async fn upgrade_tier(
    state: &AppState,
    principal: &Principal,
    user_id: &str,
    new_tier: Tier,
) -> Result<UpgradeView, ApiError> {
    principal.require_admin()?;
    let Some(user) = state.store.user(user_id).await? else {
        return Err(ApiError::NotFound(format!("no user with user_id {user_id}")));
    };
    if !user.has_account() {
        return Err(ApiError::Conflict(format!("{user_id} has no account: a tier needs one")));
    }
    set_grants(state, &user, None, Some(new_tier), &principal.actor()).await?;
    Ok(UpgradeView {
        user: reread(state, user_id).await?,
        previous_tier: user.tier,
        tier_history: tier_history(state, user_id).await?,
    })
}

/// A known user's tier changes, oldest first; `NotFound` for an unknown user id.
pub async fn user_tier_history(state: &AppState, user_id: &str) -> Result<Vec<TierChangeView>, ApiError> {
    if state.store.user(user_id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no user with user_id {user_id}")));
    }
    tier_history(state, user_id).await
}

/// The account's tier changes, oldest first.
pub async fn tier_history(state: &AppState, user_id: &str) -> Result<Vec<TierChangeView>, ApiError> {
    Ok(state
        .store
        .tier_history(user_id)
        .await?
        .into_iter()
        .map(|change| TierChangeView {
            from_tier: change.from_tier,
            to_tier: change.to_tier,
            changed_by: change.changed_by,
            changed_at: rfc3339(change.at_us),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_updates_and_bare_fields_parse_alike() {
        let seed = json!({"updates": {"display_name": "Jeanne Dupont", "ai_preferences": {"personalization_level": "advanced"}}});
        let bare = json!({"display_name": "Jeanne Dupont", "ai_preferences": {"personalization_level": "advanced"}});
        assert_eq!(AccountChange::parse(seed).unwrap(), AccountChange::parse(bare).unwrap());
        let grants = AccountChange::parse(json!({"role": "manager", "tier": "Enterprise"})).unwrap();
        assert_eq!((grants.role, grants.tier), (Some(Role::Manager), Some(Tier::Enterprise)));
        assert!(grants.profile.is_empty());
    }

    #[test]
    fn what_cannot_change_is_named() {
        for (body, field) in [
            (json!({"updates": {"password": "x"}}), "updates.password"),
            (json!({"email": "a@b.c"}), "updates.email"),
            (json!({"tier": "gold"}), "updates.tier"),
            (json!({"role": 3}), "updates.role"),
            (json!({"updates": {}}), "updates"),
        ] {
            let ApiError::Validation(message) = AccountChange::parse(body.clone()).unwrap_err() else {
                panic!("{body}")
            };
            assert!(message.starts_with(field), "{body}: {message}");
        }
    }
}
