//! Account routes: login, creating an account (admin), reading one (the user or staff).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::changes::{self, AccountChange, TierChangeView, UpgradeView};
use crate::accounts::principal::Principal;
use crate::accounts::service::{self as accounts, NewUserRequest, UserView};
use crate::app::state::AppState;
use crate::http::client::ClientIp;
use crate::http::extract::{ApiJson, ApiPath};
use crate::kernel::error::ApiError;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(create_user))
        .routes(routes!(get_user, update_user))
        .routes(routes!(upgrade_user))
        .routes(routes!(user_tier_history))
        .routes(routes!(revoke_tokens))
}

/// Credentials: a username or an e-mail (`login` accepts either), and the password.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    username: Option<String>,
    email: Option<String>,
    login: Option<String>,
    #[schema(value_type = String)]
    password: crate::app::config::Secret,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// Log in with a username or e-mail and a password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "Wrong credentials", body = crate::kernel::error::ErrorBody),
        (status = 429, description = "Locked for this login from the caller's network after repeated failures; see Retry-After", body = crate::kernel::error::ErrorBody),
    ))]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let Some(login) = request.username.or(request.email).or(request.login) else {
        return Err(ApiError::Validation("username or email is required".to_owned()));
    };
    let (_, token) = accounts::login(&state, &login, request.password.expose().to_owned(), client).await?;
    Ok(Json(TokenResponse { access_token: token.access_token, token_type: "bearer", expires_in: token.expires_in }))
}

/// Create an account (admin). A user id known only from tracking gains the account and keeps its history.
#[utoipa::path(post, path = "/api/v1/users", tag = "accounts", request_body = NewUserRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, body = UserView),
        (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
        (status = 409, description = "Username or e-mail taken, or the user id already has an account", body = crate::kernel::error::ErrorBody),
        (status = 422, body = crate::kernel::error::ErrorBody),
    ))]
async fn create_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<NewUserRequest>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require_admin()?;
    let created = accounts::create_account(&state, request, &principal.actor()).await?;
    let location = format!("/api/v1/users/{}", created.user_id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(created)))
}

/// Read an account or tracked user: the user themself, or a manager/admin.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "accounts", params(("id" = String, Path, description = "user_id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = UserView),
        (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody),
    ))]
async fn get_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<UserView>, ApiError> {
    principal.require_self_or_staff(&id)?;
    Ok(Json(accounts::get_user(&state, &id).await?))
}

/// Change an account (seed 003's `update_user_profile`): `{"updates": {...}}` or the fields bare.
/// `display_name`, `language`, `timezone` and other profile fields replace theirs (null removes
/// one); `ai_preferences` (`personalization_level` basic|standard|advanced,
/// `mood_detection_enabled`, `learning_rate` 0–1, `custom_model_training`,
/// `bias_mitigation_enabled`) and `security_settings` (`require_mfa`, `mfa_methods` among
/// email|sms|authenticator, `session_timeout_minutes` 1–43200, which bounds the account's next
/// tokens, `risk_score_threshold` 0–1, `anomaly_detection_enabled`) merge field by field.
/// The user themself or a manager/admin; `role` and `tier` only an admin (a new role ends the
/// tokens issued under the old one).
#[utoipa::path(put, path = "/api/v1/users/{id}", tag = "accounts", params(("id" = String, Path, description = "user_id")),
    request_body(content = Object, description = "{\"updates\": {...}} or the same fields bare"),
    security(("bearer" = [])),
    responses(
        (status = 200, body = UserView),
        (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody),
        (status = 409, description = "A role or tier for a user without an account, or demoting the last admin", body = crate::kernel::error::ErrorBody),
        (status = 422, description = "A field is not valid: the message names it", body = crate::kernel::error::ErrorBody),
    ))]
async fn update_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<UserView>, ApiError> {
    // Who may ask is checked before what is asked is read.
    principal.require_self_or_staff(&id)?;
    let change = AccountChange::parse(body)?;
    Ok(Json(changes::change_account(&state, &principal, &id, change).await?))
}

/// The new tier of an account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradeRequest {
    /// `free`, `premium`, `enterprise` or `vip`.
    #[schema(value_type = String, example = "enterprise")]
    new_tier: footprint_analytics::Tier,
}

/// Set an account's tier (seed 003's `upgrade_user_tier`; admin): up or down, audited, kept in
/// the tier history.
#[utoipa::path(post, path = "/api/v1/users/{id}/upgrade", tag = "accounts", params(("id" = String, Path, description = "user_id")),
    request_body = UpgradeRequest, security(("bearer" = [])),
    responses(
        (status = 200, body = UpgradeView),
        (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody),
        (status = 409, description = "The user has no account", body = crate::kernel::error::ErrorBody),
        (status = 422, body = crate::kernel::error::ErrorBody),
    ))]
async fn upgrade_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<UpgradeRequest>,
) -> Result<Json<UpgradeView>, ApiError> {
    Ok(Json(changes::upgrade_tier(&state, &principal, &id, request.new_tier).await?))
}

/// The account's tier changes, oldest first: the user themself or a manager/admin.
#[utoipa::path(get, path = "/api/v1/users/{id}/tier-history", tag = "accounts", params(("id" = String, Path, description = "user_id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<TierChangeView>),
        (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody),
    ))]
async fn user_tier_history(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<TierChangeView>>, ApiError> {
    principal.require_self_or_staff(&id)?;
    if state.store.user(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no user with user_id {id}")));
    }
    Ok(Json(changes::tier_history(&state, &id).await?))
}

/// Revoke every access token of the account (log out everywhere): the user themself or an
/// admin. Tokens issued before are then 401 `INVALID_TOKEN`; a new login works.
#[utoipa::path(post, path = "/api/v1/users/{id}/revoke-tokens", tag = "accounts",
    params(("id" = String, Path, description = "user_id")), security(("bearer" = [])),
    responses(
        (status = 204, description = "revoked"),
        (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody),
    ))]
async fn revoke_tokens(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    principal.require_self_or_admin(&id)?;
    accounts::revoke_tokens(&state, &id, &principal.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}
