//! Seed 004's attendance predictor: trained in the background from the attendance records
//! (users who explicitly refused `improvement` are left out), kept as versions in the model
//! registry, and used to predict who will come to an event.
//!
//! `training` fits and registers versions, `prediction` answers for an event's registrants,
//! `factors` the factor analysis, `analyses` a model's performance, `anomalies` and
//! `recommendations` their routes. Here: reading the records, the registry lookups and the analysis time budget.

mod analyses;
mod anomalies;
pub mod batch;
mod factors;
pub mod insights;
mod prediction;
mod recommendations;
mod training;

pub use analyses::*;
pub use anomalies::*;
pub use factors::*;
pub use prediction::*;
pub use recommendations::*;
pub use training::*;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use footprint_analytics::attendance::{
    self, AttendanceModel, AttributeValue, EventInfo, Family, FamilyChoice, History, PersonPrediction,
    RegistrationInfo, TrainOptions,
};
use footprint_analytics::logistic::LogisticConfig;
use footprint_store::{AttendanceEvent, AttendanceQuery, ModelFilter, ModelRecord, Registration};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::app::state::AppState;
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;
use crate::kernel::time::{DAY_US, HOUR_US, TimeWindow, parse_instant};

pub const MODEL_NAME: &str = "attendance_predictor";

pub const MODEL_TYPE: &str = crate::kernel::registry::ATTENDANCE_PREDICTOR.model_type;

const PAGE: u32 = 1000;

/// The event's weather as the model reads it: bad weather and temperature.
pub fn event_info(event: &AttendanceEvent) -> EventInfo {
    let weather = event.weather.as_deref().and_then(|w| serde_json::from_str::<Value>(w).ok());
    let (bad_weather, temperature_c) = weather.as_ref().map_or((None, None), attendance::weather_from_json);
    let condition = weather.as_ref().and_then(attendance::weather_condition);
    EventInfo {
        event_id: event.event_id.clone(),
        event_type: event.event_type.clone(),
        start_us: event.start_us,
        duration_minutes: event.duration_minutes,
        price: event.price,
        bad_weather,
        temperature_c,
        condition,
        location: event.location.clone(),
        instructor: event.instructor.clone(),
        utc_offset_minutes: utc_offset_minutes(event.timezone.as_deref(), event.start_us),
    }
}

/// The offset from UTC at `at_us` in the IANA zone `timezone`, in minutes (0 without a zone or
/// with one this build does not know: stored zones were checked when they came in).
pub fn utc_offset_minutes(timezone: Option<&str>, at_us: i64) -> i32 {
    let Some(zone) = timezone.and_then(|name| jiff::tz::TimeZone::get(name).ok()) else { return 0 };
    let Ok(at) = jiff::Timestamp::from_microsecond(at_us) else { return 0 };
    zone.to_offset(at).seconds() / 60
}

pub fn registration_info(registration: &Registration) -> RegistrationInfo {
    RegistrationInfo {
        event_id: registration.event_id.clone(),
        user_id: registration.user_id.clone(),
        registered_at_us: registration.registered_at_us,
        attended: registration.attended,
        attributes: registration.attributes.as_deref().map(attributes_of).unwrap_or_default(),
    }
}

/// Stored attributes (a JSON object) as the model reads them: booleans are flags, numbers
/// numbers, texts levels; anything else was refused when it came in and is skipped here.
pub fn attributes_of(stored: &str) -> BTreeMap<String, AttributeValue> {
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(stored) else { return BTreeMap::new() };
    object
        .into_iter()
        .filter_map(|(name, value)| {
            let value = match value {
                Value::Bool(flag) => AttributeValue::Flag(flag),
                Value::Number(number) => AttributeValue::Number(number.as_f64()?),
                Value::String(level) => AttributeValue::Level(level),
                _ => return None,
            };
            Some((name, value))
        })
        .collect()
}

/// How long an analysis waits for a free slot before `SERVICE_UNAVAILABLE`.
const ANALYSIS_QUEUE_WAIT: Duration = Duration::from_secs(1);

/// How long an analysis may still run: `ml.analysis_timeout_secs`, or less if the request asks.
/// Checked between stages, and the answer stops waiting for the computation at the deadline
/// (a blocking computation cannot be cancelled: it finishes in the background, holding its slot).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    started: Instant,
    limit: Duration,
}

impl Budget {
    pub fn new(state: &AppState, requested_ms: Option<u64>) -> Result<Self, ApiError> {
        let configured = state.config.ml.analysis_timeout_secs;
        let limit = match requested_ms {
            Some(ms) if Duration::from_millis(ms) > configured => {
                return Err(ApiError::InvalidParameters(format!(
                    "timeoutMs: at most {} (ml.analysis_timeout_secs)",
                    configured.as_millis()
                )));
            }
            Some(ms) => Duration::from_millis(ms),
            None => configured,
        };
        Ok(Self { started: Instant::now(), limit })
    }

    /// `ANALYSIS_TIMEOUT` once the budget is spent.
    pub fn check(&self, stage: &str) -> Result<(), ApiError> {
        let elapsed = self.started.elapsed();
        if elapsed >= self.limit {
            return Err(self.timeout(stage));
        }
        Ok(())
    }

    fn timeout(&self, stage: &str) -> ApiError {
        ApiError::AnalysisTimeout(format!(
            "the analysis ran past its {} ms budget while {stage}; narrow the timeframe or raise timeoutMs / ml.analysis_timeout_secs",
            self.limit.as_millis()
        ))
    }

    /// Runs a computation off the request thread, cut off at the deadline, once one of the
    /// node's analysis slots is free (waiting up to a second, else `SERVICE_UNAVAILABLE`).
    pub async fn run<T: Send + 'static>(
        &self,
        state: &AppState,
        stage: &str,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        self.check(stage)?;
        let wait = ANALYSIS_QUEUE_WAIT.min(self.limit.saturating_sub(self.started.elapsed()));
        let permit = match tokio::time::timeout(wait, Arc::clone(&state.analyses).acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) | Err(_) => {
                return Err(ApiError::Unavailable {
                    message: format!(
                        "the ML service is busy with {} analyses (ml.max_concurrent_analyses); retry shortly",
                        state.config.ml.max_concurrent_analyses
                    ),
                    retry_after_secs: Some(1),
                });
            }
        };
        self.check(stage)?;
        let remaining = self.limit.saturating_sub(self.started.elapsed());
        let work = move || {
            let _permit = permit;
            work()
        };
        match tokio::time::timeout(remaining, tokio::task::spawn_blocking(work)).await {
            Ok(joined) => joined.map_err(ApiError::internal),
            Err(_) => Err(self.timeout(stage)),
        }
    }
}

/// 400 `INVALID_PARAMETERS` listing the valid values when `given` holds one not in `known`.
pub fn check_listed(field: &str, given: Option<&[String]>, known: &[&str]) -> Result<(), ApiError> {
    match given.unwrap_or_default().iter().find(|value| !known.contains(&value.as_str())) {
        Some(unknown) => {
            Err(ApiError::InvalidParameters(format!("{field}: {unknown} is not one of {}", known.join(", "))))
        }
        None => Ok(()),
    }
}

/// Every event starting in the window, and their registrations.
pub async fn records(
    state: &AppState,
    from_us: Option<i64>,
    to_us: Option<i64>,
) -> Result<(Vec<AttendanceEvent>, Vec<Registration>), ApiError> {
    records_of(state, None, from_us, to_us).await
}

/// The same, for one organisation's events only (all when `None`).
pub async fn records_of(
    state: &AppState,
    organization_id: Option<String>,
    from_us: Option<i64>,
    to_us: Option<i64>,
) -> Result<(Vec<AttendanceEvent>, Vec<Registration>), ApiError> {
    let mut events = Vec::new();
    let mut after = None;
    loop {
        let page = state
            .store
            .attendance_events(AttendanceQuery {
                organization_id: organization_id.clone(),
                from_us,
                to_us,
                after,
                limit: PAGE,
            })
            .await?;
        let full = page.len() == PAGE as usize;
        after = page.last().map(|e| (e.start_us, e.event_id.clone()));
        events.extend(page);
        if !full {
            break;
        }
    }
    let ids: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
    let mut registrations = Vec::new();
    for chunk in ids.chunks(1000) {
        registrations.extend(state.store.registrations(chunk).await?);
    }
    Ok((events, registrations))
}

/// A given attendance model, if it is ready: 404 `MODEL_NOT_FOUND`, 409 `MODEL_TRAINING_ERROR`
/// when its training failed, 409 `CONFLICT` while it trains.
pub async fn usable_model(state: &AppState, model_id: &str) -> Result<(ModelRecord, AttendanceModel), ApiError> {
    let record =
        state.store.model(model_id).await?.ok_or_else(|| ApiError::ModelNotFound(format!("no model {model_id}")))?;
    if record.model_type != MODEL_TYPE {
        return Err(ApiError::InvalidParameters(format!("model {model_id} is not an attendance model")));
    }
    match record.status.as_str() {
        "ready" => {}
        "error" => {
            return Err(ApiError::ModelTrainingError(format!(
                "model {model_id} failed to train: {}",
                record.error.as_deref().unwrap_or("no reason recorded")
            )));
        }
        other => return Err(ApiError::Conflict(format!("model {model_id} is {other}; retry once it is ready"))),
    }
    let model = serde_json::from_str(&record.parameters).map_err(ApiError::internal)?;
    Ok((record, model))
}

/// The newest ready attendance model.
pub async fn ready_model(state: &AppState) -> Result<(ModelRecord, AttendanceModel), ApiError> {
    let filter =
        ModelFilter { name: Some(MODEL_NAME.to_owned()), status: Some("ready".to_owned()), ..ModelFilter::default() };
    let Some(record) = state.store.models(filter).await?.into_iter().max_by_key(|m| m.version) else {
        return Err(ApiError::ModelNotFound(
            "no trained attendance model yet: train one with POST /api/ml/models/train".to_owned(),
        ));
    };
    let model = serde_json::from_str(&record.parameters).map_err(ApiError::internal)?;
    Ok((record, model))
}

/// The users' attendance histories over the events that started before `before_us`, counted
/// by the store (a new user has none).
pub async fn histories_before(
    state: &AppState,
    users: &[String],
    before_us: i64,
) -> Result<HashMap<String, History>, ApiError> {
    let mut histories = HashMap::with_capacity(users.len());
    for chunk in users.chunks(1000) {
        for found in state.store.attendance_histories(chunk, before_us).await? {
            let history = History {
                registrations: u64::try_from(found.registrations).unwrap_or(0),
                attended: u64::try_from(found.attended).unwrap_or(0),
            };
            histories.insert(found.user_id, history);
        }
    }
    Ok(histories)
}

/// The `model` block of a prediction.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelSummary {
    pub id: String,
    /// `attendance_predictor_vN`.
    pub name: String,
    /// On the validation window.
    #[schema(value_type = Option<f64>)]
    pub accuracy: Option<Value>,
    #[schema(value_type = Option<f64>)]
    pub roc_auc: Option<Value>,
    pub trained_at: Option<String>,
    /// The seed's name for `trainedAt`.
    pub last_trained: Option<String>,
}

impl ModelSummary {
    pub fn of(record: &ModelRecord) -> Self {
        let validation = serde_json::from_str::<Value>(&record.metrics).ok().and_then(|m| m.get("validation").cloned());
        Self {
            id: record.model_id.clone(),
            name: format!("{MODEL_NAME}_v{}", record.version),
            accuracy: validation.as_ref().and_then(|v| v.get("accuracy")).cloned(),
            roc_auc: validation.as_ref().and_then(|v| v.get("roc_auc")).cloned(),
            trained_at: record.trained_at_us.map(rfc3339),
            last_trained: record.trained_at_us.map(rfc3339),
        }
    }
}

#[cfg(test)]
mod local_time_tests {
    use super::*;

    #[test]
    fn offsets_follow_the_zone_and_its_summer_time() {
        // 2026-01-15 and 2026-07-15 at noon UTC.
        let (winter, summer) = (1_768_478_400_000_000, 1_784_116_800_000_000);
        assert_eq!(utc_offset_minutes(Some("Europe/Paris"), winter), 60);
        assert_eq!(utc_offset_minutes(Some("Europe/Paris"), summer), 120);
        assert_eq!(utc_offset_minutes(Some("America/New_York"), winter), -300);
        assert_eq!(utc_offset_minutes(Some("Asia/Kolkata"), summer), 330);
        assert_eq!(utc_offset_minutes(None, summer), 0);
        assert_eq!(utc_offset_minutes(Some("Nowhere/Else"), summer), 0);
    }

    #[test]
    fn stored_attributes_become_typed_values() {
        let attributes = attributes_of(r#"{"reminder_sent": true, "age": 34, "channel": "email", "odd": [1]}"#);
        assert_eq!(attributes.len(), 3, "{attributes:?}");
        assert_eq!(attributes["reminder_sent"], AttributeValue::Flag(true));
        assert_eq!(attributes["age"], AttributeValue::Number(34.0));
        assert_eq!(attributes["channel"], AttributeValue::Level("email".to_owned()));
        assert!(attributes_of("not json").is_empty());
    }
}
