//! The kinds of models the model registry holds (one table, read by the areas that train them
//! and by the `/api/ml` views): each type with seed 004's family and a description; and the
//! shape of a model's held-out performance (`GET /api/ml/models/{id}/performance`), which the
//! attendance model computes on request and other kinds store when they are trained.

use std::collections::BTreeMap;

use footprint_analytics::logistic::BinaryMetrics;
use footprint_store::ModelRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;

/// What a training run interrupted by a stop of its node is recorded with.
pub const INTERRUPTED: &str =
    "interrupted: the node training it stopped before the run finished (restart or crash); train again";

/// A kind of model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelKind {
    /// The registry's `model_type`.
    pub model_type: &'static str,
    /// Seed 004's family: `predictor`, `classifier` or `detector`.
    pub family: &'static str,
    pub description: &'static str,
}

/// Seed 004's attendance predictor.
pub const ATTENDANCE_PREDICTOR: ModelKind = ModelKind {
    model_type: "attendance_predictor",
    family: "predictor",
    description: "Predicts the probability that a registrant attends an event",
};

/// Seed 001's match model.
pub const MATCH_CLASSIFIER: ModelKind = ModelKind {
    model_type: "logistic_regression",
    family: "classifier",
    description: "Predicts whether a proposed match is accepted (seed 001)",
};

/// Seed 003's churn model.
pub const CHURN_PREDICTOR: ModelKind = ModelKind {
    model_type: "churn_predictor",
    family: "predictor",
    description: "Predicts the probability that a user has no activity in the coming days (seed 003)",
};

/// Every kind trained here.
pub const KINDS: [ModelKind; 3] = [ATTENDANCE_PREDICTOR, MATCH_CLASSIFIER, CHURN_PREDICTOR];

/// Seed 004's families, which `GET /api/ml/models?type=` also accepts.
pub const FAMILIES: [&str; 3] = ["predictor", "classifier", "detector"];

/// The family of a model type (`other` for one not trained here).
pub fn family(model_type: &str) -> &'static str {
    KINDS.iter().find(|kind| kind.model_type == model_type).map_or("other", |kind| kind.family)
}

/// The description of a model type (empty for one not trained here).
pub fn description(model_type: &str) -> &'static str {
    KINDS.iter().find(|kind| kind.model_type == model_type).map_or("", |kind| kind.description)
}

/// Binary metrics with the seed's names beside ours (`f1Score` = `f1`, `auc` = `roc_auc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsView {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub metrics: BinaryMetrics,
    pub f1_score: f64,
    pub auc: Option<f64>,
}

impl MetricsView {
    pub fn of(metrics: Option<BinaryMetrics>) -> Option<Self> {
        metrics.map(|metrics| Self { f1_score: metrics.f1, auc: metrics.roc_auc, metrics })
    }
}

/// A month's accuracy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccuracyPoint {
    /// The month's first day, `YYYY-MM-01`.
    pub date: String,
    pub accuracy: Option<f64>,
    pub n: usize,
}

/// Held-out performance: overall, by month and by segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceView {
    /// The seed's layout: [[true negatives, false positives], [false negatives, true positives]].
    pub confusion_matrix: [[Option<usize>; 2]; 2],
    pub overall: Option<MetricsView>,
    #[schema(value_type = Object)]
    pub by_month: BTreeMap<String, Option<MetricsView>>,
    /// `new_users` (under three past registrations) and `returning_users`.
    #[schema(value_type = Object)]
    pub by_segment: BTreeMap<String, Option<MetricsView>>,
    /// As stored with the model: each feature's standardised weight.
    #[schema(value_type = Object)]
    pub feature_importance: Value,
    pub evaluated_on: usize,
    /// Predicted against observed, in tenths of probability (kinds that store it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub calibration: Option<Value>,
    /// The served model on the registrations whose outcome arrived after it was trained (events
    /// from its training data's end on), when there are any (kinds that compute it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_training: Option<AfterTraining>,
}

/// How a model has done since it was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AfterTraining {
    /// Events starting from this time (RFC 3339) on.
    pub from: String,
    pub evaluated_on: usize,
    pub overall: Option<MetricsView>,
    /// Predicted against observed, in tenths of probability.
    #[schema(value_type = Vec<Object>)]
    pub calibration: Vec<footprint_analytics::logistic::CalibrationBin>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Trends {
    pub accuracy_over_time: Vec<AccuracyPoint>,
}

/// The answer of `GET /ml/models/{id}/performance`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelPerformance {
    pub model_id: String,
    pub version: i64,
    pub trained_at: Option<String>,
    pub performance: PerformanceView,
    pub trends: Trends,
    #[schema(value_type = Object)]
    pub feature_importance: Value,
}

/// The performance a model stored with its metrics (`metrics.performance`) when it was trained:
/// 404 `MODEL_NOT_FOUND` never (the record exists), 409 while it trains, 400 when its kind
/// records none.
pub fn stored_performance(record: ModelRecord) -> Result<ModelPerformance, ApiError> {
    if record.status == "training" {
        return Err(ApiError::Conflict(format!("model {} is training; retry once it is ready", record.model_id)));
    }
    let metrics: Value = serde_json::from_str(&record.metrics).unwrap_or(Value::Null);
    let Some(stored) = metrics.get("performance") else {
        return Err(ApiError::InvalidParameters(format!(
            "model {} ({}) keeps no held-out performance{}",
            record.model_id,
            record.model_type,
            record.error.as_deref().map(|error| format!(": its training failed: {error}")).unwrap_or_default()
        )));
    };
    let (performance, trends): (PerformanceView, Trends) = (
        serde_json::from_value(stored.clone()).map_err(ApiError::internal)?,
        serde_json::from_value(metrics.get("trends").cloned().unwrap_or(serde_json::json!({"accuracyOverTime": []})))
            .map_err(ApiError::internal)?,
    );
    Ok(ModelPerformance {
        model_id: record.model_id,
        version: record.version,
        trained_at: record.trained_at_us.map(rfc3339),
        feature_importance: performance.feature_importance.clone(),
        performance,
        trends,
    })
}
