//! Predictions for an event's registrants: each person's probability with its interval,
//! contributions, risk factors and advice; the event's expected attendance and interval.

use super::*;

/// Most participants one prediction request may list.
const MAX_PARTICIPANTS: usize = 10_000;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    pub user_id: String,
    /// RFC 3339; defaults to the registration on record, else now.
    pub registration_date: Option<String>,
    /// The user's past attendance rate (0–1), replacing the one computed from the records.
    pub previous_attendance: Option<f64>,
    /// Attributes of the person and the registration (booleans, numbers, texts), over those on
    /// record for this registration.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Map<String, Value>>,
}

/// Someone to predict for.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub user_id: String,
    pub registered_at_us: i64,
    pub previous_attendance: Option<f64>,
    /// The registration's attributes: on record, with those given over them.
    pub attributes: BTreeMap<String, AttributeValue>,
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

/// A probability's 95 % interval from the model's coefficient uncertainty.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ProbabilityInterval {
    pub low: f64,
    pub high: f64,
    pub level: f64,
}

/// What one input pushed the log-odds by.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FactorView {
    pub feature: String,
    pub value: f64,
    pub contribution: f64,
}

/// One person's prediction as answered.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PersonView {
    pub user_id: String,
    pub attendance_probability: f64,
    /// The model's probability that its call (comes / does not come) is right.
    pub confidence: f64,
    /// How well the model's coefficients pin this probability down.
    pub probability_interval: Option<ProbabilityInterval>,
    pub historical_registrations: u64,
    /// The largest pushes, at most six.
    pub factors: Vec<FactorView>,
    /// The inputs that pull the probability down most (at most three).
    pub risk_factors: Vec<String>,
    /// Advice for this person, in event predictions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommendations: Option<Vec<String>>,
}

impl PersonView {
    pub fn of(user_id: &str, prediction: &PersonPrediction, history: &History) -> Self {
        Self {
            user_id: user_id.to_owned(),
            attendance_probability: prediction.probability,
            confidence: prediction.probability.max(1.0 - prediction.probability),
            probability_interval: prediction.interval.map(|(low, high)| ProbabilityInterval { low, high, level: 0.95 }),
            historical_registrations: history.registrations,
            factors: prediction
                .contributions
                .iter()
                .take(6)
                .map(|c| FactorView { feature: c.feature.clone(), value: c.value, contribution: c.contribution })
                .collect(),
            risk_factors: prediction
                .contributions
                .iter()
                .filter(|c| c.contribution < -0.1)
                .map(|c| c.feature.clone())
                .take(3)
                .collect(),
            recommendations: None,
        }
    }
}

/// Who is predicted for an event: the participants given, else its registrations.
fn participants_of(
    event: &AttendanceEvent,
    given: Option<Vec<Participant>>,
    on_record: &[Registration],
    now_us: i64,
) -> Result<Vec<Person>, ApiError> {
    let on_event: HashMap<&str, &Registration> =
        on_record.iter().filter(|r| r.event_id == event.event_id).map(|r| (r.user_id.as_str(), r)).collect();
    if given.as_ref().is_some_and(|list| list.len() > MAX_PARTICIPANTS) {
        return Err(ApiError::InvalidParameters(format!("participants: at most {MAX_PARTICIPANTS}")));
    }
    let participants: Vec<Person> = match given {
        Some(list) => list
            .into_iter()
            .map(|p| {
                let registered_at_us = match p.registration_date.as_deref() {
                    Some(text) => parse_instant("registrationDate", text)?,
                    None => on_event.get(p.user_id.as_str()).map_or(now_us, |r| r.registered_at_us),
                };
                let mut attributes = on_event
                    .get(p.user_id.as_str())
                    .and_then(|r| r.attributes.as_deref())
                    .map(attributes_of)
                    .unwrap_or_default();
                if let Some(given) = &p.attributes {
                    let checked = crate::attendance::records::checked_attributes(given).map_err(|error| {
                        ApiError::InvalidParameters(format!("participants.attributes of {}: {error}", p.user_id))
                    })?;
                    attributes.extend(attributes_of(&checked));
                }
                if p.previous_attendance.is_some_and(|rate| !(0.0..=1.0).contains(&rate)) {
                    return Err(ApiError::InvalidParameters(format!(
                        "participants.previousAttendance of {}: must be from 0 to 1",
                        p.user_id
                    )));
                }
                Ok(Person {
                    user_id: p.user_id,
                    registered_at_us,
                    previous_attendance: p.previous_attendance,
                    attributes,
                })
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
        .map(|r| Person {
            user_id: r.user_id.clone(),
            registered_at_us: r.registered_at_us,
            previous_attendance: None,
            attributes: r.attributes.as_deref().map(attributes_of).unwrap_or_default(),
        })
        .collect()
}

/// An event's predictions: each participant's probability and view, and the factors that move
/// the event's expected rate most.
pub struct EventPrediction {
    pub probabilities: Vec<f64>,
    pub individual: Vec<PersonView>,
    pub key_factors: Vec<KeyFactor>,
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
        let mut features = model.space.features_of(&info, person.registered_at_us, &history, &person.attributes);
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
        let mut view = PersonView::of(&person.user_id, &prediction, &history);
        view.recommendations = Some(lines);
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
            let direction = if *effect >= 0.0 { "raises" } else { "lowers" };
            KeyFactor {
                factor: name.clone(),
                impact: *effect,
                description: format!("{name} {direction} the expected rate by {:.0} points", effect.abs() * 100.0),
            }
        })
        .collect();
    let mut recommendations: Vec<(String, usize)> = advice.into_iter().collect();
    recommendations.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    EventPrediction { probabilities, individual, key_factors, recommendations }
}

/// A factor's average effect on the event's expected rate.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct KeyFactor {
    pub factor: String,
    /// Σ over people of (p − p without the factor's push), per person.
    pub impact: f64,
    pub description: String,
}

/// The interval of a count of attendees.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CountInterval {
    pub low: u64,
    pub high: u64,
    pub level: f64,
    /// `exact` (Poisson binomial) or `normal`.
    pub method: &'static str,
}

/// The `overall` block of a prediction.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OverallView {
    pub expected_attendance: f64,
    pub interval: CountInterval,
    /// The probability, under the model, that attendance falls in the interval.
    pub confidence: f64,
    pub total_registered: usize,
    pub predicted_rate: f64,
    /// `high` below a rate of 0.5, `medium` below 0.7, else `low`.
    pub risk_level: &'static str,
}

impl OverallView {
    pub fn of(probabilities: &[f64]) -> Self {
        let overall = attendance::overall(probabilities, 0.9);
        let rate = overall.predicted_rate.unwrap_or(0.0);
        Self {
            expected_attendance: overall.expected_attendance,
            interval: CountInterval {
                low: overall.interval_low,
                high: overall.interval_high,
                level: overall.confidence_level,
                method: overall.interval_method,
            },
            confidence: overall.coverage,
            total_registered: probabilities.len(),
            predicted_rate: rate,
            risk_level: risk_level(rate),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PredictionInsights {
    pub key_factors: Vec<KeyFactor>,
    pub recommendations: Vec<String>,
}

/// Seed 004's answer to `POST /ml/predict-attendance`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttendancePrediction {
    pub event_id: String,
    pub prediction_id: String,
    pub generated_at: String,
    pub overall: OverallView,
    /// Null for an `aggregate` prediction.
    pub individual: Option<Vec<PersonView>>,
    pub insights: PredictionInsights,
    pub model: ModelSummary,
}

/// Predictions for an event's participants and overall.
pub async fn predict(state: &AppState, request: PredictRequest) -> Result<AttendancePrediction, ApiError> {
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
            let overall = OverallView::of(&prediction.probabilities);
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
    let total = participants.len() as u64;
    recommendations.push(format!(
        "Prepare for {}–{} no-shows ({:.0} % interval)",
        total.saturating_sub(overall.interval.high),
        total.saturating_sub(overall.interval.low),
        overall.interval.level * 100.0
    ));
    Ok(AttendancePrediction {
        event_id: event.event_id,
        prediction_id: format!("pred-{}", ulid::Ulid::new().to_string().to_lowercase()),
        generated_at: rfc3339(now_us),
        overall,
        individual: if aggregate { None } else { Some(prediction.individual) },
        insights: PredictionInsights { key_factors: prediction.key_factors, recommendations },
        model: ModelSummary::of(&record),
    })
}
