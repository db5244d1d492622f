//! Seed 001's consent routes: query parameters in, the user's standing out.

use axum::Json;
use axum::extract::State;
use footprint_analytics::{Consent, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery, lenient_bool};
use crate::services::consent::{self, ConsentPurposes, ConsentStatus};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(record_consent)).routes(routes!(get_consent))
}

/// A purpose left out is not consented to.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsentParams {
    user_id: String,
    /// Store behavioural events and profile them (`true`/`false`; `True`, `1`, `yes` also work).
    #[serde(default, deserialize_with = "lenient_bool")]
    analytics: bool,
    /// Compute preference scores and recommendations.
    #[serde(default, deserialize_with = "lenient_bool")]
    preferences: bool,
    /// Use the user's data to train models.
    #[serde(default, deserialize_with = "lenient_bool")]
    improvement: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentRecorded {
    /// `success`.
    status: &'static str,
    user_id: String,
    consent: ConsentPurposes,
    recorded_at: String,
}

fn authorize(principal: &Principal, user_id: &UserId) -> Result<(), ApiError> {
    principal.may_track(user_id.as_str()).map_err(ApiError::Forbidden)
}

/// Record a user's consent (seed 001). Each call is kept in the user's history.
#[utoipa::path(post, path = "/api/tracking/consent", tag = "tracking", params(ConsentParams),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ConsentRecorded),
        (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
    ))]
async fn record_consent(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ConsentParams>,
) -> Result<Json<ConsentRecorded>, ApiError> {
    let user_id = UserId::parse(&params.user_id).map_err(|error| ApiError::InvalidParameters(error.to_string()))?;
    authorize(&principal, &user_id)?;
    let consent =
        Consent { analytics: params.analytics, preferences: params.preferences, improvement: params.improvement };
    let record = consent::record(&state, &user_id, consent, &principal.actor()).await?;
    Ok(Json(ConsentRecorded {
        status: "success",
        user_id: record.user_id,
        consent: record.consent.into(),
        recorded_at: crate::clock::rfc3339(record.recorded_at_us),
    }))
}

/// A user's current consent, whether it is the instance default, and its history.
#[utoipa::path(get, path = "/api/tracking/consent/{user_id}", tag = "tracking", params(("user_id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ConsentStatus),
        (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
    ))]
async fn get_consent(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<ConsentStatus>, ApiError> {
    let user_id = UserId::parse(&user_id).map_err(|error| ApiError::InvalidParameters(error.to_string()))?;
    authorize(&principal, &user_id)?;
    Ok(Json(consent::status(&state, &user_id).await?))
}
