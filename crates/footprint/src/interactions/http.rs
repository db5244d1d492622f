//! Seed 002's routes, with its README's paths and shapes: accounts (`/create_user`, `/login`,
//! `/check-token`), interactions, statistics and the first-order next-action prediction.
//! Also the next-action predictions: the variable-order model's top-k for a user.

use axum::Json;
use axum::extract::State;
use footprint_analytics::UserId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::limits::CallerTier;
use crate::accounts::principal::Principal;
use crate::accounts::service::{self as accounts, NewUserRequest};
use crate::app::config::Secret;
use crate::app::state::AppState;
use crate::http::client::ClientIp;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, JsonOrForm};
use crate::interactions::predictions::{self, NextActions, SeedPrediction};
use crate::interactions::service::{self as interactions, InteractionView, SubmitRequest};
use crate::interactions::stats::{self, FeedbackStats, InteractionsStats, UsageStats};
use crate::kernel::error::{ApiError, Code};
use crate::tracking::ingest::EventResult;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user))
        .routes(routes!(login))
        .routes(routes!(check_token))
        .routes(routes!(submit))
        .routes(routes!(list_interactions))
        .routes(routes!(user_interactions))
        .routes(routes!(usage_stats))
        .routes(routes!(interaction_stats))
        .routes(routes!(feedback_stats))
        .routes(routes!(predict_next_action))
        .routes(routes!(next_actions))
}

#[derive(Deserialize, ToSchema)]
pub struct Credentials {
    username: String,
    #[schema(value_type = String)]
    password: Secret,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedUser {
    message: String,
    username: String,
}

/// Create an account of role `user` whose user id is the username (seed 002). 400 if it exists.
#[utoipa::path(post, path = "/create_user", tag = "seed 002", request_body = Credentials,
    responses((status = 200, body = CreatedUser), (status = 400, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    ApiJson(credentials): ApiJson<Credentials>,
) -> Result<Json<CreatedUser>, ApiError> {
    if !state.config.auth.self_registration {
        return Err(ApiError::Forbidden("self-registration is disabled on this instance; ask an admin".to_owned()));
    }
    let request = NewUserRequest {
        user_id: None,
        username: Some(credentials.username.clone()),
        email: None,
        password: credentials.password,
        role: None,
        tier: None,
        profile: None,
    };
    match accounts::create_account(&state, request, "self-registration").await {
        Ok(created) => Ok(Json(CreatedUser {
            message: "Utilisateur créé avec succès".to_owned(),
            username: created.username.unwrap_or(created.user_id),
        })),
        Err(ApiError::Conflict(_)) => Err(ApiError::BadRequest {
            code: Code::UserExists,
            message: format!("L'utilisateur {} existe déjà", credentials.username),
        }),
        Err(ApiError::Validation(message)) => Err(ApiError::BadRequest { code: Code::ValidationError, message }),
        Err(other) => Err(other),
    }
}

#[derive(Serialize, ToSchema)]
pub struct SeedToken {
    access_token: String,
    /// Always `bearer`.
    token_type: &'static str,
}

/// Log in (seed 002): JSON `{username, password}` (a form works too). 400 on wrong credentials.
#[utoipa::path(post, path = "/login", tag = "seed 002", request_body = Credentials,
    responses((status = 200, body = SeedToken), (status = 400, body = crate::kernel::error::ErrorBody), (status = 429, body = crate::kernel::error::ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    JsonOrForm(credentials): JsonOrForm<Credentials>,
) -> Result<Json<SeedToken>, ApiError> {
    let context = crate::accounts::risk::LoginContext::default();
    match accounts::login(&state, &credentials.username, credentials.password.expose().to_owned(), client, &context).await {
        Ok(accounts::LoginOutcome::Token(_, token)) => {
            Ok(Json(SeedToken { access_token: token.access_token, token_type: "bearer" }))
        }
        Ok(accounts::LoginOutcome::SecondFactor(_)) => Err(ApiError::Forbidden(
            "this account has a second factor: log in with POST /api/v1/auth/login, then POST /api/v1/auth/mfa/challenge"
                .to_owned(),
        )),
        Err(ApiError::InvalidCredentials) => {
            Err(ApiError::BadRequest { code: Code::InvalidCredentials, message: "Identifiants invalides".to_owned() })
        }
        Err(other) => Err(other),
    }
}

/// `{"access_token"}`; `token_type` may be given and is ignored.
#[derive(Deserialize, ToSchema)]
pub struct TokenCheck {
    access_token: String,
    #[allow(dead_code)]
    token_type: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenValidity {
    valid: bool,
    username: Option<String>,
}

/// Whether an access token is valid, and whose it is.
#[utoipa::path(post, path = "/check-token", tag = "seed 002", request_body = TokenCheck,
    responses((status = 200, body = TokenValidity), (status = 422, body = crate::kernel::error::ErrorBody)))]
async fn check_token(
    State(state): State<AppState>,
    ApiJson(check): ApiJson<TokenCheck>,
) -> Result<Json<TokenValidity>, ApiError> {
    let owner = accounts::token_owner(&state, check.access_token.trim()).await?;
    Ok(Json(TokenValidity { valid: owner.is_some(), username: owner }))
}

#[derive(Serialize, ToSchema)]
pub struct Submitted {
    message: String,
    /// False when the user has not given analytics consent: nothing was stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    collected: Option<bool>,
}

/// Record an interaction (seed 002). Without a token it belongs to `anonymous`. Stored through
/// the ingestion path: without analytics consent it is not collected, and the answer says so.
#[utoipa::path(post, path = "/interactions/submit", tag = "seed 002", request_body = SubmitRequest,
    security((), ("bearer" = [])),
    responses((status = 200, body = Submitted), (status = 401, body = crate::kernel::error::ErrorBody), (status = 422, body = crate::kernel::error::ErrorBody)))]
async fn submit(
    State(state): State<AppState>,
    principal: Option<Principal>,
    tier: Option<CallerTier>,
    ApiJson(request): ApiJson<SubmitRequest>,
) -> Result<Json<Submitted>, ApiError> {
    let (user_id, result) = interactions::submit(&state, principal.as_ref(), tier.map(|t| t.0), request).await?;
    Ok(Json(match result {
        EventResult::Accepted { .. } | EventResult::Duplicate => {
            Submitted { message: "Interaction enregistrée".to_owned(), collected: None }
        }
        EventResult::NotCollected { .. } => Submitted {
            message: format!(
                "Interaction non enregistrée : l'utilisateur {user_id} n'a pas donné son consentement (analytics)"
            ),
            collected: Some(false),
        },
        EventResult::Rejected { reason } => return Err(ApiError::Validation(reason)),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// At most this many (1–10 000, default 1 000).
    limit: Option<u32>,
    /// Only interactions after the one with this id (for paging).
    after_id: Option<i64>,
}

/// Every interaction in arrival order (admin).
#[utoipa::path(get, path = "/interactions", tag = "seed 002", params(ListParams), security(("bearer" = [])),
    responses((status = 200, body = Vec<InteractionView>), (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn list_interactions(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Vec<InteractionView>>, ApiError> {
    principal.require_admin()?;
    Ok(Json(interactions::list_all(&state, params.after_id.unwrap_or(0), params.limit).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListParams {
    /// At most this many (1–10 000, default 1 000).
    limit: Option<u32>,
}

/// One user's interactions in time order (admin); 404 for an unknown user.
#[utoipa::path(get, path = "/interactions/{username}", tag = "seed 002", params(("username" = String, Path), UserListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<InteractionView>), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody),
    ))]
async fn user_interactions(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(username): ApiPath<String>,
    ApiQuery(params): ApiQuery<UserListParams>,
) -> Result<Json<Vec<InteractionView>>, ApiError> {
    principal.require_admin()?;
    Ok(Json(interactions::list_for(&state, &username, params.limit).await?))
}

/// Totals (admin).
#[utoipa::path(get, path = "/stats/usage", tag = "seed 002", security(("bearer" = [])),
    responses((status = 200, body = UsageStats), (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn usage_stats(State(state): State<AppState>, principal: Principal) -> Result<Json<UsageStats>, ApiError> {
    principal.require_admin()?;
    Ok(Json(stats::usage(&state).await?))
}

/// Interactions per user, most active first (admin).
#[utoipa::path(get, path = "/stats/interactions", tag = "seed 002", security(("bearer" = [])),
    responses((status = 200, body = InteractionsStats), (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn interaction_stats(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<InteractionsStats>, ApiError> {
    principal.require_admin()?;
    Ok(Json(stats::interactions(&state).await?))
}

/// Users grouped by their action profile (admin): standardised action shares and activity,
/// k-means++ with k chosen by silhouette; cluster 0 is the largest segment.
#[utoipa::path(get, path = "/stats/feedback", tag = "seed 002", security(("bearer" = [])),
    responses((status = 200, body = FeedbackStats), (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn feedback_stats(State(state): State<AppState>, principal: Principal) -> Result<Json<FeedbackStats>, ApiError> {
    principal.require_admin()?;
    Ok(Json(stats::feedback(&state).await?))
}

/// The most frequent follower of the user's last action in their own history, with probability
/// = its count / all counts out of that action (admin).
#[utoipa::path(get, path = "/predict_next_action/{username}", tag = "seed 002", params(("username" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, body = SeedPrediction), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody),
    ))]
async fn predict_next_action(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(username): ApiPath<String>,
) -> Result<Json<SeedPrediction>, ApiError> {
    principal.require_admin()?;
    Ok(Json(predictions::seed_next_action(&state, &username).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NextActionParams {
    /// How many actions (1–20, default 3).
    k: Option<usize>,
}

/// The k most probable next actions of a user (the user themself, or a manager/admin), from a
/// variable-order model over their recent actions backed by a model shared by all users.
#[utoipa::path(get, path = "/api/v1/users/{user_id}/next-actions", tag = "predictions",
    params(("user_id" = String, Path), NextActionParams), security(("bearer" = [])),
    responses(
        (status = 200, body = NextActions), (status = 400, body = crate::kernel::error::ErrorBody),
        (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
    ))]
async fn next_actions(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(user_id): ApiPath<String>,
    ApiQuery(params): ApiQuery<NextActionParams>,
) -> Result<Json<NextActions>, ApiError> {
    principal.require_self_or_staff(&user_id)?;
    let user_id = UserId::parse(&user_id).map_err(|error| ApiError::InvalidParameters(error.to_string()))?;
    Ok(Json(predictions::next_actions(&state, &user_id, params.k.unwrap_or(3)).await?))
}
