//! The `/api/ml` service's own analytics: every call is logged (operation, model, predictions,
//! duration, outcome; no user id) and the model's usage counter grows with its predictions;
//! `GET /api/ml/analytics` sums the log and measures the current model's accuracy on recent
//! events.

use std::collections::BTreeMap;
use std::time::Instant;

use footprint_analytics::attendance;
use footprint_analytics::logistic::BinaryMetrics;
use footprint_store::MlCall;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::app::state::AppState;
use crate::attendance::model::{event_info, ready_model, records, registration_info};
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;

use crate::kernel::time::DAY_US;

/// What an answer cost the model: which model answered and how many predictions it made.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub model_id: Option<String>,
    pub predictions: i64,
}

impl Usage {
    pub fn none() -> Self {
        Self::default()
    }

    /// `predictions` predictions made by the model `model_id`.
    pub fn of(model_id: &str, predictions: usize) -> Self {
        Self { model_id: Some(model_id.to_owned()), predictions: i64::try_from(predictions).unwrap_or(i64::MAX) }
    }
}

/// Logs a call. A failing log is reported in the server log and does not fail the call.
pub async fn record<T>(
    state: &AppState,
    operation: &str,
    started: Instant,
    result: &Result<T, ApiError>,
    usage: impl FnOnce(&T) -> Usage,
) {
    let (usage, outcome) = match result {
        Ok(value) => (usage(value), "ok".to_owned()),
        Err(error) => (Usage::none(), error.code().as_str().to_owned()),
    };
    let call = MlCall {
        at_us: state.clock.now_us(),
        operation: operation.to_owned(),
        model_id: usage.model_id,
        predictions: usage.predictions,
        duration_us: started.elapsed().as_micros().min(i64::MAX as u128) as i64,
        outcome,
    };
    if let Err(error) = state.store.record_ml_call(call).await {
        tracing::warn!(error = %error, operation, "the ML call could not be logged");
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsParams {
    /// `day`, `week` (default) or `month`: how far back.
    pub period: Option<String>,
    /// Comma-separated among `usage`, `performance`, `accuracy` (default all).
    pub metrics: Option<String>,
}

fn ms(us: f64) -> f64 {
    (us / 1000.0 * 100.0).round() / 100.0
}

/// Usage (predictions by model and operation, daily average, peak hour), performance
/// (response times, success and error rates by code) and the current model's accuracy on the
/// events of the last week and month against its validation accuracy.
pub async fn analytics(state: &AppState, params: AnalyticsParams) -> Result<ServiceAnalytics, ApiError> {
    let period = params.period.as_deref().unwrap_or("week");
    let days = match period {
        "day" => 1,
        "week" => 7,
        "month" => 30,
        other => return Err(ApiError::InvalidParameters(format!("period: must be day, week or month, not {other}"))),
    };
    let wanted: Vec<&str> = params.metrics.as_deref().map_or(vec!["usage", "performance", "accuracy"], |m| {
        m.split(',').map(str::trim).filter(|m| !m.is_empty()).collect()
    });
    if let Some(unknown) = wanted.iter().find(|m| !["usage", "performance", "accuracy"].contains(m)) {
        return Err(ApiError::InvalidParameters(format!(
            "metrics: {unknown} is not one of usage, performance, accuracy"
        )));
    }
    let now_us = state.clock.now_us();
    let from_us = now_us - days * DAY_US;
    let buckets = state.store.ml_call_buckets(from_us).await?;
    let mut data = ServiceAnalytics {
        period: Period { name: period.to_owned(), start: rfc3339(from_us), end: rfc3339(now_us), days },
        usage: None,
        performance: None,
        accuracy: None,
    };
    if wanted.contains(&"usage") {
        let models = state.store.models(footprint_store::ModelFilter::default()).await?;
        let label = |id: &str| {
            models.iter().find(|m| m.model_id == id).map_or(id.to_owned(), |m| format!("{}_v{}", m.name, m.version))
        };
        let mut by_model: BTreeMap<String, i64> = BTreeMap::new();
        let mut by_operation: BTreeMap<String, i64> = BTreeMap::new();
        let mut by_hour: BTreeMap<i64, i64> = BTreeMap::new();
        for bucket in &buckets {
            if let Some(id) = &bucket.model_id {
                *by_model.entry(label(id)).or_default() += bucket.predictions;
            }
            *by_operation.entry(bucket.operation.clone()).or_default() += bucket.calls;
            *by_hour.entry(bucket.hour_us).or_default() += bucket.predictions;
        }
        let total: i64 = buckets.iter().map(|b| b.predictions).sum();
        let peak = by_hour.iter().filter(|(_, n)| **n > 0).max_by_key(|(hour, n)| (**n, -**hour));
        data.usage = Some(UsageStats {
            total_predictions: total,
            total_calls: buckets.iter().map(|b| b.calls).sum(),
            daily_average: total as f64 / days as f64,
            peak_usage: peak.map(|(hour, _)| rfc3339(*hour)),
            peak_hour_predictions: peak.map(|(_, n)| *n),
            by_model,
            calls_by_operation: by_operation,
        });
    }
    if wanted.contains(&"performance") {
        let calls: i64 = buckets.iter().map(|b| b.calls).sum();
        let succeeded: i64 = buckets.iter().filter(|b| b.outcome == "ok").map(|b| b.calls).sum();
        let mut errors: BTreeMap<String, i64> = BTreeMap::new();
        for bucket in buckets.iter().filter(|b| b.outcome != "ok") {
            *errors.entry(bucket.outcome.clone()).or_default() += bucket.calls;
        }
        let total_us: i64 = buckets.iter().map(|b| b.total_duration_us).sum();
        let average_ms = (calls > 0).then(|| ms(total_us as f64 / calls as f64));
        data.performance = Some(CallPerformance {
            calls,
            average_response_time: average_ms.map(|ms| format!("{ms}ms")),
            average_response_time_ms: average_ms,
            max_response_time_ms: buckets.iter().map(|b| b.max_duration_us).max().map(|us| ms(us as f64)),
            success_rate: (calls > 0).then(|| succeeded as f64 / calls as f64),
            error_rate: (calls > 0).then(|| (calls - succeeded) as f64 / calls as f64),
            errors_by_code: errors,
        });
    }
    if wanted.contains(&"accuracy") {
        data.accuracy = Some(accuracy(state, now_us).await?);
    }
    Ok(data)
}

/// The current model's accuracy on the events of the last 7 and 30 days (history features from
/// before each event), against its validation accuracy; the trend is a two-proportion test of
/// the last week against the 23 days before it.
async fn accuracy(state: &AppState, now_us: i64) -> Result<RecentAccuracy, ApiError> {
    let (record, model) = match ready_model(state).await {
        Ok(found) => found,
        Err(ApiError::ModelNotFound(_)) => return Ok(RecentAccuracy { model: None, overall: None, recent: None }),
        Err(error) => return Err(error),
    };
    let (events, registrations) = records(state, None, Some(now_us)).await?;
    let infos: Vec<_> = events.iter().map(event_info).collect();
    let regs: Vec<_> = registrations.iter().map(registration_info).collect();
    let scored = tokio::task::spawn_blocking(move || {
        let (examples, _) = attendance::examples_in(&model.space, &infos, &regs);
        examples
            .into_iter()
            .filter(|e| e.event_start_us >= now_us - 30 * DAY_US)
            .map(|e| (e.event_start_us, model.probability(&e.features), e.attended))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(ApiError::internal)?;
    let window = |from_us: i64, to_us: i64| {
        let rows: Vec<&(i64, f64, bool)> = scored.iter().filter(|r| r.0 >= from_us && r.0 < to_us).collect();
        let p: Vec<f64> = rows.iter().map(|r| r.1).collect();
        let y: Vec<bool> = rows.iter().map(|r| r.2).collect();
        BinaryMetrics::compute(&p, &y)
    };
    let week_start = now_us - 7 * DAY_US;
    let last_week = window(week_start, i64::MAX);
    let last_month = window(now_us - 30 * DAY_US, i64::MAX);
    let before_week = window(now_us - 30 * DAY_US, week_start);
    let trend = match (&last_week, &before_week) {
        (Some(a), Some(b)) => {
            let p = footprint_analytics::stats::two_proportion_p(a.accuracy, a.n as f64, b.accuracy, b.n as f64);
            let direction = match p {
                Some(p) if p < 0.05 && a.accuracy > b.accuracy => "improving",
                Some(p) if p < 0.05 => "declining",
                _ => "stable",
            };
            Some(AccuracyTrend { direction, p_value: p })
        }
        _ => None,
    };
    let validation = serde_json::from_str::<Value>(&record.metrics).ok().and_then(|m| m.get("validation").cloned());
    Ok(RecentAccuracy {
        model: Some(ModelRef {
            id: record.model_id,
            version: record.version,
            trained_at: record.trained_at_us.map(rfc3339),
        }),
        overall: validation.as_ref().and_then(|v| v.get("accuracy")).cloned(),
        recent: Some(Windows {
            last_week: last_week.as_ref().map(|m| m.accuracy),
            last_week_registrations: last_week.as_ref().map_or(0, |m| m.n),
            last_month: last_month.as_ref().map(|m| m.accuracy),
            last_month_registrations: last_month.as_ref().map_or(0, |m| m.n),
            trend,
        }),
    })
}

/// The answer of `GET /ml/analytics`: the blocks asked for in `metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ServiceAnalytics {
    pub period: Period,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub performance: Option<CallPerformance>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<RecentAccuracy>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Period {
    /// `day`, `week` or `month`.
    pub name: String,
    pub start: String,
    pub end: String,
    pub days: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageStats {
    pub total_predictions: i64,
    pub total_calls: i64,
    pub daily_average: f64,
    /// The hour with the most predictions.
    pub peak_usage: Option<String>,
    pub peak_hour_predictions: Option<i64>,
    pub by_model: BTreeMap<String, i64>,
    pub calls_by_operation: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallPerformance {
    pub calls: i64,
    /// e.g. `12.5ms`.
    pub average_response_time: Option<String>,
    pub average_response_time_ms: Option<f64>,
    pub max_response_time_ms: Option<f64>,
    pub success_rate: Option<f64>,
    pub error_rate: Option<f64>,
    pub errors_by_code: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelRef {
    pub id: String,
    pub version: i64,
    pub trained_at: Option<String>,
}

/// The current model's accuracy: at validation, and on the last week's and month's events.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RecentAccuracy {
    /// Null before any model is trained.
    pub model: Option<ModelRef>,
    /// The validation accuracy.
    #[schema(value_type = Option<f64>)]
    pub overall: Option<Value>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub recent: Option<Windows>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Windows {
    pub last_week: Option<f64>,
    pub last_week_registrations: usize,
    pub last_month: Option<f64>,
    pub last_month_registrations: usize,
    /// The last week against the 23 days before it (two-proportion test).
    pub trend: Option<AccuracyTrend>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccuracyTrend {
    pub direction: &'static str,
    pub p_value: Option<f64>,
}
