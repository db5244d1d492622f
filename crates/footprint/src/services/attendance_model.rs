//! Seed 004's attendance predictor: trained in the background from the attendance records
//! (users who explicitly refused `improvement` are left out), kept as versions in the model
//! registry, and used to predict who will come to an event.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use footprint_analytics::attendance::{self, AttendanceModel, EventInfo, History, PersonPrediction, RegistrationInfo};
use footprint_analytics::logistic::LogisticConfig;
use footprint_store::{AttendanceEvent, AttendanceQuery, ModelFilter, ModelRecord, Registration};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::state::AppState;

pub const MODEL_NAME: &str = "attendance_predictor";
pub const MODEL_TYPE: &str = "attendance_predictor";
const MIN_EXAMPLES: u64 = 50;
const PAGE: u32 = 1000;
/// Most participants one prediction request may list.
const MAX_PARTICIPANTS: usize = 10_000;

/// What a training run may be given (all optional), in the seed's words.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrainRequest {
    /// `attendance_predictor` (the only type trained here).
    pub model_type: Option<String>,
    /// A label of the client's; versions are numbered by the registry.
    pub version: Option<String>,
    pub training_data: Option<TrainingData>,
    /// `{"l2": 1.0}`: the L2 penalty. Gradient-descent settings (`learningRate`, `epochs`,
    /// `batchSize`) do not apply to the Newton solver and are reported as ignored.
    #[schema(value_type = Option<Object>)]
    pub hyperparameters: Option<serde_json::Map<String, Value>>,
    /// Share of the latest examples held out (0.05–0.5, default 0.2).
    pub validation_split: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrainingData {
    /// Events starting at or after (RFC 3339).
    pub start_date: Option<String>,
    /// Events starting before (RFC 3339).
    pub end_date: Option<String>,
    /// Use the events' weather (default true).
    pub include_weather: Option<bool>,
    /// No holiday calendar is kept: reported as ignored.
    pub include_holidays: Option<bool>,
    /// Fewest examples to train on (default 50).
    pub min_data_points: Option<u64>,
}

/// The event's weather as the model reads it: bad weather and temperature.
fn weather(event: &AttendanceEvent) -> (Option<bool>, Option<f64>) {
    let Some(value) = event.weather.as_deref().and_then(|w| serde_json::from_str::<Value>(w).ok()) else {
        return (None, None);
    };
    let condition =
        value.get("condition").or_else(|| value.get("forecast")).and_then(Value::as_str).map(str::to_lowercase);
    let wet = ["rain", "snow", "storm", "drizzle", "shower", "pluie", "neige", "orage"];
    let bad = condition.as_deref().map(|c| wet.iter().any(|w| c.contains(w)));
    let precipitation = value.get("precipitation_mm").and_then(Value::as_f64).map(|mm| mm > 0.5);
    let rain = value.get("rain").and_then(Value::as_bool);
    let temperature = value.get("temperature_c").or_else(|| value.get("temperature")).and_then(Value::as_f64);
    (bad.or(precipitation).or(rain), temperature)
}

pub fn event_info(event: &AttendanceEvent) -> EventInfo {
    let (bad_weather, temperature_c) = weather(event);
    EventInfo {
        event_id: event.event_id.clone(),
        event_type: event.event_type.clone(),
        start_us: event.start_us,
        duration_minutes: event.duration_minutes,
        price: event.price,
        bad_weather,
        temperature_c,
    }
}

pub fn registration_info(registration: &Registration) -> RegistrationInfo {
    RegistrationInfo {
        event_id: registration.event_id.clone(),
        user_id: registration.user_id.clone(),
        registered_at_us: registration.registered_at_us,
        attended: registration.attended,
    }
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

/// Users whose latest consent explicitly refuses `improvement`.
async fn refusing(state: &AppState, users: &HashSet<String>) -> Result<HashSet<String>, ApiError> {
    let mut refused = HashSet::new();
    for user in users {
        if let Some(latest) = state.store.consent_history(user).await?.last()
            && !latest.consent.improvement
        {
            refused.insert(user.clone());
        }
    }
    Ok(refused)
}

fn window(request: &TrainRequest) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let data = request.training_data.clone().unwrap_or_default();
    let parse = |name: &str, value: Option<&str>| -> Result<Option<i64>, ApiError> {
        value
            .map(|text| {
                crate::services::attendance::parse_time(&format!("trainingData.{name}"), text)
                    .map_err(|error| ApiError::InvalidParameters(error.to_string()))
            })
            .transpose()
    };
    Ok((parse("startDate", data.start_date.as_deref())?, parse("endDate", data.end_date.as_deref())?))
}

/// At most `ml.max_trainings_per_hour` runs started in the last hour, counted in the registry
/// (so across every node); else 429 with the wait until the oldest of them is an hour old.
async fn check_training_rate(state: &AppState, now_us: i64) -> Result<(), ApiError> {
    const HOUR_US: i64 = 3_600_000_000;
    let filter = ModelFilter { name: Some(MODEL_NAME.to_owned()), ..ModelFilter::default() };
    let mut recent: Vec<i64> =
        state.store.models(filter).await?.iter().map(|m| m.created_at_us).filter(|at| *at > now_us - HOUR_US).collect();
    let limit = state.config.ml.max_trainings_per_hour as usize;
    if recent.len() < limit {
        return Ok(());
    }
    recent.sort_unstable();
    // The run that must age out before one more may start.
    let frees_at = recent[recent.len() - limit] + HOUR_US;
    let retry_after_secs = u64::try_from((frees_at - now_us) / 1_000_000).unwrap_or(0) + 1;
    Err(ApiError::TooManyRequests {
        message: format!(
            "{} training runs started in the last hour (ml.max_trainings_per_hour = {limit}); retry in {retry_after_secs} s",
            recent.len()
        ),
        retry_after_secs,
    })
}

/// Registers a model version in `training`, trains it in the background, and returns its id.
pub async fn start_training(state: &AppState, request: TrainRequest) -> Result<ModelRecord, ApiError> {
    if let Some(kind) = request.model_type.as_deref()
        && kind != MODEL_TYPE
    {
        return Err(ApiError::InvalidParameters(format!("modelType: only {MODEL_TYPE} is trained here")));
    }
    let mut ignored: Vec<String> = request
        .hyperparameters
        .iter()
        .flat_map(|h| h.keys())
        .filter(|key| *key != "l2")
        .map(|key| format!("hyperparameters.{key}"))
        .collect();
    let data = request.training_data.clone().unwrap_or_default();
    if data.include_holidays.is_some() {
        ignored.push("trainingData.includeHolidays".to_owned());
    }
    let include_weather = data.include_weather.unwrap_or(true);
    let min_examples = data.min_data_points.unwrap_or(MIN_EXAMPLES).max(10);
    let l2 = match request.hyperparameters.as_ref().and_then(|h| h.get("l2")) {
        None => 1.0,
        Some(value) => value
            .as_f64()
            .filter(|l2| l2.is_finite() && *l2 >= 0.0)
            .ok_or_else(|| ApiError::InvalidParameters("hyperparameters.l2: must be a number ≥ 0".to_owned()))?,
    };
    let validation = request.validation_split.unwrap_or(0.2);
    if !(0.05..=0.5).contains(&validation) {
        return Err(ApiError::InvalidParameters("validationSplit: must be from 0.05 to 0.5".to_owned()));
    }
    let (from_us, to_us) = window(&request)?;
    let now_us = state.clock.now_us();
    check_training_rate(state, now_us).await?;
    let record = ModelRecord {
        model_id: format!("model-{}", ulid::Ulid::new().to_string().to_lowercase()),
        name: MODEL_NAME.to_owned(),
        model_type: MODEL_TYPE.to_owned(),
        version: 0,
        status: "training".to_owned(),
        hyperparameters: json!({
            "l2": l2, "validationSplit": validation, "includeWeather": include_weather, "minDataPoints": min_examples,
            "clientVersion": request.version, "ignored": ignored,
        })
        .to_string(),
        data_window: json!({"from": from_us.map(rfc3339), "to": to_us.map(rfc3339)}).to_string(),
        metrics: "{}".to_owned(),
        parameters: "{}".to_owned(),
        rows_used: 0,
        error: None,
        predictions: 0,
        created_at_us: now_us,
        trained_at_us: None,
    };
    let stored = state.store.create_model(record).await?;
    let background = state.clone();
    let mut model = stored.clone();
    tokio::spawn(async move {
        match train(&background, from_us, to_us, l2, validation, include_weather, min_examples).await {
            Ok((parameters, metrics, rows)) => {
                model.status = "ready".to_owned();
                model.parameters = parameters;
                model.metrics = metrics;
                model.rows_used = rows;
            }
            Err(error) => {
                model.status = "error".to_owned();
                model.error = Some(error.to_string());
            }
        }
        model.trained_at_us = Some(background.clock.now_us());
        if let Err(error) = background.store.update_model(model).await {
            tracing::error!(error = %error, "the trained model could not be stored");
        }
    });
    Ok(stored)
}

async fn train(
    state: &AppState,
    from_us: Option<i64>,
    to_us: Option<i64>,
    l2: f64,
    validation: f64,
    include_weather: bool,
    min_examples: u64,
) -> Result<(String, String, i64), ApiError> {
    let (events, registrations) = records(state, from_us, to_us).await?;
    let users: HashSet<String> = registrations.iter().map(|r| r.user_id.clone()).collect();
    let refused = refusing(state, &users).await?;
    let infos: Vec<EventInfo> = events
        .iter()
        .map(|event| {
            let info = event_info(event);
            if include_weather { info } else { EventInfo { bad_weather: None, temperature_c: None, ..info } }
        })
        .collect();
    let regs: Vec<RegistrationInfo> =
        registrations.iter().filter(|r| !refused.contains(&r.user_id)).map(registration_info).collect();
    let result = tokio::task::spawn_blocking(move || {
        let (space, examples, _) = attendance::examples(&infos, &regs);
        let available = examples.len() as u64;
        if available < min_examples {
            return Err(ApiError::InsufficientData {
                message: format!(
                    "training needs at least {min_examples} registrations with a known outcome; there are {available}"
                ),
                needed: min_examples,
                available,
            });
        }
        let config = LogisticConfig { l2, ..LogisticConfig::default() };
        attendance::train(&examples, space, &config, validation)
            .map_err(|error| ApiError::Validation(format!("the model could not be fitted: {error}")))
    })
    .await
    .map_err(ApiError::internal)??;
    let importance: Vec<Value> = result
        .model
        .space
        .names
        .iter()
        .zip(&result.model.model.standardized_weights)
        .map(|(name, weight)| json!({"feature": name, "importance": weight.abs(), "weight": weight}))
        .collect();
    let metrics = json!({
        "train": result.train,
        "validation": result.validation,
        "trainRows": result.train_rows,
        "validationRows": result.validation_rows,
        "featureImportance": importance,
        "excludedUsers": refused.len(),
    });
    let rows = (result.train_rows + result.validation_rows) as i64;
    Ok((serde_json::to_string(&result.model).map_err(ApiError::internal)?, metrics.to_string(), rows))
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

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    pub user_id: String,
    /// RFC 3339; defaults to the registration on record, else now.
    pub registration_date: Option<String>,
    /// The user's past attendance rate (0–1), replacing the one computed from the records.
    pub previous_attendance: Option<f64>,
}

/// Someone to predict for.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub user_id: String,
    pub registered_at_us: i64,
    pub previous_attendance: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PredictRequest {
    pub event_id: String,
    /// `individual` (default) or `aggregate`.
    pub prediction_type: Option<String>,
    /// Defaults to the event's registrations.
    pub participants: Option<Vec<Participant>>,
}

fn risk_level(rate: f64) -> &'static str {
    match rate {
        r if r < 0.5 => "high",
        r if r < 0.7 => "medium",
        _ => "low",
    }
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

/// One person's prediction as answered: probability, confidence, factors and risk factors.
pub fn person_view(user_id: &str, prediction: &PersonPrediction, history: &History) -> Value {
    let risks: Vec<&str> =
        prediction.contributions.iter().filter(|c| c.contribution < -0.1).map(|c| c.feature.as_str()).take(3).collect();
    json!({
        "userId": user_id,
        "attendanceProbability": prediction.probability,
        // The model's probability that its call (comes / does not come) is right.
        "confidence": prediction.probability.max(1.0 - prediction.probability),
        // How well the model's coefficients pin this probability down.
        "probabilityInterval": prediction.interval.map(|(low, high)| json!({"low": low, "high": high, "level": 0.95})),
        "historicalRegistrations": history.registrations,
        "factors": prediction.contributions.iter().take(6).map(|c| json!({"feature": c.feature, "value": c.value, "contribution": c.contribution})).collect::<Vec<_>>(),
        "riskFactors": risks,
    })
}

/// Who is predicted for an event: the participants given, else its registrations.
fn participants_of(
    event: &AttendanceEvent,
    given: Option<Vec<Participant>>,
    on_record: &[Registration],
    now_us: i64,
) -> Result<Vec<Person>, ApiError> {
    let registered_at: HashMap<&str, i64> = on_record
        .iter()
        .filter(|r| r.event_id == event.event_id)
        .map(|r| (r.user_id.as_str(), r.registered_at_us))
        .collect();
    if given.as_ref().is_some_and(|list| list.len() > MAX_PARTICIPANTS) {
        return Err(ApiError::InvalidParameters(format!("participants: at most {MAX_PARTICIPANTS}")));
    }
    let participants: Vec<Person> = match given {
        Some(list) => list
            .into_iter()
            .map(|p| {
                let registered_at_us = match p.registration_date.as_deref() {
                    Some(text) => crate::services::attendance::parse_time("registrationDate", text)
                        .map_err(|error| ApiError::InvalidParameters(error.to_string()))?,
                    None => registered_at.get(p.user_id.as_str()).copied().unwrap_or(now_us),
                };
                if p.previous_attendance.is_some_and(|rate| !(0.0..=1.0).contains(&rate)) {
                    return Err(ApiError::InvalidParameters(format!(
                        "participants.previousAttendance of {}: must be from 0 to 1",
                        p.user_id
                    )));
                }
                Ok(Person { user_id: p.user_id, registered_at_us, previous_attendance: p.previous_attendance })
            })
            .collect::<Result<_, ApiError>>()?,
        None => registered(event, on_record),
    };
    if participants.is_empty() {
        return Err(ApiError::InsufficientData {
            message: format!("event {} has no registrations and none were given", event.event_id),
            needed: 1,
            available: 0,
        });
    }
    Ok(participants)
}

/// The event's registrants as people to predict for.
pub fn registered(event: &AttendanceEvent, on_record: &[Registration]) -> Vec<Person> {
    on_record
        .iter()
        .filter(|r| r.event_id == event.event_id)
        .map(|r| Person { user_id: r.user_id.clone(), registered_at_us: r.registered_at_us, previous_attendance: None })
        .collect()
}

/// An event's predictions: each participant's probability and view, and the factors that move
/// the event's expected rate most.
pub struct EventPrediction {
    pub probabilities: Vec<f64>,
    pub individual: Vec<Value>,
    pub key_factors: Vec<Value>,
    /// Each person's advice, with how many people it concerns, most common first.
    pub recommendations: Vec<(String, usize)>,
}

/// Advice for one person from what pulls their probability down (its risk factors).
fn person_advice(prediction: &PersonPrediction) -> Vec<String> {
    let mut advice = Vec::new();
    for risk in prediction.contributions.iter().filter(|c| c.contribution < -0.1).take(3) {
        let line = match risk.feature.as_str() {
            "historical_rate" => "Send a reminder 24 h before the event: they often miss",
            "past_registrations" => "Send a welcome note with the practical details: they are new",
            "lead_time_days" => "Ask them to confirm the day before: they registered long before",
            "bad_weather" | "temperature_c" | "weather_known" => "Send a weather-related reminder",
            "price" => "Remind them of what their place includes",
            "duration_hours" => "Share the agenda so they can plan for the length",
            feature if feature.starts_with("day_") || feature.starts_with("slot_") => {
                "Remind them of the date and time: this slot draws fewer people"
            }
            _ => continue,
        };
        if !advice.iter().any(|a: &String| a == line) {
            advice.push(line.to_owned());
        }
    }
    advice
}

pub fn predict_event(
    model: &AttendanceModel,
    event: &AttendanceEvent,
    participants: &[Person],
    histories: &HashMap<String, History>,
) -> EventPrediction {
    let info = event_info(event);
    let dims = model.space.names.len();
    let mut probabilities = Vec::with_capacity(participants.len());
    let mut individual = Vec::with_capacity(participants.len());
    // Σ over people of p − p without the feature's push (at its training mean).
    let mut effects = vec![0.0; dims];
    let mut advice: BTreeMap<String, usize> = BTreeMap::new();
    for person in participants {
        let history = histories.get(&person.user_id).copied().unwrap_or_default();
        let mut features = model.space.features(&info, person.registered_at_us, &history);
        if let Some(rate) = person.previous_attendance {
            features[0] = rate;
        }
        let logit = |p: f64| (p / (1.0 - p)).ln();
        let prediction = model.explain(features);
        let z = logit(prediction.probability.clamp(1e-12, 1.0 - 1e-12));
        for contribution in &prediction.contributions {
            if let Some(index) = model.space.names.iter().position(|n| *n == contribution.feature) {
                effects[index] += prediction.probability - 1.0 / (1.0 + (contribution.contribution - z).exp());
            }
        }
        let lines = person_advice(&prediction);
        for line in &lines {
            *advice.entry(line.clone()).or_default() += 1;
        }
        probabilities.push(prediction.probability);
        let mut view = person_view(&person.user_id, &prediction, &history);
        view["recommendations"] = json!(lines);
        individual.push(view);
    }
    let people = participants.len().max(1) as f64;
    let mut ranked: Vec<(usize, f64)> = effects.iter().map(|sum| sum / people).enumerate().collect();
    ranked.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    let key_factors = ranked
        .iter()
        .filter(|(_, effect)| effect.abs() >= 0.005)
        .take(4)
        .map(|(index, effect)| {
            let name = &model.space.names[*index];
            json!({
                "factor": name,
                "impact": effect,
                "description": format!("{name} {} the expected rate by {:.0} points", if *effect >= 0.0 { "raises" } else { "lowers" }, effect.abs() * 100.0),
            })
        })
        .collect();
    let mut recommendations: Vec<(String, usize)> = advice.into_iter().collect();
    recommendations.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    EventPrediction { probabilities, individual, key_factors, recommendations }
}

/// The `overall` block of a prediction.
pub fn overall_view(probabilities: &[f64]) -> Value {
    let overall = attendance::overall(probabilities, 0.9);
    let rate = overall.predicted_rate.unwrap_or(0.0);
    json!({
        "expectedAttendance": overall.expected_attendance,
        "interval": {"low": overall.interval_low, "high": overall.interval_high, "level": overall.confidence_level, "method": overall.interval_method},
        // The probability, under the model, that attendance falls in the interval.
        "confidence": overall.coverage,
        "totalRegistered": probabilities.len(),
        "predictedRate": rate,
        "riskLevel": risk_level(rate),
    })
}

/// The `model` block of a prediction.
pub fn model_summary(record: &ModelRecord) -> Value {
    let validation = serde_json::from_str::<Value>(&record.metrics).ok().and_then(|m| m.get("validation").cloned());
    json!({
        "id": record.model_id,
        "name": format!("{MODEL_NAME}_v{}", record.version),
        "accuracy": validation.as_ref().and_then(|v| v.get("accuracy")).cloned(),
        "rocAuc": validation.as_ref().and_then(|v| v.get("roc_auc")).cloned(),
        "trainedAt": record.trained_at_us.map(rfc3339),
        "lastTrained": record.trained_at_us.map(rfc3339),
    })
}

/// Predictions for an event's participants and overall.
pub async fn predict(state: &AppState, request: PredictRequest) -> Result<Value, ApiError> {
    let (record, model) = ready_model(state).await?;
    let event = state
        .store
        .attendance_event(&request.event_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no attendance event {}", request.event_id)))?;
    let on_record = state.store.registrations(std::slice::from_ref(&event.event_id)).await?;
    let now_us = state.clock.now_us();
    let participants = participants_of(&event, request.participants, &on_record, now_us)?;
    // Each participant's history: events that started before this one.
    let users: Vec<String> = participants.iter().map(|p| p.user_id.clone()).collect();
    let histories = histories_before(state, &users, event.start_us).await?;
    let aggregate = match request.prediction_type.as_deref() {
        None | Some("individual") => false,
        Some("aggregate") => true,
        Some(other) => {
            return Err(ApiError::InvalidParameters(format!("predictionType: individual or aggregate, not {other}")));
        }
    };
    // Scoring everyone and the exact interval (O(n²)) are CPU work: off the request thread.
    let (prediction, overall, participants) = {
        let event = event.clone();
        tokio::task::spawn_blocking(move || {
            let prediction = predict_event(&model, &event, &participants, &histories);
            let overall = overall_view(&prediction.probabilities);
            (prediction, overall, participants)
        })
        .await
        .map_err(ApiError::internal)?
    };
    let mut recommendations: Vec<String> = prediction
        .recommendations
        .iter()
        .map(|(line, people)| format!("{line} ({people} of {} registrants)", participants.len()))
        .collect();
    if let (Some(low), Some(high)) = (overall["interval"]["low"].as_u64(), overall["interval"]["high"].as_u64()) {
        let total = participants.len() as u64;
        recommendations.push(format!(
            "Prepare for {}–{} no-shows ({:.0} % interval)",
            total.saturating_sub(high),
            total.saturating_sub(low),
            overall["interval"]["level"].as_f64().unwrap_or(0.9) * 100.0
        ));
    }
    Ok(json!({
        "eventId": event.event_id,
        "predictionId": format!("pred-{}", ulid::Ulid::new().to_string().to_lowercase()),
        "generatedAt": rfc3339(now_us),
        "overall": overall,
        "individual": if aggregate { Value::Null } else { Value::Array(prediction.individual) },
        "insights": {"keyFactors": prediction.key_factors, "recommendations": recommendations},
        "model": model_summary(&record),
    }))
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FactorRequest {
    /// Analyse the history up to this event's start (default: all history).
    pub event_id: Option<String>,
    /// Which factors to report (`weather`, `day_of_week`, `time_of_day`, `event_type`, `duration`,
    /// `price`, `historical_attendance`, …); default all.
    pub factors: Option<Vec<String>>,
    /// `correlation` (the only analysis; others are refused).
    pub analysis_type: Option<String>,
    /// `{"start": RFC 3339, "end": RFC 3339}`.
    #[schema(value_type = Option<Object>)]
    pub time_range: Option<Value>,
    /// A time budget below `ml.analysis_timeout_secs`.
    pub timeout_ms: Option<u64>,
}

/// Which model columns a factor name covers.
fn factor_columns(factor: &str, column: &str) -> bool {
    match factor {
        "weather" => column == "bad_weather" || column == "temperature_c" || column == "weather_known",
        "day_of_week" => column.starts_with("day_"),
        "time_of_day" | "time_slot" => column.starts_with("slot_"),
        "event_type" => column.starts_with("type_"),
        "duration" => column == "duration_hours",
        "price" => column == "price",
        "historical_attendance" => column == "historical_rate" || column == "past_registrations",
        "lead_time" => column == "lead_time_days",
        other => column == other,
    }
}

/// Each factor's correlation with attendance and its p-value, per-level rates, and the
/// regression's R², adjusted R², F and p-value, over the attendance on record.
pub async fn analyze_factors(state: &AppState, request: FactorRequest) -> Result<Value, ApiError> {
    let budget = Budget::new(state, request.timeout_ms)?;
    if let Some(kind) = request.analysis_type.as_deref()
        && kind != "correlation"
    {
        return Err(ApiError::InvalidParameters(format!("analysisType: only correlation is available, not {kind}")));
    }
    let bound = |name: &str| -> Result<Option<i64>, ApiError> {
        match request.time_range.as_ref().and_then(|r| r.get(name)).and_then(Value::as_str) {
            Some(text) => crate::services::attendance::parse_time(&format!("timeRange.{name}"), text)
                .map(Some)
                .map_err(|error| ApiError::InvalidParameters(error.to_string())),
            None => Ok(None),
        }
    };
    let mut to_us = bound("end")?;
    if let Some(event_id) = &request.event_id {
        let event = state
            .store
            .attendance_event(event_id)
            .await?
            .ok_or_else(|| ApiError::InvalidParameters(format!("eventId: no event {event_id}")))?;
        to_us = Some(to_us.map_or(event.start_us, |to| to.min(event.start_us)));
    }
    let (events, registrations) = records(state, bound("start")?, to_us).await?;
    let infos: Vec<EventInfo> = events.iter().map(event_info).collect();
    let regs: Vec<RegistrationInfo> = registrations.iter().map(registration_info).collect();
    let analysis = budget
        .run(state, "analysing the factors", move || {
            let (space, examples, _) = attendance::examples(&infos, &regs);
            (examples.len(), attendance::analyze_factors(&space, &examples, &infos, &regs))
        })
        .await?;
    let (available, mut analysis) = analysis;
    if available < 30 {
        return Err(ApiError::InsufficientData {
            message: format!(
                "factor analysis needs at least 30 registrations with a known outcome; there are {available}"
            ),
            needed: 30,
            available: available as u64,
        });
    }
    if let Some(wanted) = &request.factors {
        analysis.factors.retain(|f| wanted.iter().any(|w| factor_columns(w, &f.factor)));
    }
    Ok(json!({
        "analysisId": format!("factors-{}", ulid::Ulid::new().to_string().to_lowercase()),
        "generatedAt": rfc3339(state.clock.now_us()),
        "examples": analysis.examples,
        "factors": analysis.factors,
        "levels": analysis.levels,
        "model": {
            "type": "linear probability model (OLS of attended on the factors)",
            "rSquared": analysis.r_squared,
            "adjustedRSquared": analysis.adjusted_r_squared,
            "fStatistic": analysis.f_statistic,
            "fPValue": analysis.f_p_value,
        },
    }))
}

/// Binary metrics with the seed's names beside ours (`f1Score` = `f1`, `auc` = `roc_auc`).
pub fn metrics_view(metrics: Option<&footprint_analytics::logistic::BinaryMetrics>) -> Value {
    let mut view = json!(metrics);
    if let Some(object) = view.as_object_mut() {
        let f1 = object.get("f1").cloned().unwrap_or(Value::Null);
        let auc = object.get("roc_auc").cloned().unwrap_or(Value::Null);
        object.insert("f1Score".to_owned(), f1);
        object.insert("auc".to_owned(), auc);
    }
    view
}

/// A model's performance on the latest part of its data (the validation window it was trained
/// with): overall metrics, by month of the event and by segment, and feature importance.
pub async fn performance(state: &AppState, model_id: &str) -> Result<Value, ApiError> {
    let (record, model) = usable_model(state, model_id).await?;
    let hyper: Value = serde_json::from_str(&record.hyperparameters).unwrap_or(Value::Null);
    let validation = hyper.get("validationSplit").and_then(Value::as_f64).unwrap_or(0.2);
    let window: Value = serde_json::from_str(&record.data_window).unwrap_or(Value::Null);
    let bound = |name: &str| {
        window.get(name).and_then(Value::as_str).and_then(|t| crate::services::attendance::parse_time(name, t).ok())
    };
    let (events, registrations) = records(state, bound("from"), bound("to")).await?;
    let infos: Vec<EventInfo> = events.iter().map(event_info).collect();
    let regs: Vec<RegistrationInfo> = registrations.iter().map(registration_info).collect();
    let result = tokio::task::spawn_blocking(move || {
        let (examples, _) = attendance::examples_in(&model.space, &infos, &regs);
        let split = ((examples.len() as f64) * (1.0 - validation)).round() as usize;
        let held_out = &examples[split.min(examples.len())..];
        // Features as the trained model lays them out (its own feature space).
        let scored: Vec<(String, String, f64, bool)> = held_out
            .iter()
            .map(|e| {
                let month = rfc3339(e.event_start_us)[..7].to_owned();
                // Users with little history are the hard case: a segment of their own.
                let segment = if e.features.get(1).copied().unwrap_or(0.0) < 3f64.ln_1p() { "new_users" } else { "returning_users" };
                (month, segment.to_owned(), model.model.predict_proba(&e.features), e.attended)
            })
            .collect();
        let metrics = |rows: &[&(String, String, f64, bool)]| {
            let p: Vec<f64> = rows.iter().map(|r| r.2).collect();
            let y: Vec<bool> = rows.iter().map(|r| r.3).collect();
            metrics_view(footprint_analytics::logistic::BinaryMetrics::compute(&p, &y).as_ref())
        };
        let all: Vec<&(String, String, f64, bool)> = scored.iter().collect();
        let mut by_month: std::collections::BTreeMap<String, Vec<&(String, String, f64, bool)>> = Default::default();
        let mut by_segment: std::collections::BTreeMap<String, Vec<&(String, String, f64, bool)>> = Default::default();
        for row in &scored {
            by_month.entry(row.0.clone()).or_default().push(row);
            by_segment.entry(row.1.clone()).or_default().push(row);
        }
        let overall = metrics(&all);
        let confusion = &overall["confusion"];
        json!({
            // The seed's layout: [[true negatives, false positives], [false negatives, true positives]].
            "confusionMatrix": [[confusion["tn"], confusion["fp"]], [confusion["fn"], confusion["tp"]]],
            "overall": overall,
            "byMonth": by_month.iter().map(|(m, rows)| (m.clone(), metrics(rows))).collect::<serde_json::Map<_, _>>(),
            "bySegment": by_segment.iter().map(|(s, rows)| (s.clone(), metrics(rows))).collect::<serde_json::Map<_, _>>(),
            "accuracyOverTime": by_month.iter().map(|(m, rows)| json!({"date": format!("{m}-01"), "accuracy": metrics(rows)["accuracy"], "n": rows.len()})).collect::<Vec<_>>(),
            "evaluatedOn": scored.len(),
        })
    })
    .await
    .map_err(ApiError::internal)?;
    let stored: Value = serde_json::from_str(&record.metrics).unwrap_or(Value::Null);
    let mut result = result;
    let importance = stored.get("featureImportance").cloned().unwrap_or(Value::Null);
    result["featureImportance"] = importance.clone();
    let over_time = result.as_object_mut().and_then(|r| r.remove("accuracyOverTime")).unwrap_or(Value::Null);
    Ok(json!({
        "modelId": record.model_id,
        "version": record.version,
        "trainedAt": record.trained_at_us.map(rfc3339),
        "performance": result,
        "trends": {"accuracyOverTime": over_time},
        "featureImportance": importance,
    }))
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnomalyRequest {
    /// `organization` (default) or `event`.
    pub scope: Option<String>,
    /// `{"start": RFC 3339, "end": RFC 3339}` (default: the last 30 days).
    #[schema(value_type = Option<Object>)]
    pub timeframe: Option<Value>,
    /// `low`, `medium` (default) or `high`.
    pub sensitivity: Option<String>,
    /// `attendance_drops`, `unusual_patterns`, `outlier_events`, `user_behavior` (default all).
    pub categories: Option<Vec<String>>,
    /// A time budget below `ml.analysis_timeout_secs`.
    pub timeout_ms: Option<u64>,
}

fn timeframe(value: Option<&Value>, now_us: i64) -> Result<(i64, i64), ApiError> {
    let bound = |name: &str| -> Result<Option<i64>, ApiError> {
        match value.and_then(|v| v.get(name)).and_then(Value::as_str) {
            Some(text) => crate::services::attendance::parse_time(&format!("timeframe.{name}"), text)
                .map(Some)
                .map_err(|error| ApiError::InvalidParameters(error.to_string())),
            None => Ok(None),
        }
    };
    let end = bound("end")?.unwrap_or(now_us);
    let start = bound("start")?.unwrap_or(end - 30 * 86_400_000_000);
    if start >= end {
        return Err(ApiError::InvalidParameters("timeframe: start must be before end".to_owned()));
    }
    Ok((start, end))
}

/// Attendance far from expectation (z against the binomial spread of the registrants'
/// probabilities), users missing many in a row against a high rate, and outlier events.
pub async fn anomalies(state: &AppState, request: AnomalyRequest) -> Result<Value, ApiError> {
    let budget = Budget::new(state, request.timeout_ms)?;
    let sensitivity = request.sensitivity.as_deref().unwrap_or("medium");
    let threshold = attendance::sensitivity_threshold(sensitivity)
        .ok_or_else(|| ApiError::InvalidParameters("sensitivity: must be low, medium or high".to_owned()))?;
    let now_us = state.clock.now_us();
    let (start, end) = timeframe(request.timeframe.as_ref(), now_us)?;
    let model = ready_model(state).await.ok().map(|(_, model)| model);
    let (events, registrations) = records(state, None, Some(end)).await?;
    let infos: Vec<EventInfo> = events.iter().map(event_info).collect();
    let regs: Vec<RegistrationInfo> = registrations.iter().map(registration_info).collect();
    let base = {
        let known: Vec<bool> = regs.iter().filter_map(|r| r.attended).collect();
        if known.is_empty() { 0.5 } else { known.iter().filter(|a| **a).count() as f64 / known.len() as f64 }
    };
    let uses_model = model.is_some();
    let (event_anomalies, user_anomalies) = budget
        .run(state, "looking for anomalies", move || {
            let probability = |event: &EventInfo, registration: &RegistrationInfo, history: &History| match &model {
                Some(model) => model.predict(event, registration.registered_at_us, history).probability,
                None => history.smoothed_rate(base),
            };
            attendance::anomalies(&infos, &regs, start, end, threshold, &probability)
        })
        .await?;
    let wanted = |category: &str| request.categories.as_ref().is_none_or(|list| list.iter().any(|c| c == category));
    let names: HashMap<&str, &str> = events.iter().map(|e| (e.event_id.as_str(), e.name.as_str())).collect();
    let by_id: HashMap<&str, &AttendanceEvent> = events.iter().map(|e| (e.event_id.as_str(), e)).collect();
    let detected_at = rfc3339(now_us);
    let mut anomalies: Vec<Value> = Vec::new();
    for anomaly in &event_anomalies {
        let category = if anomaly.kind == "outlier_event" {
            "outlier_events"
        } else if anomaly.kind == "attendance_drop" {
            "attendance_drops"
        } else {
            "unusual_patterns"
        };
        if !wanted(category) {
            continue;
        }
        // What the records say about the event (facts, not guesses).
        let mut causes = Vec::new();
        if let Some(event) = by_id.get(anomaly.event_id.as_str()) {
            let info = event_info(event);
            if info.bad_weather == Some(true) && anomaly.z_score < 0.0 {
                causes.push("bad weather was recorded for the event".to_owned());
            }
            if event.capacity.is_some_and(|c| c > 0 && anomaly.registrations as i64 > c) {
                causes.push(format!("more registrations ({}) than capacity", anomaly.registrations));
            }
        }
        let missing = (anomaly.expected - anomaly.actual as f64).round().max(0.0) as u64;
        anomalies.push(json!({
            "id": format!("{}-{}", anomaly.kind, anomaly.event_id),
            "type": anomaly.kind,
            "severity": anomaly.severity,
            // One minus the two-sided p-value of the z-score.
            "confidence": 1.0 - footprint_analytics::stats::two_sided_normal_p(anomaly.z_score),
            "detectedAt": detected_at,
            "possibleCauses": causes,
            "impact": {"severity": anomaly.severity, "affectedUsers": if anomaly.z_score < 0.0 { missing } else { 0 }},
            "event": {"id": anomaly.event_id, "name": names.get(anomaly.event_id.as_str()), "date": rfc3339(anomaly.start_us)},
            "description": format!("{} of {} registrants came; {:.1} were expected", anomaly.actual, anomaly.registrations, anomaly.expected),
            "metrics": {
                "expected": anomaly.expected / anomaly.registrations as f64,
                "actual": anomaly.actual as f64 / anomaly.registrations as f64,
                "deviation": (anomaly.actual as f64 - anomaly.expected) / anomaly.registrations as f64,
                "zScore": anomaly.z_score,
                "registrations": anomaly.registrations,
                "expectedAttendees": anomaly.expected,
                "attendees": anomaly.actual,
            },
        }));
    }
    if wanted("user_behavior") {
        for user in &user_anomalies {
            anomalies.push(json!({
                "id": format!("missed_streak-{}", user.user_id),
                "type": "missed_streak",
                "severity": user.severity,
                // The chance of such a run at the user's earlier rate is `probability`.
                "confidence": 1.0 - user.probability,
                "detectedAt": detected_at,
                "userId": user.user_id,
                "user": {"id": user.user_id, "previousAttendanceRate": user.rate_before},
                "pattern": {"consecutiveMisses": user.missed_in_a_row},
                "description": format!("missed {} events in a row after attending {:.0} % before", user.missed_in_a_row, user.rate_before * 100.0),
                "metrics": {"missedInARow": user.missed_in_a_row, "rateBefore": user.rate_before, "probability": user.probability},
            }));
        }
    }
    let count = |level: &str| anomalies.iter().filter(|a| a["severity"] == level).count();
    Ok(json!({
        "analysisId": format!("anom-{}", ulid::Ulid::new().to_string().to_lowercase()),
        "generatedAt": rfc3339(now_us),
        "timeframe": {"start": rfc3339(start), "end": rfc3339(end)},
        "sensitivity": sensitivity,
        "expectation": if uses_model { "the attendance model" } else { "each registrant's smoothed history rate" },
        "summary": {
            "totalAnomalies": anomalies.len(),
            "highSeverity": count("high"),
            "mediumSeverity": count("medium"),
            "lowSeverity": count("low"),
            // Per event tested: the chance of |z| ≥ threshold under the null.
            "falsePositiveRate": footprint_analytics::stats::two_sided_normal_p(threshold),
        },
        "anomalies": anomalies,
    }))
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecommendationRequest {
    /// e.g. `event_optimization`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `{"eventId", "organizationId", "timeframe"}`.
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    /// `attendance_optimization`, `scheduling`, `engagement`, `resource_allocation` (default all).
    pub focus: Option<Vec<String>>,
    /// A time budget below `ml.analysis_timeout_secs`.
    pub timeout_ms: Option<u64>,
}

/// Scheduling, engagement and capacity advice computed from measured rates and predictions.
pub async fn recommendations(state: &AppState, request: RecommendationRequest) -> Result<Value, ApiError> {
    let budget = Budget::new(state, request.timeout_ms)?;
    let now_us = state.clock.now_us();
    let (events, registrations) = records(state, None, Some(now_us)).await?;
    let infos: Vec<EventInfo> = events.iter().map(event_info).collect();
    let regs: Vec<RegistrationInfo> = registrations.iter().map(registration_info).collect();
    let (analysis, histories, known) = {
        let (infos, regs) = (infos.clone(), regs.clone());
        budget
            .run(state, "measuring the rates", move || {
                let (space, examples, histories) = attendance::examples(&infos, &regs);
                (attendance::analyze_factors(&space, &examples, &infos, &regs), histories, examples.len())
            })
            .await?
    };
    if known < 30 {
        return Err(ApiError::InsufficientData {
            message: format!("recommendations need at least 30 registrations with a known outcome; there are {known}"),
            needed: 30,
            available: known as u64,
        });
    }
    let wanted = |focus: &str| request.focus.as_ref().is_none_or(|list| list.iter().any(|f| f == focus));
    let attended: u64 = analysis.levels.get("day_of_week").map_or(0, |l| l.iter().map(|r| r.attended).sum());
    let total: u64 = analysis.levels.get("day_of_week").map_or(0, |l| l.iter().map(|r| r.registrations).sum());
    let overall = attended as f64 / total.max(1) as f64;
    let mut recommendations = Vec::new();
    if wanted("scheduling") || wanted("attendance_optimization") {
        for (factor, label) in [("day_of_week", "day"), ("time_slot", "time slot")] {
            let Some(found) = analysis.levels.get(factor).and_then(|levels| attendance::best_level(levels)) else {
                continue;
            };
            let (best, others_rate, p) = (&found.level, found.rest_rate, found.p_value);
            if best.rate > others_rate && p.is_some_and(|p| p < 0.05) {
                recommendations.push(json!({
                    "category": "scheduling",
                    "priority": if best.rate - others_rate >= 0.1 { "high" } else { "medium" },
                    "title": format!("Best {label}: {}", best.level),
                    "description": format!("{} events have {:.0} % attendance against {:.0} % on other {label}s", best.level, best.rate * 100.0, others_rate * 100.0),
                    "impact": {"metric": "attendance_rate", "expected": best.rate, "baseline": others_rate, "difference": best.rate - others_rate,
                               "expectedImprovement": best.rate - others_rate},
                    "confidence": 1.0 - p.unwrap_or(1.0),
                    "evidence": {"registrations": best.registrations, "attended": best.attended, "pValue": p},
                }));
            }
        }
    }
    if wanted("engagement") {
        let low: Vec<&History> =
            histories.values().filter(|h| h.registrations >= 5 && h.smoothed_rate(overall) < 0.4).collect();
        if !low.is_empty() {
            let rate = low.iter().map(|h| h.attended).sum::<u64>() as f64
                / low.iter().map(|h| h.registrations).sum::<u64>().max(1) as f64;
            recommendations.push(json!({
                "category": "engagement",
                "priority": if low.len() * 10 >= histories.len() { "high" } else { "medium" },
                "title": "Remind the users who often miss",
                "description": format!("{} of {} users came to {:.0} % of their registrations (overall {:.0} %): remind them before events", low.len(), histories.len(), rate * 100.0, overall * 100.0),
                // For these users, if they came as often as everyone does.
                "impact": {"metric": "attendance_rate", "usersConcerned": low.len(), "theirRate": rate, "overallRate": overall,
                           "expectedImprovement": (overall - rate).max(0.0)},
                // These users were picked for their low rate: a test of that rate on the same
                // records would be circular, so none is claimed.
                "confidence": null,
                "evidence": {"users": low.len(), "registrations": low.iter().map(|h| h.registrations).sum::<u64>()},
            }));
        }
    }
    let event_id = request.context.as_ref().and_then(|c| c.get("eventId")).and_then(Value::as_str);
    if let (Some(event_id), true) = (event_id, wanted("resource_allocation") || wanted("attendance_optimization"))
        && let Ok(prediction) = predict(
            state,
            PredictRequest {
                event_id: event_id.to_owned(),
                prediction_type: Some("aggregate".to_owned()),
                participants: None,
            },
        )
        .await
        && let Some(event) = state.store.attendance_event(event_id).await?
    {
        let expected = prediction["overall"]["expectedAttendance"].as_f64().unwrap_or(0.0);
        let high = prediction["overall"]["interval"]["high"].as_u64().unwrap_or(0);
        recommendations.push(json!({
            "category": "resource_allocation",
            "priority": "medium",
            "title": "Size the room for the expected attendance",
            "description": format!("{expected:.1} of the registrants are expected (90 % interval up to {high}); capacity {}", event.capacity.map_or("unset".to_owned(), |c| c.to_string())),
            // The share of the capacity that the interval's upper bound leaves free.
            "impact": {"expectedAttendance": expected, "upperBound": high, "capacity": event.capacity,
                       "expectedImprovement": event.capacity.filter(|c| *c > 0).map(|c| (c as f64 - high as f64).max(0.0) / c as f64)},
            // The coverage of the prediction interval the advice rests on.
            // The probability, under the model, that attendance falls in the interval.
            "confidence": prediction["overall"]["confidence"],
            "evidence": {"registrations": prediction["overall"]["totalRegistered"]},
        }));
    }
    // The seed also reads the confidence inside `impact` and the sample as `evidence.dataPoints`.
    for recommendation in &mut recommendations {
        recommendation["impact"]["confidence"] = recommendation["confidence"].clone();
        let points = recommendation["evidence"]["registrations"].clone();
        recommendation["evidence"]["dataPoints"] = points;
    }
    Ok(json!({
        "recommendationId": format!("rec-{}", ulid::Ulid::new().to_string().to_lowercase()),
        "generatedAt": rfc3339(now_us),
        "type": request.kind.unwrap_or_else(|| "event_optimization".to_owned()),
        "basedOn": {"registrations": total, "overallRate": overall},
        "summary": {
            "totalRecommendations": recommendations.len(),
            "highPriority": recommendations.iter().filter(|r| r["priority"] == "high").count(),
            "mediumPriority": recommendations.iter().filter(|r| r["priority"] == "medium").count(),
            "lowPriority": recommendations.iter().filter(|r| r["priority"] == "low").count(),
        },
        "recommendations": recommendations,
    }))
}
