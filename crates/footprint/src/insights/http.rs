//! Seed 003's insight routes: a user's insights (the user or staff), cohort retention and the
//! tier analysis (staff), the daily report (staff), users' unusual activity (staff), and
//! starting a churn training run (admin).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::principal::Principal;
use crate::app::state::AppState;
use crate::http::extract::{ApiPath, ApiQuery};
use crate::insights::cohorts::{self, CohortTable};
use crate::insights::report::{self, AnalyticsReport};
use crate::insights::service::{self, UserInsights};
use crate::insights::tiers::{self, TierAnalysis};
use crate::insights::{anomalies, churn};
use crate::kernel::clock::rfc3339;
use crate::kernel::error::{ApiError, ErrorBody};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(user_insights))
        .routes(routes!(cohort_retention))
        .routes(routes!(tier_analysis))
        .routes(routes!(analytics_report))
        .routes(routes!(train_churn))
        .routes(routes!(activity_anomalies))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnomalyQuery {
    /// The complete day judged, `YYYY-MM-DD` (UTC); default yesterday.
    day: Option<String>,
}

/// Users whose activity on a complete day was far from their own baseline of the 28 days
/// before: a spike (many more events than a negative binomial fitted to their days makes
/// likely) or a drop (a regular user silent for days), each with its p-value; the threshold
/// α = 10⁻⁴ is the expected false-positive rate per user and day. Most extreme first. Manager
/// or admin. 400 for a day not over yet.
#[utoipa::path(get, path = "/api/v1/insights/anomalies", tag = "insights", params(AnomalyQuery),
    security(("bearer" = [])),
    responses((status = 200, body = anomalies::ActivityReport), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn activity_anomalies(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<AnomalyQuery>,
) -> Result<Json<anomalies::ActivityReport>, ApiError> {
    principal.require_staff()?;
    Ok(Json(anomalies::report(&state, query.day.as_deref()).await?))
}

/// Seed 003's insights of a user: engagement (the score now, week by week and its trend with
/// the slope's p-value), activity, churn risk (a probability from the newest `churn_predictor`,
/// with the factors behind it), cohort (the week of the first event) and its retention,
/// segment, and for an account its usage against the tier's limits with an upgrade or
/// downgrade suggestion. The user, or a manager or admin. 422 `INSUFFICIENT_DATA` for a user
/// with no processed event.
#[utoipa::path(get, path = "/api/v1/users/{id}/insights", tag = "insights", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = UserInsights), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn user_insights(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<UserInsights>, ApiError> {
    Ok(Json(service::user_insights(&state, &principal, &id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CohortQuery {
    /// `day`, `week` (default) or `month`.
    period: Option<String>,
    /// How many periods of cohorts, the current one included (default 12, at most 366).
    periods: Option<u32>,
}

/// Cohort retention: users grouped by the period of their first event, and the share of each
/// cohort active in each period since. Manager or admin.
#[utoipa::path(get, path = "/api/v1/insights/cohorts", tag = "insights", params(CohortQuery),
    security(("bearer" = [])),
    responses((status = 200, body = CohortTable), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn cohort_retention(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<CohortQuery>,
) -> Result<Json<CohortTable>, ApiError> {
    principal.require_staff()?;
    let period = cohorts::parse_period(query.period.as_deref())?;
    let periods = query.periods.unwrap_or(12);
    if !(1..=366).contains(&periods) {
        return Err(ApiError::InvalidParameters("periods: must be from 1 to 366".to_owned()));
    }
    Ok(Json(cohorts::table(&state, period, periods).await?))
}

/// Every account's usage against its tier's limits, engagement and churn risk, and who should
/// move up or down a tier, with the reasons (seed 003's `analyze-tiers`). Manager or admin.
#[utoipa::path(get, path = "/api/v1/insights/tiers", tag = "insights", security(("bearer" = [])),
    responses((status = 200, body = TierAnalysis), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn tier_analysis(State(state): State<AppState>, principal: Principal) -> Result<Json<TierAnalysis>, ApiError> {
    principal.require_staff()?;
    Ok(Json(tiers::analyze(&state).await?))
}

/// The analytics report of the last 24 hours, computed now (seed 003's `generate-analytics`;
/// the scheduled one is kept with its run in `GET /api/v1/automation/runs`). Manager or admin.
#[utoipa::path(get, path = "/api/v1/insights/report", tag = "insights", security(("bearer" = [])),
    responses((status = 200, body = AnalyticsReport), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn analytics_report(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<AnalyticsReport>, ApiError> {
    principal.require_staff()?;
    Ok(Json(report::generate(&state).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrainingStarted {
    pub model_id: String,
    pub version: i64,
    /// `training`: follow it with `GET /api/ml/models/{id}`.
    pub status: String,
    pub started_at: String,
}

/// Starts training a `churn_predictor` version in the background (it also trains on
/// `insights.churn_training_interval_secs`). 202 with its id; 422 `INSUFFICIENT_DATA` when too
/// few users were active before the latest cut-off whose outcome is known; 409 while one trains.
/// Admin only.
#[utoipa::path(post, path = "/api/v1/insights/churn/train", tag = "insights", security(("bearer" = [])),
    responses((status = 202, body = TrainingStarted), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn train_churn(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<(StatusCode, Json<TrainingStarted>), ApiError> {
    principal.require_admin()?;
    let model = churn::start_training(&state, &principal.actor()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(TrainingStarted {
            model_id: model.model_id,
            version: model.version,
            status: model.status,
            started_at: rfc3339(model.created_at_us),
        }),
    ))
}
