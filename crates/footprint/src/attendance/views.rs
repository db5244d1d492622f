//! The registry as `/api/ml` shows it: a model with seed 004's metrics, training and usage
//! blocks, the list filtered by status and type or family, and the ML service's health. Typed
//! answers; the stored JSON columns (metrics, hyperparameters, window) pass through as kept.

use footprint_store::{ModelFilter, ModelRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::app::state::AppState;
use crate::attendance::model::MODEL_NAME;
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;
use crate::kernel::registry::{self, FAMILIES};
use crate::kernel::time::DAY_US;

/// A stored JSON column, or null when it does not parse.
fn stored_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// The validation figures of a model's stored metrics (null before training).
fn validation_of(model: &ModelRecord) -> Value {
    stored_json(&model.metrics).get("validation").cloned().unwrap_or(Value::Null)
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrainingView {
    pub created_at: String,
    pub last_trained: Option<String>,
    /// Seconds from registration to the end of training, e.g. `0.31s`.
    pub training_duration: Option<String>,
    pub data_points: i64,
    /// How many features the model reads.
    pub features: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelUsageView {
    pub total_predictions: i64,
    /// Per day since it was trained (a day at least).
    pub daily_average: Option<f64>,
}

/// One model of the registry.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelView {
    pub id: String,
    /// `name vN`.
    pub name: String,
    #[serde(rename = "type")]
    pub model_type: String,
    pub family: &'static str,
    pub description: &'static str,
    /// `training`, `ready` or `error`.
    pub status: String,
    pub version: i64,
    #[schema(value_type = Object)]
    pub hyperparameters: Value,
    #[schema(value_type = Object)]
    pub data_window: Value,
    /// As stored, with the validation figures also at the top under the seed's names
    /// (`accuracy`, `precision`, `recall`, `f1Score`, `auc`).
    #[schema(value_type = Object)]
    pub metrics: Value,
    pub error: Option<String>,
    pub training: TrainingView,
    pub usage: ModelUsageView,
}

impl ModelView {
    pub fn of(model: &ModelRecord, now_us: i64) -> Self {
        let mut metrics = stored_json(&model.metrics);
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
        let features = stored_json(&model.parameters).pointer("/space/names").and_then(Value::as_array).map(Vec::len);
        let days_in_use = model.trained_at_us.map(|at| ((now_us - at) as f64 / DAY_US as f64).max(1.0));
        Self {
            id: model.model_id.clone(),
            name: format!("{} v{}", model.name, model.version),
            model_type: model.model_type.clone(),
            family: registry::family(&model.model_type),
            description: registry::description(&model.model_type),
            status: model.status.clone(),
            version: model.version,
            hyperparameters: stored_json(&model.hyperparameters),
            data_window: stored_json(&model.data_window),
            metrics,
            error: model.error.clone(),
            training: TrainingView {
                created_at: rfc3339(model.created_at_us),
                last_trained: model.trained_at_us.map(rfc3339),
                training_duration: model
                    .trained_at_us
                    .map(|at| format!("{:.2}s", (at - model.created_at_us) as f64 / 1e6)),
                data_points: model.rows_used,
                features,
            },
            usage: ModelUsageView {
                total_predictions: model.predictions,
                daily_average: days_in_use.map(|days| model.predictions as f64 / days),
            },
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ModelParams {
    /// `ready`, `training` or `error`.
    pub status: Option<String>,
    /// A model type (`attendance_predictor`, `logistic_regression`) or a family (`predictor`,
    /// `classifier`, `detector`).
    #[serde(rename = "type")]
    pub model_type: Option<String>,
}

/// The registry, newest first, filtered by status and by type or family.
pub async fn models(state: &AppState, params: ModelParams) -> Result<Vec<ModelView>, ApiError> {
    let by_family = params.model_type.as_deref().filter(|kind| FAMILIES.contains(kind));
    let exact = if by_family.is_some() { None } else { params.model_type.clone() };
    let filter = ModelFilter { name: None, model_type: exact, status: params.status };
    let now_us = state.clock.now_us();
    Ok(state
        .store
        .models(filter)
        .await?
        .iter()
        .filter(|model| by_family.is_none_or(|family| registry::family(&model.model_type) == family))
        .map(|model| ModelView::of(model, now_us))
        .collect())
}

/// One model; 404 `MODEL_NOT_FOUND`.
pub async fn model(state: &AppState, model_id: &str) -> Result<ModelView, ApiError> {
    let model =
        state.store.model(model_id).await?.ok_or_else(|| ApiError::ModelNotFound(format!("no model {model_id}")))?;
    Ok(ModelView::of(&model, state.clock.now_us()))
}

/// A later run than the one serving, still training or failed.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LatestRun {
    pub id: String,
    pub status: String,
    pub version: i64,
    pub error: Option<String>,
}

/// Per model name: the version that serves (the newest ready one, else the newest run).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServingModel {
    pub id: String,
    pub status: String,
    pub version: i64,
    pub last_trained: Option<String>,
    #[schema(value_type = Option<f64>)]
    pub accuracy: Value,
    /// The validation figures (staff only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metrics: Option<Value>,
    /// Staff only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_run: Option<LatestRun>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ServiceStates {
    /// `operational`, or `no_model` until an attendance model is trained.
    pub prediction: &'static str,
    /// `operational`, or `busy` while every analysis slot is taken.
    pub recommendations: &'static str,
    pub insights: &'static str,
    pub anomalies: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AnalysisSlots {
    pub free: usize,
    pub total: usize,
}

/// The ML service's state (seed 004's `GET /ml/health`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MlHealth {
    pub status: &'static str,
    pub version: &'static str,
    pub store: &'static str,
    pub models: std::collections::BTreeMap<String, ServingModel>,
    pub services: ServiceStates,
    pub analysis_slots: AnalysisSlots,
}

/// Every model name with the version that serves and its accuracy; what can answer. Anyone
/// signed in sees the states; the figures and failure reasons are for staff.
pub async fn health(state: &AppState, staff: bool) -> Result<MlHealth, ApiError> {
    state.store.ping().await?;
    let runs = state.store.models(ModelFilter::default()).await?;
    let mut models = std::collections::BTreeMap::new();
    for run in &runs {
        if models.contains_key(&run.name) {
            continue;
        }
        // Runs come newest first: the first of a name is its newest run.
        let newest = run;
        let serving = runs.iter().find(|m| m.name == run.name && m.status == "ready").unwrap_or(newest);
        let validation = validation_of(serving);
        let latest_run = (newest.model_id != serving.model_id).then(|| LatestRun {
            id: newest.model_id.clone(),
            status: newest.status.clone(),
            version: newest.version,
            error: newest.error.clone(),
        });
        let entry = ServingModel {
            id: serving.model_id.clone(),
            status: serving.status.clone(),
            version: serving.version,
            last_trained: serving.trained_at_us.map(rfc3339),
            accuracy: validation.get("accuracy").cloned().unwrap_or(Value::Null),
            metrics: staff.then_some(validation),
            latest_run: latest_run.filter(|_| staff),
        };
        models.insert(run.name.clone(), entry);
    }
    let predicting = models.get(MODEL_NAME).is_some_and(|m| m.status == "ready");
    let free = state.analyses.available_permits();
    let analyses = if free > 0 { "operational" } else { "busy" };
    Ok(MlHealth {
        status: "operational",
        version: env!("CARGO_PKG_VERSION"),
        store: state.store.backend(),
        models,
        services: ServiceStates {
            prediction: if predicting { "operational" } else { "no_model" },
            recommendations: analyses,
            insights: analyses,
            anomalies: analyses,
        },
        analysis_slots: AnalysisSlots { free, total: state.config.ml.max_concurrent_analyses },
    })
}
