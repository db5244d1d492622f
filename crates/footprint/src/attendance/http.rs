//! Seed 004's routes: the attendance data (manager/admin: events, registrations, check-ins,
//! JSON-lines import) and the `/api/ml` routes with the seed's envelope
//! `{"success": true, "data": …}`.

use std::time::Instant;

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::principal::Principal;
use crate::app::state::AppState;
use crate::attendance::import::{self as history, ImportLine, ImportMode, ImportReport};
use crate::attendance::model::batch::{self, BatchPrediction, BatchRequest, TestPrediction, TestPredictionRequest};
use crate::attendance::model::insights::{self as ml_insights, InsightsRequest};
use crate::attendance::model::{
    self as attendance_model, AnomalyReport, AnomalyRequest, AttendancePrediction, FactorAnalysisView, FactorRequest,
    ModelPerformance, PredictRequest, RecommendationRequest, Recommendations, TrainRequest,
};
use crate::attendance::organizations::{self, OrganizationInput, OrganizationView};
use crate::attendance::records::{
    self as attendance, CheckIn, EventInput, EventList, EventView, RegistrationInput, RegistrationView,
};
use crate::attendance::usage::{self as ml_usage, AnalyticsParams, ServiceAnalytics, Usage};
use crate::attendance::views::{self, Insights, MlHealth, ModelParams, ModelView};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, MlJson, OptionalJson, TextBody};
use crate::kernel::error::ApiError;

pub(crate) fn routes(state: &AppState) -> OpenApiRouter<AppState> {
    // A history import is a bulk upload: it takes the batch limit, not the general one.
    let import_limit = DefaultBodyLimit::max(state.config.ingest.batch_max_bytes);
    OpenApiRouter::new()
        .routes(routes!(create_event, list_events))
        .routes(routes!(get_event, put_event, delete_event))
        .routes(routes!(register))
        .routes(routes!(check_in))
        .routes(routes!(get_organization, declare_organization))
        .routes(routes!(health))
        .routes(routes!(predict_attendance))
        .routes(routes!(list_models))
        .routes(routes!(get_model))
        .routes(routes!(train_model))
        .routes(routes!(analyze_factors))
        .routes(routes!(performance))
        .routes(routes!(anomalies))
        .routes(routes!(recommendations))
        .routes(routes!(batch_predict))
        .routes(routes!(insights))
        .routes(routes!(test_prediction))
        .routes(routes!(analytics))
        .merge(OpenApiRouter::new().routes(routes!(import)).layer(import_limit))
}

/// Create an attendance event (its `id` may be given); 409 when the id is taken.
#[utoipa::path(post, path = "/api/v1/attendance/events", tag = "attendance", request_body = EventInput,
    security(("bearer" = [])),
    responses((status = 201, body = EventView), (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
        (status = 409, body = crate::kernel::error::ErrorBody), (status = 422, body = crate::kernel::error::ErrorBody)))]
async fn create_event(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<EventInput>,
) -> Result<(StatusCode, Json<EventView>), ApiError> {
    principal.require_staff()?;
    Ok((StatusCode::CREATED, Json(attendance::create(&state, input, &principal.actor()).await?)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    organization_id: Option<String>,
    /// Events starting at or after (RFC 3339).
    from: Option<String>,
    /// Events starting before (RFC 3339).
    to: Option<String>,
    /// 1–1000, default 100.
    limit: Option<u32>,
    cursor: Option<String>,
}

/// Attendance events in start order, a page at a time.
#[utoipa::path(get, path = "/api/v1/attendance/events", tag = "attendance", params(ListParams),
    security(("bearer" = [])),
    responses((status = 200, body = EventList), (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn list_events(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<EventList>, ApiError> {
    principal.require_staff()?;
    Ok(Json(
        attendance::list(
            &state,
            params.organization_id,
            params.from.as_deref(),
            params.to.as_deref(),
            params.limit,
            params.cursor.as_deref(),
        )
        .await?,
    ))
}

/// One event with its registrations.
#[utoipa::path(get, path = "/api/v1/attendance/events/{id}", tag = "attendance", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = EventView), (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
        (status = 404, body = crate::kernel::error::ErrorBody)))]
async fn get_event(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<EventView>, ApiError> {
    principal.require_staff()?;
    Ok(Json(attendance::get(&state, &id).await?))
}

/// Create or replace the event at this id (201 when created).
#[utoipa::path(put, path = "/api/v1/attendance/events/{id}", tag = "attendance", params(("id" = String, Path)),
    request_body = EventInput, security(("bearer" = [])),
    responses((status = 200, body = EventView), (status = 201, body = EventView), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 422, body = crate::kernel::error::ErrorBody)))]
async fn put_event(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<EventInput>,
) -> Result<(StatusCode, Json<EventView>), ApiError> {
    principal.require_staff()?;
    let (created, view) = attendance::replace(&state, &id, input).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(view)))
}

/// What an organisation declared for its attendance records: its time zone and its attributes' kinds.
#[utoipa::path(get, path = "/api/v1/attendance/organizations/{id}", tag = "attendance", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = OrganizationView), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody)))]
async fn get_organization(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<OrganizationView>, ApiError> {
    principal.require_staff()?;
    Ok(Json(organizations::organization(&state, &id).await?))
}

/// Declare (or replace) an organisation's time zone, which its events take when they do not say
/// theirs, and its registration attributes' kinds, to which values are converted as they come
/// in (a value that cannot be is refused). Both apply to what is stored afterwards.
#[utoipa::path(put, path = "/api/v1/attendance/organizations/{id}", tag = "attendance", params(("id" = String, Path)),
    request_body = OrganizationInput, security(("bearer" = [])),
    responses((status = 200, body = OrganizationView), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 422, body = crate::kernel::error::ErrorBody)))]
async fn declare_organization(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<OrganizationInput>,
) -> Result<Json<OrganizationView>, ApiError> {
    principal.require_staff()?;
    Ok(Json(organizations::declare(&state, &id, input, &principal.actor()).await?))
}

/// Delete the event and its registrations.
#[utoipa::path(delete, path = "/api/v1/attendance/events/{id}", tag = "attendance", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
        (status = 404, body = crate::kernel::error::ErrorBody)))]
async fn delete_event(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    principal.require_staff()?;
    attendance::delete(&state, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Register a user to the event (201 when new, 200 when replaced).
#[utoipa::path(post, path = "/api/v1/attendance/events/{id}/registrations", tag = "attendance",
    params(("id" = String, Path)), request_body = RegistrationInput, security(("bearer" = [])),
    responses((status = 201, body = RegistrationView), (status = 200, body = RegistrationView), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody), (status = 422, body = crate::kernel::error::ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<RegistrationInput>,
) -> Result<(StatusCode, Json<RegistrationView>), ApiError> {
    principal.require_staff()?;
    let (created, view) = attendance::register(&state, &id, input).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(view)))
}

/// Record whether a registered user came.
#[utoipa::path(put, path = "/api/v1/attendance/events/{id}/registrations/{user_id}", tag = "attendance",
    params(("id" = String, Path), ("user_id" = String, Path)), request_body = CheckIn, security(("bearer" = [])),
    responses((status = 200, body = RegistrationView), (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
        (status = 404, body = crate::kernel::error::ErrorBody), (status = 422, body = crate::kernel::error::ErrorBody)))]
async fn check_in(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, user_id)): ApiPath<(String, String)>,
    ApiJson(input): ApiJson<CheckIn>,
) -> Result<Json<RegistrationView>, ApiError> {
    principal.require_staff()?;
    Ok(Json(attendance::check_in(&state, &id, &user_id, input).await?))
}

/// Import JSON lines: one event per line, with `registrations: [{user_id, registered_at, attended?}]`.
/// Bad lines are reported with their reason; the others are kept. A line naming the same user
/// twice is refused (one registration per user and event). A line whose event exists is refused
/// unless `mode=upsert`, which replaces the event and reports the stored registrations its line
/// did not mention (they stay attached). Bodies up to `ingest.batch_max_bytes` (10 MiB by
/// default); a larger one gets 413.
#[utoipa::path(post, path = "/api/v1/attendance/import", tag = "attendance",
    params(ImportQuery),
    request_body(content = ImportLine, content_type = "application/x-ndjson",
        description = "JSON lines, each line one object of this schema. At most `ingest.batch_max_bytes` (10 MiB by default) in all."),
    security(("bearer" = [])),
    responses((status = 200, body = ImportReport), (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody),
        (status = 413, description = "The body is over `ingest.batch_max_bytes`: split it.", body = crate::kernel::error::ErrorBody)))]
async fn import(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ImportQuery>,
    TextBody(text): TextBody,
) -> Result<Json<ImportReport>, ApiError> {
    principal.require_staff()?;
    let mode = ImportMode::parse(query.mode.as_deref())?;
    Ok(Json(history::import(&state, &text, mode, &principal.actor()).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `insert` (default: a line whose event exists is refused) or `upsert` (it replaces the event).
    mode: Option<String>,
}

/// Seed 004's envelope: `{"success": true, "data": …}`.
#[derive(Serialize)]
struct Envelope<T> {
    success: bool,
    data: T,
}

fn envelope<T: Serialize>(data: T) -> Json<Envelope<T>> {
    Json(Envelope { success: true, data })
}

/// The ML service's state: every model of the registry with its status, version and metrics.
#[utoipa::path(get, path = "/api/ml/health", tag = "attendance", security(("bearer" = [])),
    responses((status = 200, description = "`{success, data: {status, models}}`", body = Object), (status = 401, body = crate::kernel::error::ErrorBody)))]
async fn health(State(state): State<AppState>, principal: Principal) -> Result<Json<Envelope<MlHealth>>, ApiError> {
    Ok(envelope(views::health(&state, principal.is_staff()).await?))
}

/// Predict who will come to an event: per person (probability, confidence, factors) and
/// overall (expected attendance with its Poisson-binomial interval, rate, risk level).
#[utoipa::path(post, path = "/api/ml/predict-attendance", tag = "attendance", request_body = PredictRequest,
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
        (status = 404, description = "MODEL_NOT_FOUND or NOT_FOUND", body = crate::kernel::error::ErrorBody),
        (status = 422, body = crate::kernel::error::ErrorBody)))]
async fn predict_attendance(
    State(state): State<AppState>,
    principal: Principal,
    MlJson(request): MlJson<PredictRequest>,
) -> Result<Json<Envelope<AttendancePrediction>>, ApiError> {
    principal.require_staff()?;
    let started = Instant::now();
    let result = attendance_model::predict(&state, request).await;
    ml_usage::record(&state, "predict-attendance", started, &result, |data| {
        Usage::of(&data.model.id, data.overall.total_registered)
    })
    .await;
    Ok(envelope(result?))
}

/// The model registry, newest first (admin).
#[utoipa::path(get, path = "/api/ml/models", tag = "attendance", params(ModelParams), security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn list_models(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ModelParams>,
) -> Result<Json<Envelope<Vec<ModelView>>>, ApiError> {
    principal.require_admin()?;
    Ok(envelope(views::models(&state, params).await?))
}

/// One model of the registry (admin); 404 `MODEL_NOT_FOUND`.
#[utoipa::path(get, path = "/api/ml/models/{id}", tag = "attendance", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
        (status = 404, body = crate::kernel::error::ErrorBody)))]
async fn get_model(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Envelope<ModelView>>, ApiError> {
    principal.require_admin()?;
    Ok(envelope(views::model(&state, &id).await?))
}

/// Train a new version of the attendance predictor in the background (admin): 202 with its id;
/// its status moves from `training` to `ready` or `error`.
#[utoipa::path(post, path = "/api/ml/models/train", tag = "attendance",
    request_body(content = Option<TrainRequest>, description = "Optional: no body trains on every record with the defaults."),
    security(("bearer" = [])),
    responses((status = 202, body = Object), (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn train_model(
    State(state): State<AppState>,
    principal: Principal,
    request: Result<OptionalJson<TrainRequest>, ApiError>,
) -> Result<(StatusCode, Json<Envelope<TrainingStarted>>), ApiError> {
    principal.require_admin()?;
    let OptionalJson(request) = request.map_err(ApiError::as_parameters)?;
    // No body trains with the defaults.
    let model = attendance_model::start_training(&state, request.unwrap_or_default()).await?;
    let started = TrainingStarted {
        id: model.model_id.clone(),
        model_id: model.model_id,
        status: model.status,
        version: model.version,
    };
    Ok((StatusCode::ACCEPTED, envelope(started)))
}

/// A training run registered: its model id (`id`, as in the model list, and `modelId`, as in
/// the performance answer), `training`, and the version it will be.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TrainingStarted {
    id: String,
    model_id: String,
    status: String,
    version: i64,
}

/// Which factors move attendance: each one's correlation with attending and its p-value, rates
/// by day, time slot, type and weather with their sample sizes, and the regression's R²,
/// adjusted R², F statistic and p-value.
#[utoipa::path(post, path = "/api/ml/analyze-factors", tag = "attendance", request_body = FactorRequest,
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 422, body = crate::kernel::error::ErrorBody)))]
async fn analyze_factors(
    State(state): State<AppState>,
    principal: Principal,
    MlJson(request): MlJson<FactorRequest>,
) -> Result<Json<Envelope<FactorAnalysisView>>, ApiError> {
    principal.require_staff()?;
    let started = Instant::now();
    let result = attendance_model::analyze_factors(&state, request).await;
    ml_usage::record(&state, "analyze-factors", started, &result, |_| Usage::none()).await;
    Ok(envelope(result?))
}

/// A model's accuracy, precision, recall, F1, ROC AUC, Brier score and confusion matrix on the
/// latest part of its data, by month and by segment (new and returning users), with feature
/// importance. Manager or admin.
#[utoipa::path(get, path = "/api/ml/models/{id}/performance", tag = "attendance", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody)))]
async fn performance(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Envelope<ModelPerformance>>, ApiError> {
    principal.require_staff()?;
    Ok(envelope(attendance_model::performance(&state, &id).await?))
}

/// Attendance far from expectation, users missing many in a row, outlier events; `sensitivity`
/// sets the |z| threshold and the answer gives its false-positive rate under the null.
#[utoipa::path(post, path = "/api/ml/anomalies", tag = "attendance", request_body = AnomalyRequest,
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn anomalies(
    State(state): State<AppState>,
    principal: Principal,
    MlJson(request): MlJson<AnomalyRequest>,
) -> Result<Json<Envelope<AnomalyReport>>, ApiError> {
    principal.require_staff()?;
    let started = Instant::now();
    let result = attendance_model::anomalies(&state, request).await;
    ml_usage::record(&state, "anomalies", started, &result, |_| Usage::none()).await;
    Ok(envelope(result?))
}

/// Scheduling, engagement and capacity advice from measured rates and predictions, each with
/// its impact, confidence and evidence.
#[utoipa::path(post, path = "/api/ml/recommendations", tag = "attendance", request_body = RecommendationRequest,
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
        (status = 422, body = crate::kernel::error::ErrorBody)))]
async fn recommendations(
    State(state): State<AppState>,
    principal: Principal,
    MlJson(request): MlJson<RecommendationRequest>,
) -> Result<Json<Envelope<Recommendations>>, ApiError> {
    principal.require_staff()?;
    let started = Instant::now();
    let result = attendance_model::recommendations(&state, request).await;
    ml_usage::record(&state, "recommendations", started, &result, |_| Usage::none()).await;
    Ok(envelope(result?))
}

/// Predictions for many events at once (manager or admin): `eventIds`, or the events starting
/// within `timeHorizon`; the summary sums them all (one Poisson-binomial interval over everyone).
/// Events that cannot be predicted are listed under `failed`; when none can, 422
/// `PREDICTION_FAILED` with the reasons.
#[utoipa::path(post, path = "/api/ml/batch-predict", tag = "attendance", request_body = BatchRequest,
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, description = "MODEL_NOT_FOUND", body = crate::kernel::error::ErrorBody),
        (status = 422, description = "PREDICTION_FAILED", body = crate::kernel::error::ErrorBody),
        (status = 504, description = "ANALYSIS_TIMEOUT", body = crate::kernel::error::ErrorBody)))]
async fn batch_predict(
    State(state): State<AppState>,
    principal: Principal,
    MlJson(request): MlJson<BatchRequest>,
) -> Result<Json<Envelope<BatchPrediction>>, ApiError> {
    principal.require_staff()?;
    let started = Instant::now();
    let result = batch::batch_predict(&state, request).await;
    ml_usage::record(&state, "batch-predict", started, &result, |(data, predictions)| {
        Usage::of(&data.model.id, *predictions)
    })
    .await;
    Ok(envelope(result?.0))
}

/// Insights (manager or admin): rates by day of week and time slot with their sample sizes, the
/// trend and its significance, engagement segments from clustering users' attendance, event
/// performance and operational figures, with recommendations and action items.
#[utoipa::path(post, path = "/api/ml/insights", tag = "attendance", request_body = InsightsRequest,
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 422, body = crate::kernel::error::ErrorBody),
        (status = 504, description = "ANALYSIS_TIMEOUT", body = crate::kernel::error::ErrorBody)))]
async fn insights(
    State(state): State<AppState>,
    principal: Principal,
    MlJson(request): MlJson<InsightsRequest>,
) -> Result<Json<Envelope<Insights>>, ApiError> {
    principal.require_staff()?;
    let started = Instant::now();
    let result = ml_insights::insights(&state, request).await;
    ml_usage::record(&state, "insights", started, &result, |_| Usage::none()).await;
    Ok(envelope(result?))
}

/// A prediction on inputs given by hand (admin), with each feature's contribution; the user's
/// recorded outcome is shown beside it when there is one. 409 `MODEL_TRAINING_ERROR` for a model
/// whose training failed.
#[utoipa::path(post, path = "/api/ml/test-prediction", tag = "attendance", request_body = TestPredictionRequest,
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody),
        (status = 409, description = "MODEL_TRAINING_ERROR or still training", body = crate::kernel::error::ErrorBody)))]
async fn test_prediction(
    State(state): State<AppState>,
    principal: Principal,
    MlJson(request): MlJson<TestPredictionRequest>,
) -> Result<Json<Envelope<TestPrediction>>, ApiError> {
    principal.require_admin()?;
    let started = Instant::now();
    let result = batch::test_prediction(&state, request).await;
    ml_usage::record(&state, "test-prediction", started, &result, |data| Usage::of(&data.model.id, 1)).await;
    Ok(envelope(result?))
}

/// The ML service's own analytics (manager or admin): predictions by model and operation, the
/// peak hour, response times, success and error rates by code, and the current model's accuracy
/// on the last week's and month's events.
#[utoipa::path(get, path = "/api/ml/analytics", tag = "attendance", params(AnalyticsParams), security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn analytics(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<AnalyticsParams>,
) -> Result<Json<Envelope<ServiceAnalytics>>, ApiError> {
    principal.require_staff()?;
    Ok(envelope(ml_usage::analytics(&state, params).await?))
}
