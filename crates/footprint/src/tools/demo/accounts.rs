//! One account of each role, created through the accounts service with a random password that
//! is handed back once (for standard output: never logged). The `user` account is the demo's
//! first user, so that logging in as them shows a profile with data.

use footprint_analytics::Role;

use crate::accounts::service::{self as accounts, NewUserRequest};
use crate::app::config::Secret;
use crate::app::state::AppState;
use crate::kernel::error::ApiError;

/// An account the demo made, or found from an earlier demo (then without its password).
#[derive(Debug, Clone)]
pub struct DemoAccount {
    pub role: Role,
    pub username: String,
    pub user_id: String,
    /// `None` when the account existed already: its password is unchanged and not known here.
    pub password: Option<Secret>,
}

pub const ADMIN: &str = "demo-admin";
pub const MANAGER: &str = "demo-manager";
pub const USER: &str = "demo-user";

/// Creates the three accounts; `user_id` is whose data the `user` account owns.
pub async fn create(state: &AppState, user_id: &str) -> anyhow::Result<Vec<DemoAccount>> {
    let wanted = [(Role::Admin, ADMIN, ADMIN), (Role::Manager, MANAGER, MANAGER), (Role::User, USER, user_id)];
    let mut created = Vec::with_capacity(wanted.len());
    for (role, username, owner) in wanted {
        let password = Secret::new(crate::kernel::crypto::random_token(15));
        let request = NewUserRequest {
            user_id: Some(owner.to_owned()),
            username: Some(username.to_owned()),
            email: None,
            password: password.clone(),
            role: Some(role),
            // Staff operate the instance: never throttled (as the configured admin is not).
            tier: Some(if role == Role::User {
                footprint_analytics::Tier::Premium
            } else {
                state.config.tiers.admin_tier
            }),
            profile: Some(serde_json::Map::from_iter([(
                "display_name".to_owned(),
                serde_json::json!(format!("Demo {}", role.as_str())),
            )])),
        };
        let password = match accounts::create_account(state, request, "footprint demo").await {
            Ok(_) => Some(password),
            Err(ApiError::Conflict(_)) => None,
            Err(error) => anyhow::bail!("cannot create the demo account {username}: {error}"),
        };
        created.push(DemoAccount { role, username: username.to_owned(), user_id: owner.to_owned(), password });
    }
    Ok(created)
}
