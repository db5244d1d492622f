//! Scheduling, engagement and capacity advice from measured rates and predictions.

use super::*;

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

/// What advice a request may focus on.
const FOCUS: [&str; 4] = ["attendance_optimization", "scheduling", "engagement", "resource_allocation"];

/// Scheduling, engagement and capacity advice computed from measured rates and predictions.
pub async fn recommendations(state: &AppState, request: RecommendationRequest) -> Result<Recommendations, ApiError> {
    let budget = Budget::new(state, request.timeout_ms)?;
    check_listed("focus", request.focus.as_deref(), &FOCUS)?;
    let now_us = state.clock.now_us();
    let (events, registrations) = records(state, None, Some(now_us)).await?;
    let infos: Vec<EventInfo> = events.iter().map(event_info).collect();
    let regs: Vec<RegistrationInfo> = registrations.iter().map(registration_info).collect();
    let (analysis, histories, known) = {
        let (infos, regs) = (infos.clone(), regs.clone());
        budget
            .run(state, "measuring the rates", move || {
                let (_, examples, histories) = attendance::examples(&infos, &regs);
                (attendance::analyze_factors(&infos, &regs), histories, examples.len())
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
                let difference = best.rate - others_rate;
                let confidence = Some(1.0 - p.unwrap_or(1.0));
                recommendations.push(Recommendation {
                    category: "scheduling",
                    priority: if difference >= 0.1 { "high" } else { "medium" },
                    title: format!("Best {label}: {}", best.level),
                    description: format!(
                        "{} events have {:.0} % attendance against {:.0} % on other {label}s",
                        best.level,
                        best.rate * 100.0,
                        others_rate * 100.0
                    ),
                    impact: Impact {
                        metric: Some("attendance_rate"),
                        expected: Some(best.rate),
                        baseline: Some(others_rate),
                        difference: Some(difference),
                        expected_improvement: Some(difference),
                        confidence,
                        ..Impact::default()
                    },
                    confidence,
                    evidence: Evidence::of(best.registrations, Some(best.attended), p, None),
                });
            }
        }
    }
    if wanted("engagement") {
        let low: Vec<&History> =
            histories.values().filter(|h| h.registrations >= 5 && h.smoothed_rate(overall) < 0.4).collect();
        if !low.is_empty() {
            let rate = low.iter().map(|h| h.attended).sum::<u64>() as f64
                / low.iter().map(|h| h.registrations).sum::<u64>().max(1) as f64;
            let registrations = low.iter().map(|h| h.registrations).sum::<u64>();
            recommendations.push(Recommendation {
                category: "engagement",
                priority: if low.len() * 10 >= histories.len() { "high" } else { "medium" },
                title: "Remind the users who often miss".to_owned(),
                description: format!(
                    "{} of {} users came to {:.0} % of their registrations (overall {:.0} %): remind them before events",
                    low.len(),
                    histories.len(),
                    rate * 100.0,
                    overall * 100.0
                ),
                // For these users, if they came as often as everyone does.
                impact: Impact {
                    metric: Some("attendance_rate"),
                    users_concerned: Some(low.len()),
                    their_rate: Some(rate),
                    overall_rate: Some(overall),
                    expected_improvement: Some((overall - rate).max(0.0)),
                    ..Impact::default()
                },
                // These users were picked for their low rate: a test of that rate on the same
                // records would be circular, so none is claimed.
                confidence: None,
                evidence: Evidence::of(registrations, None, None, Some(low.len())),
            });
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
        let expected = prediction.overall.expected_attendance;
        let high = prediction.overall.interval.high;
        let confidence = Some(prediction.overall.confidence);
        recommendations.push(Recommendation {
            category: "resource_allocation",
            priority: "medium",
            title: "Size the room for the expected attendance".to_owned(),
            description: format!(
                "{expected:.1} of the registrants are expected (90 % interval up to {high}); capacity {}",
                event.capacity.map_or("unset".to_owned(), |c| c.to_string())
            ),
            impact: Impact {
                expected_attendance: Some(expected),
                upper_bound: Some(high),
                capacity: Some(event.capacity),
                // The share of the capacity that the interval's upper bound leaves free.
                expected_improvement: event
                    .capacity
                    .filter(|c| *c > 0)
                    .map(|c| (c as f64 - high as f64).max(0.0) / c as f64),
                confidence,
                ..Impact::default()
            },
            // The probability, under the model, that attendance falls in the interval the
            // advice rests on.
            confidence,
            evidence: Evidence::of(prediction.overall.total_registered as u64, None, None, None),
        });
    }
    let count = |priority: &str| recommendations.iter().filter(|r| r.priority == priority).count();
    Ok(Recommendations {
        recommendation_id: format!("rec-{}", ulid::Ulid::new().to_string().to_lowercase()),
        generated_at: rfc3339(now_us),
        kind: request.kind.unwrap_or_else(|| "event_optimization".to_owned()),
        based_on: BasedOn { registrations: total, overall_rate: overall },
        summary: RecommendationSummary {
            total_recommendations: recommendations.len(),
            high_priority: count("high"),
            medium_priority: count("medium"),
            low_priority: count("low"),
        },
        recommendations,
    })
}

/// The answer of `POST /ml/recommendations`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recommendations {
    pub recommendation_id: String,
    pub generated_at: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub based_on: BasedOn,
    pub summary: RecommendationSummary,
    pub recommendations: Vec<Recommendation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BasedOn {
    pub registrations: u64,
    pub overall_rate: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecommendationSummary {
    pub total_recommendations: usize,
    pub high_priority: usize,
    pub medium_priority: usize,
    pub low_priority: usize,
}

/// One piece of advice, with its measured impact and the evidence it rests on.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Recommendation {
    /// `scheduling`, `engagement` or `resource_allocation`.
    pub category: &'static str,
    pub priority: &'static str,
    pub title: String,
    pub description: String,
    pub impact: Impact,
    /// Null when no test applies.
    pub confidence: Option<f64>,
    pub evidence: Evidence,
}

/// What following the advice changes; which figures it has depends on the category.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Impact {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub difference: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users_concerned: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub their_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overall_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_attendance: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper_bound: Option<u64>,
    /// The event's capacity (null when it has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Option<i64>>,
    /// The seed's name for the gain (null when it cannot be measured).
    pub expected_improvement: Option<f64>,
    /// The recommendation's confidence, where the seed reads it.
    pub confidence: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<usize>,
    pub registrations: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attended: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// The seed's name for the sample: the registrations.
    pub data_points: u64,
}

impl Evidence {
    fn of(registrations: u64, attended: Option<u64>, p_value: Option<f64>, users: Option<usize>) -> Self {
        Self { users, registrations, attended, p_value, data_points: registrations }
    }
}
