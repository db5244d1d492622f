//! Attendance far from expectation, users missing many in a row, outlier events.

use super::*;

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnomalyRequest {
    /// `organization` (default) or `event`.
    pub scope: Option<String>,
    /// `{"start": RFC 3339, "end": RFC 3339}` or a name (`last_week` … `all`); default: the
    /// last 30 days.
    #[schema(value_type = Option<Object>)]
    pub timeframe: Option<Value>,
    /// `low`, `medium` (default) or `high`.
    pub sensitivity: Option<String>,
    /// `attendance_drops`, `unusual_patterns`, `outlier_events`, `user_behavior` (default all).
    pub categories: Option<Vec<String>>,
    /// A time budget below `ml.analysis_timeout_secs`.
    pub timeout_ms: Option<u64>,
}

/// Where the window looked at starts: its given start; for `all`, the first event on record;
/// else the 30 days before its end.
fn window_start(window: Option<&(TimeWindow, String)>, end: i64, first_event_us: Option<i64>) -> Result<i64, ApiError> {
    let start = match window {
        Some((TimeWindow { start_us: Some(start), .. }, _)) => *start,
        Some((_, label)) if label == "all" => first_event_us.map_or(end - 30 * DAY_US, |first| first.min(end - 1)),
        _ => end - 30 * DAY_US,
    };
    if start >= end {
        return Err(ApiError::InvalidParameters("timeframe: the start must come before the end".to_owned()));
    }
    Ok(start)
}

/// The kinds of anomaly a request may ask for.
const CATEGORIES: [&str; 4] = ["attendance_drops", "unusual_patterns", "outlier_events", "user_behavior"];

/// Attendance far from expectation (z against the binomial spread of the registrants'
/// probabilities), users missing many in a row against a high rate, and outlier events.
pub async fn anomalies(state: &AppState, request: AnomalyRequest) -> Result<AnomalyReport, ApiError> {
    let budget = Budget::new(state, request.timeout_ms)?;
    check_listed("categories", request.categories.as_deref(), &CATEGORIES)?;
    if let Some(scope) = request.scope.as_deref() {
        check_listed("scope", Some(&[scope.to_owned()]), &["organization", "event"])?;
    }
    let sensitivity = request.sensitivity.as_deref().unwrap_or("medium");
    let threshold = attendance::sensitivity_threshold(sensitivity)
        .ok_or_else(|| ApiError::InvalidParameters("sensitivity: must be low, medium or high".to_owned()))?;
    let now_us = state.clock.now_us();
    let window = TimeWindow::from_json("timeframe", request.timeframe.as_ref(), now_us)?;
    let end = window.as_ref().and_then(|(window, _)| window.end_us).unwrap_or(now_us);
    let model = ready_model(state).await.ok().map(|(_, model)| model);
    let (events, registrations) = records(state, None, Some(end)).await?;
    let start = window_start(window.as_ref(), end, events.iter().map(|e| e.start_us).min())?;
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
                Some(model) => model.probability(&model.space.features_of(
                    event,
                    registration.registered_at_us,
                    history,
                    &registration.attributes,
                )),
                None => history.smoothed_rate(base),
            };
            attendance::anomalies(&infos, &regs, start, end, threshold, &probability)
        })
        .await?;
    let wanted = |category: &str| request.categories.as_ref().is_none_or(|list| list.iter().any(|c| c == category));
    let names: HashMap<&str, &str> = events.iter().map(|e| (e.event_id.as_str(), e.name.as_str())).collect();
    let by_id: HashMap<&str, &AttendanceEvent> = events.iter().map(|e| (e.event_id.as_str(), e)).collect();
    let detected_at = rfc3339(now_us);
    let mut anomalies: Vec<Anomaly> = Vec::new();
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
        let registrations = anomaly.registrations as f64;
        anomalies.push(Anomaly::Event(EventAnomalyView {
            head: AnomalyHead {
                id: format!("{}-{}", anomaly.kind, anomaly.event_id),
                kind: anomaly.kind,
                severity: anomaly.severity,
                // One minus the two-sided p-value of the z-score.
                confidence: 1.0 - footprint_analytics::stats::two_sided_normal_p(anomaly.z_score),
                detected_at: detected_at.clone(),
            },
            possible_causes: causes,
            impact: AnomalyImpact {
                severity: anomaly.severity,
                affected_users: if anomaly.z_score < 0.0 { missing } else { 0 },
            },
            event: AnomalousEvent {
                id: anomaly.event_id.clone(),
                name: names.get(anomaly.event_id.as_str()).map(|name| (*name).to_owned()),
                date: rfc3339(anomaly.start_us),
            },
            description: format!(
                "{} of {} registrants came; {:.1} were expected",
                anomaly.actual, anomaly.registrations, anomaly.expected
            ),
            metrics: EventAnomalyMetrics {
                expected: anomaly.expected / registrations,
                actual: anomaly.actual as f64 / registrations,
                deviation: (anomaly.actual as f64 - anomaly.expected) / registrations,
                z_score: anomaly.z_score,
                registrations: anomaly.registrations,
                expected_attendees: anomaly.expected,
                attendees: anomaly.actual,
            },
        }));
    }
    if wanted("user_behavior") {
        for user in &user_anomalies {
            anomalies.push(Anomaly::User(UserAnomalyView {
                head: AnomalyHead {
                    id: format!("missed_streak-{}", user.user_id),
                    kind: "missed_streak",
                    severity: user.severity,
                    // The chance of such a run at the user's earlier rate is `probability`.
                    confidence: 1.0 - user.probability,
                    detected_at: detected_at.clone(),
                },
                user_id: user.user_id.clone(),
                user: AnomalousUser { id: user.user_id.clone(), previous_attendance_rate: user.rate_before },
                pattern: MissPattern { consecutive_misses: user.missed_in_a_row },
                description: format!(
                    "missed {} events in a row after attending {:.0} % before",
                    user.missed_in_a_row,
                    user.rate_before * 100.0
                ),
                metrics: UserAnomalyMetrics {
                    missed_in_a_row: user.missed_in_a_row,
                    rate_before: user.rate_before,
                    probability: user.probability,
                },
            }));
        }
    }
    let count = |level: &str| anomalies.iter().filter(|a| a.severity() == level).count();
    Ok(AnomalyReport {
        analysis_id: format!("anom-{}", ulid::Ulid::new().to_string().to_lowercase()),
        generated_at: rfc3339(now_us),
        timeframe: Bounds { start: rfc3339(start), end: rfc3339(end) },
        sensitivity: sensitivity.to_owned(),
        expectation: if uses_model { "the attendance model" } else { "each registrant's smoothed history rate" },
        summary: AnomalySummary {
            total_anomalies: anomalies.len(),
            high_severity: count("high"),
            medium_severity: count("medium"),
            low_severity: count("low"),
            // Per event tested: the chance of |z| ≥ threshold under the null.
            false_positive_rate: footprint_analytics::stats::two_sided_normal_p(threshold),
        },
        anomalies,
    })
}

/// The answer of `POST /ml/anomalies`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnomalyReport {
    pub analysis_id: String,
    pub generated_at: String,
    pub timeframe: Bounds,
    pub sensitivity: String,
    /// What attendance was measured against.
    pub expectation: &'static str,
    pub summary: AnomalySummary,
    #[schema(value_type = Vec<Object>)]
    pub anomalies: Vec<Anomaly>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Bounds {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnomalySummary {
    pub total_anomalies: usize,
    pub high_severity: usize,
    pub medium_severity: usize,
    pub low_severity: usize,
    pub false_positive_rate: f64,
}

/// An event or a user far from expectation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Anomaly {
    Event(EventAnomalyView),
    User(UserAnomalyView),
}

impl Anomaly {
    fn severity(&self) -> &'static str {
        match self {
            Anomaly::Event(anomaly) => anomaly.head.severity,
            Anomaly::User(anomaly) => anomaly.head.severity,
        }
    }
}

/// What every anomaly says first: its id, type, severity, confidence and when it was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnomalyHead {
    pub id: String,
    /// `attendance_drop`, `attendance_spike`, `outlier_event` or `missed_streak`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub severity: &'static str,
    pub confidence: f64,
    pub detected_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventAnomalyView {
    #[serde(flatten)]
    pub head: AnomalyHead,
    /// What the records say about the event (facts, not guesses).
    pub possible_causes: Vec<String>,
    pub impact: AnomalyImpact,
    pub event: AnomalousEvent,
    pub description: String,
    pub metrics: EventAnomalyMetrics,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnomalyImpact {
    pub severity: &'static str,
    /// Expected attendees who did not come (0 above expectation).
    pub affected_users: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnomalousEvent {
    pub id: String,
    pub name: Option<String>,
    pub date: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventAnomalyMetrics {
    /// Rates: expected, actual and their difference.
    pub expected: f64,
    pub actual: f64,
    pub deviation: f64,
    pub z_score: f64,
    pub registrations: usize,
    pub expected_attendees: f64,
    pub attendees: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserAnomalyView {
    #[serde(flatten)]
    pub head: AnomalyHead,
    pub user_id: String,
    pub user: AnomalousUser,
    pub pattern: MissPattern,
    pub description: String,
    pub metrics: UserAnomalyMetrics,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnomalousUser {
    pub id: String,
    pub previous_attendance_rate: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MissPattern {
    pub consecutive_misses: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserAnomalyMetrics {
    pub missed_in_a_row: u64,
    pub rate_before: f64,
    pub probability: f64,
}
