//! Seed 000's profile routes, over the same components a Rust program gets from
//! `setup_profiling_system`: the user themself or a manager/admin; 404 for an unknown user.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::http::{LoginRequest, LoginResponse};
use crate::accounts::principal::Principal;
use crate::app::state::AppState;
use crate::http::client::ClientIp;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::kernel::error::ApiError;
use crate::profiles::enriched::{self, Enriched, Recalculation};
use crate::profiles::segments::{self, Recommendations, UserCluster, UserClustering};
use crate::profiles::service::{
    FeatureExtractor, FeaturesView, PatternDetector, PatternsView, PreferenceCalculator, PreferencesView,
    ProfileManager, ProfileVersionView, ProfileView,
};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(auth))
        .routes(routes!(get_profile, put_profile))
        .routes(routes!(features))
        .routes(routes!(history))
        .routes(routes!(preferences))
        .routes(routes!(patterns))
        .routes(routes!(enriched))
        .routes(routes!(recalculate))
        .routes(routes!(cluster))
        .routes(routes!(recommendations))
        .routes(routes!(clusters))
        .routes(routes!(update_clusters))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileHealth {
    /// `ok` when the store answers.
    status: &'static str,
    store: &'static str,
    /// The last event folded into profiles (arrival order).
    processed_up_to: i64,
    /// Events stored but not folded in yet.
    processing_lag: i64,
}

/// Whether the profile API can answer: the store and how far processing has got.
#[utoipa::path(get, path = "/api/profile/health", tag = "profiles",
    responses((status = 200, body = ProfileHealth), (status = 503, body = crate::kernel::error::ErrorBody)))]
async fn health(State(state): State<AppState>) -> Result<Json<ProfileHealth>, ApiError> {
    state.store.ping().await?;
    let watermark = state.store.processing_watermark(crate::tracking::processing::SEQUENCES).await?;
    let newest = state.store.max_event_seq().await?;
    Ok(Json(ProfileHealth {
        status: "ok",
        store: state.store.backend(),
        processed_up_to: watermark,
        processing_lag: (newest - watermark).max(0),
    }))
}

/// Log in (seed 000's `auth`): the same login as `POST /api/v1/auth/login`, answering a JWT.
#[utoipa::path(post, path = "/api/profile/auth", tag = "profiles", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 422, body = crate::kernel::error::ErrorBody), (status = 429, body = crate::kernel::error::ErrorBody)))]
async fn auth(
    state: State<AppState>,
    client: ClientIp,
    request: ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    crate::accounts::http::login(state, client, request).await
}

/// The user's profile: what they declared, and the features computed from their events.
#[utoipa::path(get, path = "/api/profile/{user_id}", tag = "profiles", params(("user_id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = ProfileView), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody)))]
async fn get_profile(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<ProfileView>, ApiError> {
    principal.require_self_or_staff(&user_id)?;
    Ok(Json(ProfileManager::new(state).get_profile(&user_id).await?))
}

/// Replace the declared profile (`display_name`, `language`, `timezone`, `ai_preferences`, and
/// other keys as given), as `{"profile": {...}}` or the bare object; the old one stays as a version.
#[utoipa::path(put, path = "/api/profile/{user_id}", tag = "profiles", params(("user_id" = String, Path)),
    request_body(content = Object, description = "the declared profile, or {\"profile\": {...}}"),
    security(("bearer" = [])),
    responses((status = 200, body = ProfileView), (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody), (status = 422, body = crate::kernel::error::ErrorBody)))]
async fn put_profile(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<ProfileView>, ApiError> {
    principal.require_self_or_staff(&user_id)?;
    let declared = match body {
        Value::Object(mut object) if object.len() == 1 && object.get("profile").is_some_and(Value::is_object) => {
            match object.remove("profile") {
                Some(Value::Object(inner)) => inner,
                _ => Map::new(),
            }
        }
        Value::Object(object) => object,
        _ => return Err(ApiError::Validation("the body must be a JSON object: the declared profile".to_owned())),
    };
    Ok(Json(ProfileManager::new(state).update_profile(&user_id, declared, &principal.actor()).await?))
}

/// The features of the user's behaviour (see ARCHITECTURE.md for their definitions).
#[utoipa::path(get, path = "/api/profile/{user_id}/features", tag = "profiles", params(("user_id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = FeaturesView), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody)))]
async fn features(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<FeaturesView>, ApiError> {
    principal.require_self_or_staff(&user_id)?;
    Ok(Json(FeatureExtractor::new(state).extract_features(&user_id).await?))
}

/// Every version of the declared profile, oldest first.
#[utoipa::path(get, path = "/api/profile/{user_id}/history", tag = "profiles", params(("user_id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = [ProfileVersionView]), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody)))]
async fn history(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<Vec<ProfileVersionView>>, ApiError> {
    principal.require_self_or_staff(&user_id)?;
    Ok(Json(ProfileManager::new(state).history(&user_id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitParams {
    /// How many of each (1–100, default 10).
    limit: Option<usize>,
}

fn limit(params: &LimitParams) -> Result<usize, ApiError> {
    match params.limit.unwrap_or(10) {
        limit @ 1..=100 => Ok(limit),
        _ => Err(ApiError::InvalidParameters("limit: must be from 1 to 100".to_owned())),
    }
}

/// Preference scores per category and item, decayed with time and weighted by event type.
/// Needs the user's `preferences` consent (403 `CONSENT_REQUIRED` otherwise).
#[utoipa::path(get, path = "/api/profile/{user_id}/preferences", tag = "profiles",
    params(("user_id" = String, Path), LimitParams), security(("bearer" = [])),
    responses((status = 200, body = PreferencesView), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody)))]
async fn preferences(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(user_id): ApiPath<String>,
    ApiQuery(params): ApiQuery<LimitParams>,
) -> Result<Json<PreferencesView>, ApiError> {
    principal.require_self_or_staff(&user_id)?;
    Ok(Json(PreferenceCalculator::new(state).calculate_preferences(&user_id, limit(&params)?).await?))
}

/// Habits: frequent action sequences in sessions, peak hours and days, session habits,
/// streaks, and the last 7 days against the user's baseline.
#[utoipa::path(get, path = "/api/profile/{user_id}/patterns", tag = "profiles", params(("user_id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = PatternsView), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody)))]
async fn patterns(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<PatternsView>, ApiError> {
    principal.require_self_or_staff(&user_id)?;
    Ok(Json(PatternDetector::new(state).detect_patterns(&user_id).await?))
}

/// Everything at once: profile and features, preferences (or why not), patterns, next actions.
#[utoipa::path(get, path = "/api/profile/{user_id}/enriched", tag = "profiles",
    params(("user_id" = String, Path), LimitParams), security(("bearer" = [])),
    responses((status = 200, body = Enriched), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody)))]
async fn enriched(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(user_id): ApiPath<String>,
    ApiQuery(params): ApiQuery<LimitParams>,
) -> Result<Json<Enriched>, ApiError> {
    principal.require_self_or_staff(&user_id)?;
    Ok(Json(enriched::enriched(&state, &user_id, limit(&params)?).await?))
}

/// Rebuild the user's profile from all their events (it is otherwise kept up to date event by
/// event), say whether it matched, and give the user their segment (placed at the nearest
/// centroid of the latest run if they were not in it; a run first if none exists and enough
/// users have events).
#[utoipa::path(post, path = "/api/profile/{user_id}/recalculate", tag = "profiles", params(("user_id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Recalculation), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody), (status = 409, body = crate::kernel::error::ErrorBody)))]
async fn recalculate(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<Recalculation>, ApiError> {
    principal.require_self_or_staff(&user_id)?;
    Ok(Json(enriched::recalculate(&state, &user_id).await?))
}

/// The user's segment in the latest segmentation run: its name (from its strongest traits),
/// size, the user's distance to its centroid and how they compare with it.
#[utoipa::path(get, path = "/api/profile/{user_id}/cluster", tag = "profiles", params(("user_id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = UserCluster), (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
        (status = 404, body = crate::kernel::error::ErrorBody), (status = 422, description = "no segmentation run yet", body = crate::kernel::error::ErrorBody)))]
async fn cluster(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<UserCluster>, ApiError> {
    principal.require_self_or_staff(&user_id)?;
    Ok(Json(UserClustering::new(state).cluster_of(&user_id).await?))
}

/// Categories and items the user has not engaged with, scored from their preferences and what
/// their segment's peers engage with, each with its reason. Needs `preferences` consent.
#[utoipa::path(get, path = "/api/profile/{user_id}/recommendations", tag = "profiles",
    params(("user_id" = String, Path), LimitParams), security(("bearer" = [])),
    responses((status = 200, body = Recommendations), (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
        (status = 404, body = crate::kernel::error::ErrorBody), (status = 422, description = "no segmentation run yet", body = crate::kernel::error::ErrorBody)))]
async fn recommendations(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(user_id): ApiPath<String>,
    ApiQuery(params): ApiQuery<LimitParams>,
) -> Result<Json<Recommendations>, ApiError> {
    principal.require_self_or_staff(&user_id)?;
    Ok(Json(segments::recommend(&state, &user_id, limit(&params)?).await?))
}

/// The latest segmentation run: k, silhouette, users, and every segment with its centroid.
#[utoipa::path(get, path = "/api/profile/clusters", tag = "profiles", security(("bearer" = [])),
    responses((status = 200, body = segments::RunView), (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
        (status = 422, description = "no segmentation run yet", body = crate::kernel::error::ErrorBody)))]
async fn clusters(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    principal.require_staff()?;
    Ok(Json(segments::latest(&state).await?))
}

/// Start a segmentation run now, in the background (admin); `GET /api/profile/clusters` shows it
/// once recorded.
#[utoipa::path(post, path = "/api/profile/clusters/update", tag = "profiles", security(("bearer" = [])),
    responses((status = 202, body = Object), (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn update_clusters(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    principal.require_admin()?;
    segments::start_update(&state)?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(json!({"status": "started"}))))
}
