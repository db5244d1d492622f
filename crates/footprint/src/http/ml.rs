//! Seed 004's `/api/ml` routes, with its envelope: `{"success": true, "data": …}`.

use axum::Json;
use axum::extract::State;
use std::time::Instant;

use axum::http::StatusCode;
use footprint_store::{ModelFilter, ModelRecord};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::services::attendance_model::{
    self, AnomalyRequest, FactorRequest, PredictRequest, RecommendationRequest, TrainRequest,
};
use crate::services::ml_insights::{self, BatchRequest, InsightsRequest, TestPredictionRequest};
use crate::services::ml_usage::{self, AnalyticsParams, Usage};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
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
}

fn envelope(data: Value) -> Json<Value> {
    Json(json!({"success": true, "data": data}))
}

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// The seed's model families (`predictor`, `classifier`, `detector`) and our model types.
fn family(model_type: &str) -> &'static str {
    match model_type {
        attendance_model::MODEL_TYPE => "predictor",
        crate::services::match_model::MODEL_TYPE => "classifier",
        _ => "other",
    }
}

fn description(model_type: &str) -> &'static str {
    match model_type {
        attendance_model::MODEL_TYPE => "Predicts the probability that a registrant attends an event",
        crate::services::match_model::MODEL_TYPE => "Predicts whether a proposed match is accepted (seed 001)",
        _ => "",
    }
}

fn model_view(model: &ModelRecord, now_us: i64) -> Value {
    let mut metrics = parse_json(&model.metrics);
    // The seed reads the validation figures at the top of `metrics`.
    if let Some(validation) = metrics.get("validation").cloned()
        && let Some(object) = metrics.as_object_mut()
    {
        for (ours, seeds) in [
            ("accuracy", "accuracy"),
            ("precision", "precision"),
            ("recall", "recall"),
            ("f1", "f1Score"),
            ("roc_auc", "auc"),
        ] {
            object.insert(seeds.to_owned(), validation.get(ours).cloned().unwrap_or(Value::Null));
        }
    }
    let features = serde_json::from_str::<Value>(&model.parameters)
        .ok()
        .and_then(|p| p.pointer("/space/names").and_then(Value::as_array).map(Vec::len));
    let days_in_use = model.trained_at_us.map(|at| ((now_us - at) as f64 / 86_400_000_000.0).max(1.0));
    json!({
        "id": model.model_id,
        "name": format!("{} v{}", model.name, model.version),
        "type": model.model_type,
        "family": family(&model.model_type),
        "description": description(&model.model_type),
        "status": model.status,
        "version": model.version,
        "hyperparameters": parse_json(&model.hyperparameters),
        "dataWindow": parse_json(&model.data_window),
        "metrics": metrics,
        "error": model.error,
        "training": {
            "createdAt": rfc3339(model.created_at_us),
            "lastTrained": model.trained_at_us.map(rfc3339),
            "trainingDuration": model.trained_at_us.map(|at| format!("{:.2}s", (at - model.created_at_us) as f64 / 1e6)),
            "dataPoints": model.rows_used,
            "features": features,
        },
        "usage": {
            "totalPredictions": model.predictions,
            // Per day since it was trained (a day at least).
            "dailyAverage": days_in_use.map(|days| model.predictions as f64 / days),
        },
    })
}

/// The ML service's state: every model of the registry with its status, version and metrics.
#[utoipa::path(get, path = "/api/ml/health", tag = "attendance", security(("bearer" = [])),
    responses((status = 200, description = "`{success, data: {status, models}}`", body = Object), (status = 401, body = super::ErrorBody)))]
async fn health(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    state.store.ping().await?;
    let models = state.store.models(ModelFilter::default()).await?;
    // Per model name: the version that serves (the newest ready one), and the newest run if it
    // is a later one still training or failed.
    let mut latest = serde_json::Map::new();
    let mut names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let runs: Vec<&ModelRecord> = models.iter().filter(|m| m.name == name).collect();
        let serving = runs.iter().find(|m| m.status == "ready").copied();
        let newest = runs[0];
        let shown = serving.unwrap_or(newest);
        let validation = parse_json(&shown.metrics).get("validation").cloned().unwrap_or(Value::Null);
        let mut entry = json!({
            "id": shown.model_id,
            "status": shown.status,
            "version": shown.version,
            "lastTrained": shown.trained_at_us.map(rfc3339),
            "accuracy": validation.get("accuracy"),
            "metrics": validation,
        });
        if newest.model_id != shown.model_id {
            entry["latestRun"] = json!({"id": newest.model_id, "status": newest.status, "version": newest.version, "error": newest.error});
        }
        // Anyone signed in sees the status; the figures and failure reasons are for staff.
        if !principal.is_staff()
            && let Some(object) = entry.as_object_mut()
        {
            object.remove("metrics");
            object.remove("latestRun");
        }
        latest.insert(name.to_owned(), entry);
    }
    let predicting = latest.get(attendance_model::MODEL_NAME).is_some_and(|m| m["status"] == "ready");
    let free = state.analyses.available_permits();
    let analyses = if free > 0 { "operational" } else { "busy" };
    Ok(envelope(json!({
        "status": "operational",
        "version": env!("CARGO_PKG_VERSION"),
        "store": state.store.backend(),
        "models": latest,
        "services": {
            // Predictions need a trained attendance model (POST /api/ml/models/train).
            "prediction": if predicting { "operational" } else { "no_model" },
            "recommendations": analyses,
            "insights": analyses,
            "anomalies": analyses,
        },
        "analysisSlots": {"free": free, "total": state.config.ml.max_concurrent_analyses},
    })))
}

/// Predict who will come to an event: per person (probability, confidence, factors) and
/// overall (expected attendance with its Poisson-binomial interval, rate, risk level).
#[utoipa::path(post, path = "/api/ml/predict-attendance", tag = "attendance", request_body = PredictRequest,
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 404, description = "MODEL_NOT_FOUND or NOT_FOUND", body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)))]
async fn predict_attendance(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<PredictRequest>,
) -> Result<Json<Value>, ApiError> {
    principal.require_staff()?;
    let started = Instant::now();
    let result = attendance_model::predict(&state, request).await;
    ml_usage::record(&state, "predict-attendance", started, &result, |data| {
        Usage::of(data, data["overall"]["totalRegistered"].as_u64().unwrap_or(0) as usize)
    })
    .await;
    Ok(envelope(result?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ModelParams {
    /// `ready`, `training` or `error`.
    status: Option<String>,
    /// A model type (`attendance_predictor`, `logistic_regression`) or a family (`predictor`,
    /// `classifier`, `detector`).
    #[serde(rename = "type")]
    model_type: Option<String>,
}

/// The model registry, newest first (admin).
#[utoipa::path(get, path = "/api/ml/models", tag = "attendance", params(ModelParams), security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
async fn list_models(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ModelParams>,
) -> Result<Json<Value>, ApiError> {
    principal.require_admin()?;
    // `type` is a model type, or one of the seed's families (`predictor`, `classifier`, `detector`).
    let by_family = params.model_type.as_deref().filter(|t| ["predictor", "classifier", "detector"].contains(t));
    let exact = if by_family.is_some() { None } else { params.model_type.clone() };
    let filter = ModelFilter { name: None, model_type: exact, status: params.status };
    let models = state.store.models(filter).await?;
    let now_us = state.clock.now_us();
    Ok(envelope(Value::Array(
        models
            .iter()
            .filter(|m| by_family.is_none_or(|f| family(&m.model_type) == f))
            .map(|m| model_view(m, now_us))
            .collect(),
    )))
}

/// One model of the registry (admin); 404 `MODEL_NOT_FOUND`.
#[utoipa::path(get, path = "/api/ml/models/{id}", tag = "attendance", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
async fn get_model(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require_admin()?;
    let model = state.store.model(&id).await?.ok_or_else(|| ApiError::ModelNotFound(format!("no model {id}")))?;
    Ok(envelope(model_view(&model, state.clock.now_us())))
}

/// Train a new version of the attendance predictor in the background (admin): 202 with its id;
/// its status moves from `training` to `ready` or `error`.
#[utoipa::path(post, path = "/api/ml/models/train", tag = "attendance", request_body = TrainRequest, security(("bearer" = [])),
    responses((status = 202, body = Object), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody)))]
async fn train_model(
    State(state): State<AppState>,
    principal: Principal,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    principal.require_admin()?;
    // The body is optional: no body trains with the defaults.
    let request: TrainRequest = if body.iter().all(u8::is_ascii_whitespace) {
        TrainRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|error| {
            ApiError::InvalidParameters(format!("the body does not have the expected shape: {error}"))
        })?
    };
    let model = attendance_model::start_training(&state, request).await?;
    Ok((
        StatusCode::ACCEPTED,
        envelope(json!({"modelId": model.model_id, "status": model.status, "version": model.version})),
    ))
}

/// Which factors move attendance: each one's correlation with attending and its p-value, rates
/// by day, time slot, type and weather with their sample sizes, and the regression's R²,
/// adjusted R², F statistic and p-value.
#[utoipa::path(post, path = "/api/ml/analyze-factors", tag = "attendance", request_body = FactorRequest,
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
async fn analyze_factors(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<FactorRequest>,
) -> Result<Json<Value>, ApiError> {
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
    responses((status = 200, body = Object), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
async fn performance(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require_staff()?;
    Ok(envelope(attendance_model::performance(&state, &id).await?))
}

/// Attendance far from expectation, users missing many in a row, outlier events; `sensitivity`
/// sets the |z| threshold and the answer gives its false-positive rate under the null.
#[utoipa::path(post, path = "/api/ml/anomalies", tag = "attendance", request_body = AnomalyRequest,
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody)))]
async fn anomalies(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<AnomalyRequest>,
) -> Result<Json<Value>, ApiError> {
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
    responses((status = 200, body = Object), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)))]
async fn recommendations(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<RecommendationRequest>,
) -> Result<Json<Value>, ApiError> {
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
    responses((status = 200, body = Object), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 404, description = "MODEL_NOT_FOUND", body = super::ErrorBody),
        (status = 422, description = "PREDICTION_FAILED", body = super::ErrorBody),
        (status = 504, description = "ANALYSIS_TIMEOUT", body = super::ErrorBody)))]
async fn batch_predict(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<BatchRequest>,
) -> Result<Json<Value>, ApiError> {
    principal.require_staff()?;
    let started = Instant::now();
    let result = ml_insights::batch_predict(&state, request).await;
    ml_usage::record(&state, "batch-predict", started, &result, |(data, predictions)| Usage::of(data, *predictions))
        .await;
    Ok(envelope(result?.0))
}

/// Insights (manager or admin): rates by day of week and time slot with their sample sizes, the
/// trend and its significance, engagement segments from clustering users' attendance, event
/// performance and operational figures, with recommendations and action items.
#[utoipa::path(post, path = "/api/ml/insights", tag = "attendance", request_body = InsightsRequest,
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 422, body = super::ErrorBody),
        (status = 504, description = "ANALYSIS_TIMEOUT", body = super::ErrorBody)))]
async fn insights(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<InsightsRequest>,
) -> Result<Json<Value>, ApiError> {
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
    responses((status = 200, body = Object), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody),
        (status = 409, description = "MODEL_TRAINING_ERROR or still training", body = super::ErrorBody)))]
async fn test_prediction(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<TestPredictionRequest>,
) -> Result<Json<Value>, ApiError> {
    principal.require_admin()?;
    let started = Instant::now();
    let result = ml_insights::test_prediction(&state, request).await;
    ml_usage::record(&state, "test-prediction", started, &result, |data| Usage::of(data, 1)).await;
    Ok(envelope(result?))
}

/// The ML service's own analytics (manager or admin): predictions by model and operation, the
/// peak hour, response times, success and error rates by code, and the current model's accuracy
/// on the last week's and month's events.
#[utoipa::path(get, path = "/api/ml/analytics", tag = "attendance", params(AnalyticsParams), security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody)))]
async fn analytics(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<AnalyticsParams>,
) -> Result<Json<Value>, ApiError> {
    principal.require_staff()?;
    Ok(envelope(ml_usage::analytics(&state, params).await?))
}
