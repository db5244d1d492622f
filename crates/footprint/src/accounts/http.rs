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
use crate::accounts::jwt::IssuedToken;
use crate::accounts::mfa::{self, Activation, Enrollment, MfaRequired};
use crate::accounts::outbox::OutboxView;
use crate::accounts::principal::Principal;
use crate::accounts::service::{self as accounts, LoginOutcome, NewUserRequest, UserView};
use crate::app::state::AppState;
use crate::http::client::ClientIp;
use crate::http::extract::{ApiJson, ApiPath};
use crate::kernel::error::ApiError;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(mfa_enroll))
        .routes(routes!(mfa_verify))
        .routes(routes!(mfa_challenge))
        .routes(routes!(mfa_remove))
        .routes(routes!(admin_outbox))
        .routes(routes!(create_user))
        .routes(routes!(get_user, update_user))
        .routes(routes!(upgrade_user))
        .routes(routes!(user_tier_history))
        .routes(routes!(user_security))
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
    /// Seed 003's `context`: `ip_address` (the end user's, when an application logs them in from
    /// its server), `user_agent`, `device_id`; scored against the account's own logins.
    context: Option<crate::accounts::risk::LoginContext>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// A login's answer: the token, or (an account with a second factor) the challenge.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginResponse {
    Token(TokenResponse),
    SecondFactor(MfaRequired),
}

/// Log in with a username or e-mail and a password. An account with an active second factor
/// gets `{"mfa_required": true, "mfa_token", "methods", "expires_in"}` and no token: complete
/// it with `POST /api/v1/auth/mfa/challenge`.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, description = "Wrong credentials", body = crate::kernel::error::ErrorBody),
        (status = 429, description = "Locked for this login from the caller's network after repeated failures; see Retry-After", body = crate::kernel::error::ErrorBody),
    ))]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let Some(login) = request.username.or(request.email).or(request.login) else {
        return Err(ApiError::Validation("username or email is required".to_owned()));
    };
    let context = request.context.unwrap_or_default();
    Ok(Json(match accounts::login(&state, &login, request.password.expose().to_owned(), client, &context).await? {
        LoginOutcome::Token(_, token) => LoginResponse::Token(bearer(token)),
        LoginOutcome::SecondFactor(challenge) => LoginResponse::SecondFactor(challenge),
    }))
}

fn bearer(token: IssuedToken) -> TokenResponse {
    TokenResponse { access_token: token.access_token, token_type: "bearer", expires_in: token.expires_in }
}

/// The account a second-factor route acts on: a user's own token (not an API key).
fn own_account(principal: &Principal) -> Result<&str, ApiError> {
    principal
        .user_id()
        .ok_or_else(|| ApiError::Forbidden("a second factor belongs to an account: use its access token".to_owned()))
}

/// Start enrolling a TOTP second factor (RFC 6238, SHA-1, 6 digits, 30 s): the base32 secret and
/// the `otpauth://` URI for an authenticator app. It is active once a code is verified.
#[utoipa::path(post, path = "/api/v1/auth/mfa/enroll", tag = "accounts", security(("bearer" = [])),
    responses(
        (status = 200, body = Enrollment),
        (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
        (status = 409, description = "A second factor is active already", body = crate::kernel::error::ErrorBody),
    ))]
async fn mfa_enroll(State(state): State<AppState>, principal: Principal) -> Result<Json<Enrollment>, ApiError> {
    Ok(Json(mfa::enroll(&state, own_account(&principal)?).await?))
}

/// A code from the authenticator (or a recovery code, where one is accepted).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaCode {
    #[schema(value_type = String, example = "123456")]
    code: crate::app::config::Secret,
}

/// Activate the enrolled factor with its current code; answers the ten one-time recovery codes,
/// shown only now.
#[utoipa::path(post, path = "/api/v1/auth/mfa/verify", tag = "accounts", request_body = MfaCode, security(("bearer" = [])),
    responses(
        (status = 200, body = Activation),
        (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
        (status = 409, description = "Nothing enrolled, or already active", body = crate::kernel::error::ErrorBody),
        (status = 422, description = "Not the current code (or a code already used)", body = crate::kernel::error::ErrorBody),
    ))]
async fn mfa_verify(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<MfaCode>,
) -> Result<Json<Activation>, ApiError> {
    Ok(Json(mfa::activate(&state, own_account(&principal)?, request.code.expose()).await?))
}

/// Remove the second factor, with a current code or a recovery code.
#[utoipa::path(delete, path = "/api/v1/auth/mfa", tag = "accounts", request_body = MfaCode, security(("bearer" = [])),
    responses(
        (status = 204, description = "removed"),
        (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
        (status = 404, description = "No second factor", body = crate::kernel::error::ErrorBody),
        (status = 422, body = crate::kernel::error::ErrorBody),
    ))]
async fn mfa_remove(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<MfaCode>,
) -> Result<StatusCode, ApiError> {
    mfa::disable(&state, own_account(&principal)?, request.code.expose()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct OutboxQuery {
    /// Newest messages to list (1–1000, default 50).
    limit: Option<u32>,
}

/// The messages the default sender left for users (e-mailed and SMS sign-in codes), newest
/// first (admin): where a deployment without a mail gateway reads them.
#[utoipa::path(get, path = "/api/v1/admin/outbox", tag = "accounts", params(OutboxQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<OutboxView>),
        (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
    ))]
async fn admin_outbox(
    State(state): State<AppState>,
    principal: Principal,
    crate::http::extract::ApiQuery(query): crate::http::extract::ApiQuery<OutboxQuery>,
) -> Result<Json<Vec<OutboxView>>, ApiError> {
    principal.require_admin()?;
    let limit = query.limit.unwrap_or(50);
    Ok(Json(crate::accounts::outbox::latest(state.store.as_ref(), &state.keys.cipher, limit).await?))
}

/// A login's second step: the challenge and the authenticator's code, or a recovery code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaChallenge {
    mfa_token: String,
    #[schema(value_type = Option<String>, example = "123456")]
    code: Option<crate::app::config::Secret>,
    #[schema(value_type = Option<String>)]
    recovery_code: Option<crate::app::config::Secret>,
}

/// Complete a login that answered `mfa_required`: the access token. Wrong codes count towards
/// the login's lockout (429 with Retry-After once locked); a code is accepted once.
#[utoipa::path(post, path = "/api/v1/auth/mfa/challenge", tag = "accounts", request_body = MfaChallenge,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "A wrong code, or a challenge that is not valid or has expired", body = crate::kernel::error::ErrorBody),
        (status = 422, body = crate::kernel::error::ErrorBody),
        (status = 429, body = crate::kernel::error::ErrorBody),
    ))]
async fn mfa_challenge(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    ApiJson(request): ApiJson<MfaChallenge>,
) -> Result<Json<TokenResponse>, ApiError> {
    let code = request.code.as_ref().map(crate::app::config::Secret::expose);
    let recovery = request.recovery_code.as_ref().map(crate::app::config::Secret::expose);
    let user = mfa::complete(&state, &request.mfa_token, code, recovery, client).await?;
    Ok(Json(bearer(accounts::issue_token(&state, &user))))
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
    Ok(Json(changes::user_tier_history(&state, &id).await?))
}

/// The account's security (seed 003): recent logins with their risk score, reasons and outcome,
/// the devices known from logins that went through, whether a second factor is active, and the
/// threshold above which a login must pass one. The user themself or a manager/admin.
#[utoipa::path(get, path = "/api/v1/users/{id}/security", tag = "accounts", params(("id" = String, Path, description = "user_id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = crate::accounts::risk::SecurityView),
        (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody),
    ))]
async fn user_security(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<crate::accounts::risk::SecurityView>, ApiError> {
    principal.require_self_or_staff(&id)?;
    Ok(Json(crate::accounts::risk::security(&state, &id).await?))
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
