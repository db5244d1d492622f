//! Typed answers of the `/api/ml` routes: the registry as they show it (a model with seed
//! 004's metrics, training and usage blocks, the list filtered by status and type or family,
//! the ML service's health) and the blocks of the insights. The stored JSON columns (metrics,
//! hyperparameters, window) pass through as kept.

use footprint_analytics::attendance::LevelRate;
use footprint_analytics::stats::ProportionTrend;
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

/// The answer of `POST /ml/insights`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Insights {
    pub insight_id: String,
    pub generated_at: String,
    pub scope: String,
    pub timeframe: Timeframe,
    pub summary: InsightsSummary,
    pub insights: Vec<Insight>,
    pub action_items: Vec<ActionItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Timeframe {
    /// Null for `all`.
    pub start: Option<String>,
    pub end: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InsightsSummary {
    /// Insights whose confidence is at least 0.95.
    pub key_findings: usize,
    /// Recommendations in all.
    pub actionable_insights: usize,
    /// `high`, `medium` or `low`: by the share of registrations whose outcome is recorded.
    pub data_quality: &'static str,
    pub known_outcome_share: f64,
    pub registrations_analysed: usize,
}

/// One insight. Which blocks it has depends on its category.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Insight {
    pub category: &'static str,
    pub title: String,
    pub description: String,
    /// One minus the p-value of the test behind it, or the segments' stability; null when no
    /// test applies.
    pub confidence: Option<f64>,
    /// `high`, `medium` or `low`.
    pub impact: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<Vec<SegmentView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub data: Option<InsightData>,
    /// Left out when `includeRecommendations` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommendations: Option<Vec<String>>,
    /// Chart data, with `depth: detailed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visualization: Option<Visualization>,
}

/// The figures an insight rests on, by category.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum InsightData {
    Trends(TrendData),
    Engagement(EngagementData),
    Performance(PerformanceData),
    Operations(OperationsData),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrendData {
    pub average_rate: f64,
    pub by_day_of_week: Vec<LevelRate>,
    pub by_time_slot: Vec<LevelRate>,
    pub day_difference_p_value: Option<f64>,
    pub time_slot_difference_p_value: Option<f64>,
    pub sample_size: u64,
    pub trend: Option<TrendView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrendView {
    pub slope_per_week: f64,
    pub z_score: f64,
    pub p_value: f64,
    /// `improving` or `declining` when the trend test is significant at 0.05, else `stable`.
    pub direction: &'static str,
    pub observations: usize,
}

impl From<ProportionTrend> for TrendView {
    fn from(trend: ProportionTrend) -> Self {
        let direction = match trend.p_value {
            p if p < 0.05 && trend.slope > 0.0 => "improving",
            p if p < 0.05 => "declining",
            _ => "stable",
        };
        Self {
            slope_per_week: trend.slope,
            z_score: trend.z,
            p_value: trend.p_value,
            direction,
            observations: trend.observations,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SegmentView {
    pub name: String,
    /// Share of the segmented users.
    pub size: f64,
    pub users: usize,
    pub attendance_rate: f64,
    pub registrations: u64,
    pub z_score: f64,
    pub mean_registrations: f64,
    pub mean_lead_time_days: f64,
    pub last_minute_share: f64,
    pub characteristics: Vec<String>,
    pub example_users: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EngagementData {
    pub users_segmented: usize,
    pub users_left_out: usize,
    pub features: [&'static str; 4],
    pub silhouette: f64,
    pub silhouette_by_k: Vec<(usize, f64)>,
    /// The adjusted Rand index between segments found on alternate registrations.
    pub stability: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceData {
    pub by_event_type: Vec<LevelRate>,
    pub type_difference_p_value: Option<f64>,
    pub best: Vec<RankedEvent>,
    pub worst: Vec<RankedEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RankedEvent {
    pub event_id: String,
    pub name: Option<String>,
    pub date: Option<String>,
    pub registrations: u64,
    pub attended: u64,
    pub rate: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationsData {
    pub no_show_rate: f64,
    pub registrations_with_outcome: usize,
    pub registrations: usize,
    pub events: usize,
    pub mean_registrations_per_event: f64,
    pub capacity_utilisation: Option<f64>,
    pub events_with_capacity: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Visualization {
    /// `bar_chart`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub data: Vec<DayBar>,
    pub weekly: Vec<WeekBar>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DayBar {
    pub day: String,
    pub rate: f64,
    pub registrations: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WeekBar {
    /// Monday 00:00 UTC of the week.
    pub week: String,
    pub rate: f64,
    pub registrations: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionItem {
    /// `high` or `medium`.
    pub priority: &'static str,
    pub title: &'static str,
    pub description: String,
    pub estimated_impact: String,
    pub evidence: ActionEvidence,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionEvidence {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<usize>,
    pub registrations: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub z_score: Option<f64>,
}
