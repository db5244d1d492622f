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
        let expected = prediction.overall.expected_attendance;
        let high = prediction.overall.interval.high;
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
            "confidence": prediction.overall.confidence,
            "evidence": {"registrations": prediction.overall.total_registered},
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
