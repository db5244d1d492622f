//! Seed 004's insights (rates by day and time slot with their sample sizes, the trend and its
//! significance, engagement segments, event performance, operational figures), batch
//! predictions over many events, and test predictions on inputs given by hand.

use std::collections::{BTreeMap, HashMap};

use footprint_analytics::attendance::{self, EventInfo, History, LevelRate, RegistrationInfo};
use footprint_analytics::engagement;
use footprint_analytics::stats::{chi_square_independence, proportion_trend};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::app::state::AppState;
use crate::attendance::model::{
    self as attendance_model, Budget, Person, event_info, histories_before, model_summary, overall_view, predict_event,
    ready_model, records, records_of, registered, registration_info,
};
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;
use crate::kernel::time::{DAY_US, TimeWindow, WEEK_US, parse_instant};

const CATEGORIES: [&str; 4] = ["attendance_trends", "user_engagement", "event_performance", "operational_efficiency"];
/// Most events one batch prediction covers.
pub const BATCH_MAX_EVENTS: usize = 500;

fn invalid(message: String) -> ApiError {
    ApiError::InvalidParameters(message)
}

/// The insights' timeframe: a named window or `{start, end}` (default `last_quarter`); an open
/// end is now. Returns (start, end, label).
fn timeframe(value: Option<&Value>, now_us: i64) -> Result<(Option<i64>, i64, String), ApiError> {
    let (window, label) = match TimeWindow::from_json("timeframe", value, now_us)? {
        Some(found) => found,
        None => (TimeWindow::named("timeframe", "last_quarter", now_us)?, "last_quarter".to_owned()),
    };
    Ok((window.start_us, window.end_us.unwrap_or(now_us), label))
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InsightsRequest {
    /// `organization` (default; with `organizationId`, that organisation's events only).
    pub scope: Option<String>,
    pub organization_id: Option<String>,
    /// `last_week`, `last_month`, `last_quarter` (default), `last_year`, `all`, or `{start, end}`.
    #[schema(value_type = Option<Object>)]
    pub timeframe: Option<Value>,
    /// `attendance_trends`, `user_engagement`, `event_performance`, `operational_efficiency`
    /// (default all).
    pub categories: Option<Vec<String>>,
    /// `summary` or `detailed` (default; adds chart data).
    pub depth: Option<String>,
    /// Add recommendations and action items (default true).
    pub include_recommendations: Option<bool>,
    /// A time budget below `ml.analysis_timeout_secs`.
    pub timeout_ms: Option<u64>,
}

fn day_name(level: &str) -> String {
    let mut chars = level.chars();
    chars.next().map_or_else(String::new, |first| first.to_uppercase().collect::<String>() + chars.as_str())
}

/// Whether rates differ between the levels at all (χ² on attended/missed by level).
fn levels_differ(levels: &[LevelRate]) -> Option<f64> {
    let table: Vec<Vec<u64>> = levels.iter().map(|l| vec![l.attended, l.registrations - l.attended]).collect();
    chi_square_independence(&table).map(|test| test.p_value)
}

fn impact(p_value: Option<f64>, difference: f64) -> &'static str {
    match p_value {
        Some(p) if p < 0.01 && difference.abs() >= 0.1 => "high",
        Some(p) if p < 0.05 => "medium",
        _ => "low",
    }
}

/// Insights over the attendance in the timeframe, each with its confidence (1 − the p-value of
/// the test behind it), the sample it rests on and, when asked, recommendations.
pub async fn insights(state: &AppState, request: InsightsRequest) -> Result<Value, ApiError> {
    let budget = Budget::new(state, request.timeout_ms)?;
    if let Some(scope) = request.scope.as_deref()
        && scope != "organization"
    {
        return Err(invalid(format!("scope: only organization is available, not {scope}")));
    }
    let categories: Vec<String> = request.categories.clone().unwrap_or_else(|| CATEGORIES.map(str::to_owned).to_vec());
    if let Some(unknown) = categories.iter().find(|c| !CATEGORIES.contains(&c.as_str())) {
        return Err(invalid(format!("categories: {unknown} is not one of {}", CATEGORIES.join(", "))));
    }
    let detailed = match request.depth.as_deref() {
        None | Some("detailed") => true,
        Some("summary") => false,
        Some(other) => return Err(invalid(format!("depth: summary or detailed, not {other}"))),
    };
    let with_recommendations = request.include_recommendations.unwrap_or(true);
    let now_us = state.clock.now_us();
    let (start, end, label) = timeframe(request.timeframe.as_ref(), now_us)?;
    // Registrations follow the events: another organisation's never enter the counts.
    let (events, registrations) = records_of(state, request.organization_id.clone(), start, Some(end)).await?;
    budget.check("reading the attendance records")?;
    let known = registrations.iter().filter(|r| r.attended.is_some()).count();
    if known < 30 {
        return Err(ApiError::InsufficientData {
            message: format!(
                "insights need at least 30 registrations with a known outcome in the timeframe; there are {known}"
            ),
            needed: 30,
            available: known as u64,
        });
    }
    let infos: Vec<EventInfo> = events.iter().map(event_info).collect();
    let regs: Vec<RegistrationInfo> = registrations.iter().map(registration_info).collect();
    let registrations_total = registrations.len();
    let seed = state.config.segmentation.seed;
    let computed = budget
        .run(state, "computing the insights", move || {
            let (space, examples, _) = attendance::examples(&infos, &regs);
            let analysis = attendance::analyze_factors(&space, &examples, &infos, &regs);
            let origin = examples.first().map_or(0, |e| e.event_start_us);
            let weeks: Vec<f64> =
                examples.iter().map(|e| (e.event_start_us - origin) as f64 / WEEK_US as f64).collect();
            let outcomes: Vec<bool> = examples.iter().map(|e| e.attended).collect();
            let trend = proportion_trend(&weeks, &outcomes);
            let mut weekly: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
            for e in &examples {
                let week = footprint_analytics::time::week_start(e.event_start_us);
                let entry = weekly.entry(week).or_default();
                entry.0 += 1;
                entry.1 += u64::from(e.attended);
            }
            let users = engagement::user_engagement(&infos, &regs);
            let segmentation = engagement::segment(&users, 5, seed);
            let stability = segmentation.as_ref().and_then(|found| engagement::stability(&infos, &regs, found.k, seed));
            (analysis, trend, weekly, users.len(), segmentation, stability, infos, regs)
        })
        .await?;
    let (analysis, trend, weekly, users_seen, segmentation, stability, infos, regs) = computed;
    let overall_rate = {
        let levels = analysis.levels.get("day_of_week").map(Vec::as_slice).unwrap_or_default();
        levels.iter().map(|l| l.attended).sum::<u64>() as f64
            / levels.iter().map(|l| l.registrations).sum::<u64>().max(1) as f64
    };
    let mut found: Vec<Value> = Vec::new();
    let mut action_items: Vec<Value> = Vec::new();
    let wanted = |category: &str| categories.iter().any(|c| c == category);

    if wanted("attendance_trends") {
        let days = analysis.levels.get("day_of_week").cloned().unwrap_or_default();
        let slots = analysis.levels.get("time_slot").cloned().unwrap_or_default();
        let best_day = attendance::best_level(&days);
        let best = best_day.as_ref().map(|f| &f.level);
        let (rest, p) = best_day.as_ref().map_or((overall_rate, None), |f| (f.rest_rate, f.p_value));
        let difference = best.map_or(0.0, |b| b.rate - rest);
        let mut recommendations = Vec::new();
        if let (Some(best), Some(p)) = (best, p)
            && p < 0.05
            && difference > 0.0
        {
            recommendations.push(format!("Schedule important events on {}", day_name(&best.level)));
            if let Some(worst) = days.last().filter(|w| w.level != best.level) {
                recommendations.push(format!(
                    "Consider moving {} events ({:.0} %) to {} ({:.0} %)",
                    day_name(&worst.level),
                    worst.rate * 100.0,
                    day_name(&best.level),
                    best.rate * 100.0
                ));
            }
            action_items.push(json!({
                "priority": if difference >= 0.1 { "high" } else { "medium" },
                "title": "Optimise event scheduling",
                "description": format!("Move events to {}: its attendance is {:.0} points above the other days", day_name(&best.level), difference * 100.0),
                "estimatedImpact": format!("{:+.0} points of attendance for each event moved", difference * 100.0),
                "evidence": {"registrations": best.registrations, "pValue": p},
            }));
        }
        let trend_view = trend.map(|t| {
            json!({
                "slopePerWeek": t.slope,
                "zScore": t.z,
                "pValue": t.p_value,
                "direction": match t.p_value {
                    p if p < 0.05 && t.slope > 0.0 => "improving",
                    p if p < 0.05 => "declining",
                    _ => "stable",
                },
                "observations": t.observations,
            })
        });
        let mut insight = json!({
            "category": "attendance_trends",
            "title": match (best, p) {
                (Some(best), Some(p)) if p < 0.05 && difference > 0.0 => format!("{} has the highest attendance", day_name(&best.level)),
                _ => "No day stands out".to_owned(),
            },
            "description": best.map_or_else(String::new, |best| format!(
                "{} events: {:.0} % attendance against {:.0} % on the other days ({} registrations)",
                day_name(&best.level), best.rate * 100.0, rest * 100.0, best.registrations
            )),
            "confidence": p.map(|p| 1.0 - p),
            "impact": impact(p, difference),
            "data": {
                "averageRate": overall_rate,
                "byDayOfWeek": days,
                "byTimeSlot": slots,
                "dayDifferencePValue": levels_differ(&days),
                "timeSlotDifferencePValue": levels_differ(&slots),
                "sampleSize": days.iter().map(|l| l.registrations).sum::<u64>(),
                "trend": trend_view,
            },
            "recommendations": recommendations,
        });
        if detailed {
            insight["visualization"] = json!({
                "type": "bar_chart",
                "data": days.iter().map(|l| json!({"day": day_name(&l.level), "rate": l.rate, "registrations": l.registrations})).collect::<Vec<_>>(),
                "weekly": weekly.iter().map(|(week, (n, attended))| json!({"week": rfc3339(*week), "rate": *attended as f64 / *n as f64, "registrations": n})).collect::<Vec<_>>(),
            });
        }
        found.push(insight);
    }

    if wanted("user_engagement") {
        match &segmentation {
            Some(segmentation) => {
                let occasional = segmentation.segments.iter().find(|s| s.name.starts_with("Occasional"));
                let mut recommendations = Vec::new();
                if let Some(low) = occasional {
                    recommendations.push(format!(
                        "Remind the {} {} before events: they came to {:.0} % of their registrations",
                        low.users,
                        low.name.to_lowercase(),
                        low.attendance_rate * 100.0
                    ));
                    action_items.push(json!({
                        "priority": if low.share >= 0.1 { "high" } else { "medium" },
                        "title": "Re-engage the occasional attendees",
                        "description": format!("{} users ({:.0} % of the segmented ones) attend {:.0} % of the time against {:.0} %", low.users, low.share * 100.0, low.attendance_rate * 100.0, segmentation.overall_rate * 100.0),
                        "estimatedImpact": format!("{:+.0} points of attendance for these users if they reached the average", (segmentation.overall_rate - low.attendance_rate).max(0.0) * 100.0),
                        "evidence": {"users": low.users, "registrations": low.registrations, "zScore": low.z_score},
                    }));
                }
                if let Some(high) = segmentation.segments.iter().find(|s| s.name.starts_with("High")) {
                    recommendations.push(format!("Keep the {} high engagers close (loyalty offers, early access)", high.users));
                }
                found.push(json!({
                    "category": "user_engagement",
                    "title": format!("{} engagement segments", segmentation.k),
                    "description": format!("{} users with at least {} known outcomes fall into {} groups (silhouette {:.2})", segmentation.users_segmented, engagement::MIN_REGISTRATIONS, segmentation.k, segmentation.silhouette),
                    // How far the same segments are found again on alternate registrations
                    // (adjusted Rand index), not a test on the rates the clustering used.
                    "confidence": stability.map(|ari| ari.clamp(0.0, 1.0)),
                    "impact": match stability {
                        Some(ari) if ari >= 0.5 => "high",
                        Some(ari) if ari >= 0.2 => "medium",
                        _ => "low",
                    },
                    "segments": segmentation.segments.iter().map(|s| json!({
                        "name": s.name,
                        "size": s.share,
                        "users": s.users,
                        "attendanceRate": s.attendance_rate,
                        "registrations": s.registrations,
                        "zScore": s.z_score,
                        "meanRegistrations": s.mean_registrations,
                        "meanLeadTimeDays": s.mean_lead_days,
                        "lastMinuteShare": s.last_minute_share,
                        "characteristics": s.characteristics,
                        "exampleUsers": s.example_users,
                    })).collect::<Vec<_>>(),
                    "data": {
                        "usersSegmented": segmentation.users_segmented,
                        "usersLeftOut": segmentation.users_left_out,
                        "features": engagement::FEATURES,
                        "silhouette": segmentation.silhouette,
                        "silhouetteByK": segmentation.scores,
                        "stability": stability,
                    },
                    "recommendations": recommendations,
                }));
            }
            None => found.push(json!({
                "category": "user_engagement",
                "title": "Too few users to segment",
                "description": format!("segments need {} users with at least {} known outcomes; {users_seen} users have any", engagement::MIN_USERS, engagement::MIN_REGISTRATIONS),
                "confidence": null,
                "impact": "low",
                "segments": [],
                "recommendations": [],
            })),
        }
    }

    if wanted("event_performance") {
        let types = analysis.levels.get("event_type").cloned().unwrap_or_default();
        let names: HashMap<&str, &str> = events.iter().map(|e| (e.event_id.as_str(), e.name.as_str())).collect();
        let mut per_event: HashMap<&str, (u64, u64)> = HashMap::new();
        for r in regs.iter() {
            if let Some(attended) = r.attended {
                let entry = per_event.entry(r.event_id.as_str()).or_default();
                entry.0 += 1;
                entry.1 += u64::from(attended);
            }
        }
        let starts: HashMap<&str, i64> = infos.iter().map(|e| (e.event_id.as_str(), e.start_us)).collect();
        let mut ranked: Vec<(&str, u64, u64)> = per_event
            .iter()
            .filter(|(id, (n, _))| *n >= 5 && starts.contains_key(*id))
            .map(|(id, (n, a))| (*id, *n, *a))
            .collect();
        ranked
            .sort_by(|a, b| (b.2 as f64 / b.1 as f64).total_cmp(&(a.2 as f64 / a.1 as f64)).then_with(|| a.0.cmp(b.0)));
        let view = |(id, n, a): &(&str, u64, u64)| json!({"eventId": id, "name": names.get(id), "date": starts.get(id).map(|s| rfc3339(*s)), "registrations": n, "attended": a, "rate": *a as f64 / *n as f64});
        let p = levels_differ(&types);
        found.push(json!({
            "category": "event_performance",
            "title": match types.first() {
                Some(best) if types.len() > 1 && p.is_some_and(|p| p < 0.05) => format!("{} events draw the most", best.level),
                _ => "Event types perform alike".to_owned(),
            },
            "description": format!("{} events with at least 5 known outcomes; rates by type below", ranked.len()),
            "confidence": p.map(|p| 1.0 - p),
            "impact": impact(p, types.first().map_or(0.0, |b| b.rate) - types.last().map_or(0.0, |w| w.rate)),
            "data": {
                "byEventType": types,
                "typeDifferencePValue": p,
                "best": ranked.iter().take(3).map(view).collect::<Vec<_>>(),
                "worst": ranked.iter().rev().take(3).map(view).collect::<Vec<_>>(),
            },
            "recommendations": [],
        }));
    }

    if wanted("operational_efficiency") {
        let attended_by_event: HashMap<&str, u64> =
            regs.iter().filter(|r| r.attended == Some(true)).fold(HashMap::new(), |mut map, r| {
                *map.entry(r.event_id.as_str()).or_default() += 1;
                map
            });
        let with_capacity: Vec<(u64, i64)> = events
            .iter()
            .filter_map(|e| {
                e.capacity
                    .filter(|c| *c > 0)
                    .map(|c| (attended_by_event.get(e.event_id.as_str()).copied().unwrap_or(0), c))
            })
            .collect();
        let utilisation = (!with_capacity.is_empty()).then(|| {
            with_capacity.iter().map(|(a, c)| *a as f64 / *c as f64).sum::<f64>() / with_capacity.len() as f64
        });
        let no_show = 1.0 - overall_rate;
        found.push(json!({
            "category": "operational_efficiency",
            "title": format!("{:.0} % of registrants do not come", no_show * 100.0),
            "description": match utilisation {
                Some(u) => format!("events with a capacity fill {:.0} % of it with attendees", u * 100.0),
                None => "no event in the timeframe has a capacity".to_owned(),
            },
            "confidence": null,
            "impact": if no_show >= 0.3 { "high" } else if no_show >= 0.15 { "medium" } else { "low" },
            "data": {
                "noShowRate": no_show,
                "registrationsWithOutcome": known,
                "registrations": registrations_total,
                "events": events.len(),
                "meanRegistrationsPerEvent": registrations_total as f64 / events.len().max(1) as f64,
                "capacityUtilisation": utilisation,
                "eventsWithCapacity": with_capacity.len(),
            },
            "recommendations": if no_show >= 0.15 { vec![format!("Overbook by about {:.0} % or send reminders: {:.0} % of registrants miss", no_show / (1.0 - no_show).max(0.01) * 100.0, no_show * 100.0)] } else { Vec::new() },
        }));
    }

    let key_findings = found.iter().filter(|i| i["confidence"].as_f64().is_some_and(|c| c >= 0.95)).count();
    let share_known = known as f64 / registrations_total.max(1) as f64;
    if !with_recommendations {
        for insight in &mut found {
            insight.as_object_mut().map(|o| o.remove("recommendations"));
        }
        action_items.clear();
    }
    let actionable = found.iter().map(|i| i["recommendations"].as_array().map_or(0, Vec::len)).sum::<usize>();
    Ok(json!({
        "insightId": format!("insight-{}", ulid::Ulid::new().to_string().to_lowercase()),
        "generatedAt": rfc3339(now_us),
        "scope": request.scope.unwrap_or_else(|| "organization".to_owned()),
        "timeframe": {"start": start.map(rfc3339), "end": rfc3339(end), "label": label},
        "summary": {
            "keyFindings": key_findings,
            "actionableInsights": actionable,
            // The share of registrations whose outcome (came or not) is recorded.
            "dataQuality": if share_known >= 0.9 { "high" } else if share_known >= 0.6 { "medium" } else { "low" },
            "knownOutcomeShare": share_known,
            "registrationsAnalysed": known,
        },
        "insights": found,
        "actionItems": action_items,
    }))
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
        "h" => Ok(value * 3_600_000_000),
        "w" => Ok(value * WEEK_US),
        _ => Err(invalid(format!("timeHorizon: a number of days or hours such as 30d or 12h, not {text}"))),
    }
}

/// Predictions for many events at once, from one read of the history; events that cannot be
/// predicted are listed with the reason, and `PREDICTION_FAILED` is answered when none can.
pub async fn batch_predict(state: &AppState, request: BatchRequest) -> Result<(Value, usize), ApiError> {
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
                    failures.push(json!({"eventId": id, "code": "NOT_FOUND", "message": format!("no attendance event {id}")}));
                    continue;
                };
                if participants.is_empty() {
                    failures.push(json!({"eventId": id, "code": "INSUFFICIENT_DATA", "message": format!("event {id} has no registrations")}));
                    continue;
                }
                let prediction = predict_event(&model, event, participants, histories);
                all.extend_from_slice(&prediction.probabilities);
                predicted.push(json!({
                    "eventId": event.event_id,
                    "name": event.name,
                    "startsAt": rfc3339(event.start_us),
                    "capacity": event.capacity,
                    "overall": overall_view(&prediction.probabilities),
                    "individual": if individual { Value::Array(prediction.individual) } else { Value::Null },
                }));
            }
            (predicted, failures, all)
        })
        .await?;
    let (predicted, failures, all) = computed;
    if predicted.is_empty() {
        return Err(ApiError::PredictionFailed {
            message: format!("none of the {count} events could be predicted; details lists why for each"),
            details: failures,
        });
    }
    let predictions = all.len();
    Ok((
        json!({
            "batchId": format!("batch-{}", ulid::Ulid::new().to_string().to_lowercase()),
            "generatedAt": rfc3339(now_us),
            "predictionType": if individual { "individual" } else { "aggregate" },
            "timeHorizon": request.time_horizon.unwrap_or_else(|| "30d".to_owned()),
            "summary": {
                "eventsRequested": count,
                "eventsPredicted": predicted.len(),
                "eventsFailed": failures.len(),
                // Independent people across the events: one Poisson-binomial over them all.
                "overall": overall_view(&all),
            },
            "events": predicted,
            "failed": failures,
            "model": model_summary(&record),
        }),
        predictions,
    ))
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
    pub weather: Option<Value>,
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
pub async fn test_prediction(state: &AppState, request: TestPredictionRequest) -> Result<Value, ApiError> {
    let (record, model) = match &request.model_id {
        None => ready_model(state).await?,
        Some(id) => attendance_model::usable_model(state, id).await?,
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
    match &data.weather {
        None | Some(Value::Null) => {}
        Some(Value::String(condition)) => event.weather = Some(json!({"condition": condition}).to_string()),
        Some(object @ Value::Object(_)) => event.weather = Some(object.to_string()),
        Some(_) => return Err(invalid("testData.weather: a condition such as rain, or an object".to_owned())),
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
    let inputs: serde_json::Map<String, Value> =
        model.space.names.iter().cloned().zip(features.iter().map(|v| json!(v))).collect();
    let prediction = model.explain(features);
    Ok(json!({
        "modelId": record.model_id,
        "version": record.version,
        "resolved": {
            "eventDate": rfc3339(start_us),
            "dayOfWeek": DAYS[attendance::weekday(start_us)],
            "timeSlot": attendance::time_slot(start_us),
            "eventType": event.event_type,
            "registeredAt": rfc3339(registered_at_us),
            "badWeather": info.bad_weather,
            "pastRegistrations": history.registrations,
            "features": inputs,
        },
        "prediction": crate::attendance::model::person_view(
            data.user_id.as_deref().unwrap_or("test-user"), &prediction, &history),
        "actual": actual,
        "model": model_summary(&record),
    }))
}
