//! Predictions for many events at once (one read of the history, one interval over everyone),
//! and test predictions on inputs given by hand with what each input contributed.

use std::collections::HashMap;

use footprint_analytics::attendance::{self, History};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::app::state::AppState;
use crate::attendance::model::{
    Budget, ModelSummary, OverallView, Person, PersonView, event_info, histories_before, predict_event, ready_model,
    records, registered, usable_model,
};
use crate::attendance::records::WeatherInput;
use crate::kernel::clock::rfc3339;
use crate::kernel::error::{ApiError, Code};
use crate::kernel::time::{DAY_US, HOUR_US, WEEK_US, parse_instant};

/// Most events one batch prediction covers.
pub const BATCH_MAX_EVENTS: usize = 500;

fn invalid(message: String) -> ApiError {
    ApiError::InvalidParameters(message)
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchRequest {
    /// The events (at most 500); default: those starting within `timeHorizon` from now.
    pub event_ids: Option<Vec<String>>,
    /// `aggregate` (default) or `individual`.
    pub prediction_type: Option<String>,
    /// How far ahead to pick events when `eventIds` is not given: `7d`, `30d` (default), `12h`.
    pub time_horizon: Option<String>,
    /// Add each person's prediction (default false).
    pub include_individual: Option<bool>,
    /// A time budget below `ml.analysis_timeout_secs`.
    pub timeout_ms: Option<u64>,
}

fn horizon_us(text: &str) -> Result<i64, ApiError> {
    // The last character is the unit (any character: the split stays on a char boundary).
    let unit_len = text.chars().last().map_or(0, char::len_utf8);
    let (number, unit) = text.split_at(text.len() - unit_len);
    let value: i64 = number
        .parse()
        .ok()
        .filter(|v| *v > 0 && *v <= 3650)
        .ok_or_else(|| invalid(format!("timeHorizon: a number of days or hours such as 30d or 12h, not {text}")))?;
    match unit {
        "d" => Ok(value * DAY_US),
        "h" => Ok(value * HOUR_US),
        "w" => Ok(value * WEEK_US),
        _ => Err(invalid(format!("timeHorizon: a number of days or hours such as 30d or 12h, not {text}"))),
    }
}

/// Predictions for many events at once, from one read of the history; events that cannot be
/// predicted are listed with the reason, and `PREDICTION_FAILED` is answered when none can.
pub async fn batch_predict(state: &AppState, request: BatchRequest) -> Result<(BatchPrediction, usize), ApiError> {
    let budget = Budget::new(state, request.timeout_ms)?;
    let individual = match request.prediction_type.as_deref() {
        None | Some("aggregate") => request.include_individual.unwrap_or(false),
        Some("individual") => true,
        Some(other) => return Err(invalid(format!("predictionType: aggregate or individual, not {other}"))),
    };
    let now_us = state.clock.now_us();
    let horizon = horizon_us(request.time_horizon.as_deref().unwrap_or("30d"))?;
    let (record, model) = ready_model(state).await?;
    let targets = match &request.event_ids {
        Some(ids) => {
            if ids.is_empty() || ids.len() > BATCH_MAX_EVENTS {
                return Err(invalid(format!("eventIds: from 1 to {BATCH_MAX_EVENTS} event ids")));
            }
            let mut found = Vec::with_capacity(ids.len());
            for id in ids {
                found.push((id.clone(), state.store.attendance_event(id).await?));
            }
            found
        }
        None => records(state, Some(now_us), Some(now_us + horizon))
            .await?
            .0
            .into_iter()
            .take(BATCH_MAX_EVENTS)
            .map(|e| (e.event_id.clone(), Some(e)))
            .collect(),
    };
    let target_ids: Vec<String> = targets.iter().filter(|(_, e)| e.is_some()).map(|(id, _)| id.clone()).collect();
    let on_record = if target_ids.is_empty() { Vec::new() } else { state.store.registrations(&target_ids).await? };
    // Each event's registrants and their histories before it.
    type Input = (footprint_store::AttendanceEvent, Vec<Person>, HashMap<String, History>);
    let mut inputs: Vec<(String, Option<Input>)> = Vec::new();
    for (id, event) in targets {
        let Some(event) = event else {
            inputs.push((id, None));
            continue;
        };
        let participants = registered(&event, &on_record);
        let users: Vec<String> = participants.iter().map(|p| p.user_id.clone()).collect();
        let histories = histories_before(state, &users, event.start_us).await?;
        inputs.push((id, Some((event, participants, histories))));
        budget.check("reading the registrants' histories")?;
    }
    let count = inputs.len();
    let computed = budget
        .run(state, "predicting", move || {
            let mut predicted = Vec::new();
            let mut failures = Vec::new();
            let mut all = Vec::new();
            for (id, input) in &inputs {
                let Some((event, participants, histories)) = input else {
                    failures.push(BatchFailure::new(id, Code::NotFound, format!("no attendance event {id}")));
                    continue;
                };
                if participants.is_empty() {
                    failures.push(BatchFailure::new(
                        id,
                        Code::InsufficientData,
                        format!("event {id} has no registrations"),
                    ));
                    continue;
                }
                let prediction = predict_event(&model, event, participants, histories);
                all.extend_from_slice(&prediction.probabilities);
                predicted.push(EventBatchPrediction {
                    event_id: event.event_id.clone(),
                    name: event.name.clone(),
                    starts_at: rfc3339(event.start_us),
                    capacity: event.capacity,
                    overall: OverallView::of(&prediction.probabilities),
                    individual: individual.then_some(prediction.individual),
                });
            }
            (predicted, failures, all)
        })
        .await?;
    let (predicted, failures, all) = computed;
    if predicted.is_empty() {
        return Err(ApiError::PredictionFailed {
            message: format!("none of the {count} events could be predicted; details lists why for each"),
            details: failures.iter().map(|failure| serde_json::to_value(failure).unwrap_or(Value::Null)).collect(),
        });
    }
    let predictions = all.len();
    let answer = BatchPrediction {
        batch_id: format!("batch-{}", ulid::Ulid::new().to_string().to_lowercase()),
        generated_at: rfc3339(now_us),
        prediction_type: if individual { "individual" } else { "aggregate" },
        time_horizon: request.time_horizon.unwrap_or_else(|| "30d".to_owned()),
        summary: BatchSummary {
            events_requested: count,
            events_predicted: predicted.len(),
            events_failed: failures.len(),
            overall: OverallView::of(&all),
        },
        events: predicted,
        failed: failures,
        model: ModelSummary::of(&record),
    };
    Ok((answer, predictions))
}

/// An event the batch could not predict, and why.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchFailure {
    pub event_id: String,
    pub code: Code,
    pub message: String,
}

impl BatchFailure {
    fn new(event_id: &str, code: Code, message: String) -> Self {
        Self { event_id: event_id.to_owned(), code, message }
    }
}

/// One event of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventBatchPrediction {
    pub event_id: String,
    pub name: String,
    pub starts_at: String,
    pub capacity: Option<i64>,
    pub overall: OverallView,
    /// Each person's prediction, when asked for (else null).
    pub individual: Option<Vec<PersonView>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchSummary {
    pub events_requested: usize,
    pub events_predicted: usize,
    pub events_failed: usize,
    /// Independent people across the events: one Poisson-binomial over them all.
    pub overall: OverallView,
}

/// The answer of `POST /ml/batch-predict`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchPrediction {
    pub batch_id: String,
    pub generated_at: String,
    pub prediction_type: &'static str,
    pub time_horizon: String,
    pub summary: BatchSummary,
    pub events: Vec<EventBatchPrediction>,
    pub failed: Vec<BatchFailure>,
    pub model: ModelSummary,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestPredictionRequest {
    /// Default: the newest ready attendance model.
    pub model_id: Option<String>,
    pub test_data: TestData,
}

/// The inputs of a test prediction. Event fields default to the stored event's (`eventId`),
/// history fields to the user's record (`userId`) before the event.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestData {
    pub user_id: Option<String>,
    pub event_id: Option<String>,
    /// RFC 3339: the event's start.
    pub event_date: Option<String>,
    /// Checked against `eventDate` (`monday` … `sunday`).
    pub day_of_week: Option<String>,
    /// A condition (`sunny`, `rain`, …) or `{condition, temperature_c}`.
    #[schema(value_type = Option<Object>)]
    pub weather: Option<WeatherInput>,
    /// The user's past attendance rate, 0–1 (replaces the smoothed rate on record).
    pub historical_rate: Option<f64>,
    /// How many past registrations the rate rests on.
    pub past_registrations: Option<u64>,
    pub event_type: Option<String>,
    pub duration_minutes: Option<i64>,
    pub price: Option<f64>,
    /// RFC 3339: when the user registered (default: 7 days before the event).
    pub registered_at: Option<String>,
}

const DAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

/// A prediction on inputs given by hand, with what each input contributed; when the user's
/// outcome for the event is on record, it is shown beside.
pub async fn test_prediction(state: &AppState, request: TestPredictionRequest) -> Result<TestPrediction, ApiError> {
    let (record, model) = match &request.model_id {
        None => ready_model(state).await?,
        Some(id) => usable_model(state, id).await?,
    };
    let data = request.test_data;
    let stored = match &data.event_id {
        Some(id) => state.store.attendance_event(id).await?,
        None => None,
    };
    let start_us = match (&data.event_date, &stored) {
        (Some(text), _) => parse_instant("testData.eventDate", text)?,
        (None, Some(event)) => event.start_us,
        (None, None) => {
            return Err(invalid(
                "testData.eventDate: give the event's start, or the eventId of a stored event".to_owned(),
            ));
        }
    };
    if let Some(day) = &data.day_of_week {
        let day = day.to_lowercase();
        let actual = DAYS[attendance::weekday(start_us)];
        if !DAYS.contains(&day.as_str()) {
            return Err(invalid(format!("testData.dayOfWeek: monday … sunday, not {day}")));
        }
        if day != actual {
            return Err(invalid(format!("testData.dayOfWeek: the event's date is a {actual}, not a {day}")));
        }
    }
    if let Some(rate) = data.historical_rate
        && !(0.0..=1.0).contains(&rate)
    {
        return Err(invalid("testData.historicalRate: must be from 0 to 1".to_owned()));
    }
    let mut event = stored.clone().unwrap_or_else(|| footprint_store::AttendanceEvent {
        event_id: data.event_id.clone().unwrap_or_else(|| "test-event".to_owned()),
        organization_id: None,
        name: "test".to_owned(),
        event_type: String::new(),
        start_us,
        duration_minutes: 60,
        location: None,
        capacity: None,
        price: None,
        instructor: None,
        weather: None,
        timezone: None,
        created_at_us: 0,
        updated_at_us: 0,
    });
    event.start_us = start_us;
    if let Some(kind) = &data.event_type {
        event.event_type = kind.clone();
    }
    if let Some(minutes) = data.duration_minutes {
        if !(1..=10_080).contains(&minutes) {
            return Err(invalid("testData.durationMinutes: from 1 to 10080".to_owned()));
        }
        event.duration_minutes = minutes;
    }
    if let Some(price) = data.price {
        event.price = Some(price);
    }
    if let Some(weather) = &data.weather {
        event.weather = Some(weather.to_stored("testData.weather").map_err(ApiError::as_parameters)?);
    }
    let registered_at_us = match &data.registered_at {
        Some(text) => parse_instant("testData.registeredAt", text)?,
        None => start_us - 7 * DAY_US,
    };
    // The user's record before the event, unless the history is given.
    let mut history = History::default();
    let mut actual = None;
    if let Some(user) = &data.user_id {
        history =
            histories_before(state, std::slice::from_ref(user), start_us).await?.get(user).copied().unwrap_or_default();
        if let Some(event) = &stored {
            actual = state
                .store
                .registrations(std::slice::from_ref(&event.event_id))
                .await?
                .into_iter()
                .find(|r| &r.user_id == user)
                .and_then(|r| r.attended);
        }
    }
    if let Some(count) = data.past_registrations {
        // The same rate over the number of registrations given (attended never exceeds it).
        let rate = if history.registrations > 0 {
            history.attended as f64 / history.registrations as f64
        } else {
            model.space.base_rate
        };
        history = History { registrations: count, attended: (rate * count as f64).round() as u64 };
    }
    let info = event_info(&event);
    let mut features = model.space.features(&info, registered_at_us, &history);
    if let Some(rate) = data.historical_rate {
        features[0] = rate;
    }
    let inputs: Vec<(String, f64)> = model.space.names.iter().cloned().zip(features.iter().copied()).collect();
    let prediction = model.explain(features);
    Ok(TestPrediction {
        model_id: record.model_id.clone(),
        version: record.version,
        resolved: ResolvedInputs {
            event_date: rfc3339(start_us),
            day_of_week: DAYS[info.local_weekday()],
            time_slot: info.local_slot(),
            event_type: event.event_type,
            registered_at: rfc3339(registered_at_us),
            bad_weather: info.bad_weather,
            past_registrations: history.registrations,
            features: FeatureValues(inputs),
        },
        prediction: PersonView::of(data.user_id.as_deref().unwrap_or("test-user"), &prediction, &history),
        actual,
        model: ModelSummary::of(&record),
    })
}

/// The feature values a test prediction used, by name, in the model's order.
#[derive(Debug, Clone, PartialEq, ToSchema)]
#[schema(value_type = Object)]
pub struct FeatureValues(pub Vec<(String, f64)>);

impl Serialize for FeatureValues {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// The inputs a test prediction resolved: given, from the stored event, or from the user's record.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedInputs {
    pub event_date: String,
    pub day_of_week: &'static str,
    pub time_slot: &'static str,
    pub event_type: String,
    pub registered_at: String,
    pub bad_weather: Option<bool>,
    pub past_registrations: u64,
    pub features: FeatureValues,
}

/// The answer of `POST /ml/test-prediction`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestPrediction {
    pub model_id: String,
    pub version: i64,
    pub resolved: ResolvedInputs,
    pub prediction: PersonView,
    /// Whether the user came, when it is on record.
    pub actual: Option<bool>,
    pub model: ModelSummary,
}
