//! Seed 004's insights: rates by day and time slot with their sample sizes, the trend and its
//! significance, engagement segments, event performance and operational figures, each with the
//! confidence of the test behind it and, when asked, recommendations and action items.

use footprint_analytics::attendance::{self, EventInfo, EventRate, FactorAnalysis, RegistrationInfo};
use footprint_analytics::engagement::{self, EngagementSegmentation};
use footprint_analytics::stats::{ProportionTrend, proportion_trend};
use footprint_store::AttendanceEvent;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::app::state::AppState;
use crate::attendance::model::{Budget, check_listed, event_info, records_of, registration_info};
use crate::attendance::views::{
    ActionEvidence, ActionItem, DayBar, EngagementData, Insight, InsightData, Insights, InsightsSummary,
    OperationsData, PerformanceData, RankedEvent, SegmentView, Timeframe, TrendData, TrendView, Visualization, WeekBar,
};
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;
use crate::kernel::time::{TimeWindow, WEEK_US};

const CATEGORIES: [&str; 4] = ["attendance_trends", "user_engagement", "event_performance", "operational_efficiency"];
/// Fewest known outcomes insights are computed on.
const MIN_KNOWN: usize = 30;
/// Fewest known outcomes for an event to be ranked.
const MIN_EVENT_KNOWN: u64 = 5;

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

fn invalid(message: String) -> ApiError {
    ApiError::InvalidParameters(message)
}

fn day_name(level: &str) -> String {
    let mut chars = level.chars();
    chars.next().map_or_else(String::new, |first| first.to_uppercase().collect::<String>() + chars.as_str())
}

fn impact(p_value: Option<f64>, difference: f64) -> &'static str {
    match p_value {
        Some(p) if p < 0.01 && difference.abs() >= 0.1 => "high",
        Some(p) if p < 0.05 => "medium",
        _ => "low",
    }
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

/// Everything computed off the request thread, from which the insights are told.
struct Facts {
    analysis: FactorAnalysis,
    trend: Option<ProportionTrend>,
    weekly: Vec<(i64, u64, u64)>,
    users_seen: usize,
    segmentation: Option<EngagementSegmentation>,
    stability: Option<f64>,
    ranked: Vec<EventRate>,
    capacity: (Option<f64>, usize),
    overall_rate: f64,
}

fn compute(infos: &[EventInfo], regs: &[RegistrationInfo], capacities: &[(String, Option<i64>)], seed: u64) -> Facts {
    let (_, examples, _) = attendance::examples(infos, regs);
    let analysis = attendance::analyze_factors(infos, regs);
    let origin = examples.first().map_or(0, |e| e.event_start_us);
    let weeks: Vec<f64> = examples.iter().map(|e| (e.event_start_us - origin) as f64 / WEEK_US as f64).collect();
    let outcomes: Vec<bool> = examples.iter().map(|e| e.attended).collect();
    let users = engagement::user_engagement(infos, regs);
    let segmentation = engagement::segment(&users, 5, seed);
    let stability = segmentation.as_ref().and_then(|found| engagement::stability(infos, regs, found.k, seed));
    let overall_rate = {
        let levels = analysis.levels.get("day_of_week").map(Vec::as_slice).unwrap_or_default();
        levels.iter().map(|l| l.attended).sum::<u64>() as f64
            / levels.iter().map(|l| l.registrations).sum::<u64>().max(1) as f64
    };
    Facts {
        trend: proportion_trend(&weeks, &outcomes),
        weekly: attendance::weekly_rates(&examples),
        users_seen: users.len(),
        segmentation,
        stability,
        ranked: attendance::event_rates(infos, regs, MIN_EVENT_KNOWN),
        capacity: attendance::capacity_utilisation(capacities, regs),
        overall_rate,
        analysis,
    }
}

/// Insights over the attendance in the timeframe, each with its confidence (1 − the p-value of
/// the test behind it), the sample it rests on and, when asked, recommendations.
pub async fn insights(state: &AppState, request: InsightsRequest) -> Result<Insights, ApiError> {
    let budget = Budget::new(state, request.timeout_ms)?;
    if let Some(scope) = request.scope.as_deref()
        && scope != "organization"
    {
        return Err(invalid(format!("scope: only organization is available, not {scope}")));
    }
    let categories: Vec<String> = request.categories.clone().unwrap_or_else(|| CATEGORIES.map(str::to_owned).to_vec());
    check_listed("categories", Some(&categories), &CATEGORIES)?;
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
    if known < MIN_KNOWN {
        return Err(ApiError::InsufficientData {
            message: format!(
                "insights need at least {MIN_KNOWN} registrations with a known outcome in the timeframe; there are {known}"
            ),
            needed: MIN_KNOWN as u64,
            available: known as u64,
        });
    }
    let infos: Vec<EventInfo> = events.iter().map(event_info).collect();
    let regs: Vec<RegistrationInfo> = registrations.iter().map(registration_info).collect();
    let capacities: Vec<(String, Option<i64>)> = events.iter().map(|e| (e.event_id.clone(), e.capacity)).collect();
    let seed = state.config.segmentation.seed;
    let facts = budget.run(state, "computing the insights", move || compute(&infos, &regs, &capacities, seed)).await?;

    let wanted = |category: &str| categories.iter().any(|c| c == category);
    let mut found = Vec::new();
    let mut action_items = Vec::new();
    if wanted("attendance_trends") {
        found.push(attendance_trends(&facts, detailed, &mut action_items));
    }
    if wanted("user_engagement") {
        found.push(user_engagement(&facts, &mut action_items));
    }
    if wanted("event_performance") {
        found.push(event_performance(&facts, &events));
    }
    if wanted("operational_efficiency") {
        found.push(operational_efficiency(&facts, known, registrations.len(), events.len()));
    }

    let key_findings = found.iter().filter(|i| i.confidence.is_some_and(|c| c >= 0.95)).count();
    let share_known = known as f64 / registrations.len().max(1) as f64;
    if !with_recommendations {
        for insight in &mut found {
            insight.recommendations = None;
        }
        action_items.clear();
    }
    let actionable = found.iter().map(|i| i.recommendations.as_ref().map_or(0, Vec::len)).sum();
    Ok(Insights {
        insight_id: format!("insight-{}", ulid::Ulid::new().to_string().to_lowercase()),
        generated_at: rfc3339(now_us),
        scope: request.scope.unwrap_or_else(|| "organization".to_owned()),
        timeframe: Timeframe { start: start.map(rfc3339), end: rfc3339(end), label },
        summary: InsightsSummary {
            key_findings,
            actionable_insights: actionable,
            data_quality: if share_known >= 0.9 {
                "high"
            } else if share_known >= 0.6 {
                "medium"
            } else {
                "low"
            },
            known_outcome_share: share_known,
            registrations_analysed: known,
        },
        insights: found,
        action_items,
    })
}

/// Which day draws the most, against the others (Bonferroni-adjusted), rates by slot, and the
/// trend over the weeks.
fn attendance_trends(facts: &Facts, detailed: bool, action_items: &mut Vec<ActionItem>) -> Insight {
    let days = facts.analysis.levels.get("day_of_week").cloned().unwrap_or_default();
    let slots = facts.analysis.levels.get("time_slot").cloned().unwrap_or_default();
    let best_day = attendance::best_level(&days);
    let best = best_day.as_ref().map(|f| &f.level);
    let (rest, p) = best_day.as_ref().map_or((facts.overall_rate, None), |f| (f.rest_rate, f.p_value));
    let difference = best.map_or(0.0, |b| b.rate - rest);
    let stands_out = p.is_some_and(|p| p < 0.05) && difference > 0.0;
    let mut recommendations = Vec::new();
    if let (Some(best), Some(p), true) = (best, p, stands_out) {
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
        action_items.push(ActionItem {
            priority: if difference >= 0.1 { "high" } else { "medium" },
            title: "Optimise event scheduling",
            description: format!(
                "Move events to {}: its attendance is {:.0} points above the other days",
                day_name(&best.level),
                difference * 100.0
            ),
            estimated_impact: format!("{:+.0} points of attendance for each event moved", difference * 100.0),
            evidence: ActionEvidence {
                users: None,
                registrations: best.registrations,
                p_value: Some(p),
                z_score: None,
            },
        });
    }
    let visualization = detailed.then(|| Visualization {
        kind: "bar_chart",
        data: days
            .iter()
            .map(|l| DayBar { day: day_name(&l.level), rate: l.rate, registrations: l.registrations })
            .collect(),
        weekly: facts
            .weekly
            .iter()
            .map(|(week, n, attended)| WeekBar {
                week: rfc3339(*week),
                rate: *attended as f64 / *n as f64,
                registrations: *n,
            })
            .collect(),
    });
    Insight {
        category: "attendance_trends",
        title: match best {
            Some(best) if stands_out => format!("{} has the highest attendance", day_name(&best.level)),
            _ => "No day stands out".to_owned(),
        },
        description: best.map_or_else(String::new, |best| {
            format!(
                "{} events: {:.0} % attendance against {:.0} % on the other days ({} registrations)",
                day_name(&best.level),
                best.rate * 100.0,
                rest * 100.0,
                best.registrations
            )
        }),
        confidence: p.map(|p| 1.0 - p),
        impact: impact(p, difference),
        segments: None,
        data: Some(InsightData::Trends(TrendData {
            average_rate: facts.overall_rate,
            day_difference_p_value: attendance::levels_differ(&days),
            time_slot_difference_p_value: attendance::levels_differ(&slots),
            sample_size: days.iter().map(|l| l.registrations).sum(),
            by_day_of_week: days,
            by_time_slot: slots,
            trend: facts.trend.map(TrendView::from),
        })),
        recommendations: Some(recommendations),
        visualization,
    }
}

/// Users grouped by how they attend, with how stable the groups are.
fn user_engagement(facts: &Facts, action_items: &mut Vec<ActionItem>) -> Insight {
    let Some(segmentation) = &facts.segmentation else {
        return Insight {
            category: "user_engagement",
            title: "Too few users to segment".to_owned(),
            description: format!(
                "segments need {} users with at least {} known outcomes; {} users have any",
                engagement::MIN_USERS,
                engagement::MIN_REGISTRATIONS,
                facts.users_seen
            ),
            confidence: None,
            impact: "low",
            segments: Some(Vec::new()),
            data: None,
            recommendations: Some(Vec::new()),
            visualization: None,
        };
    };
    let mut recommendations = Vec::new();
    if let Some(low) = segmentation.segments.iter().find(|s| s.name.starts_with("Occasional")) {
        recommendations.push(format!(
            "Remind the {} {} before events: they came to {:.0} % of their registrations",
            low.users,
            low.name.to_lowercase(),
            low.attendance_rate * 100.0
        ));
        action_items.push(ActionItem {
            priority: if low.share >= 0.1 { "high" } else { "medium" },
            title: "Re-engage the occasional attendees",
            description: format!(
                "{} users ({:.0} % of the segmented ones) attend {:.0} % of the time against {:.0} %",
                low.users,
                low.share * 100.0,
                low.attendance_rate * 100.0,
                segmentation.overall_rate * 100.0
            ),
            estimated_impact: format!(
                "{:+.0} points of attendance for these users if they reached the average",
                (segmentation.overall_rate - low.attendance_rate).max(0.0) * 100.0
            ),
            evidence: ActionEvidence {
                users: Some(low.users),
                registrations: low.registrations,
                p_value: None,
                z_score: Some(low.z_score),
            },
        });
    }
    if let Some(high) = segmentation.segments.iter().find(|s| s.name.starts_with("High")) {
        recommendations.push(format!("Keep the {} high engagers close (loyalty offers, early access)", high.users));
    }
    Insight {
        category: "user_engagement",
        title: format!("{} engagement segments", segmentation.k),
        description: format!(
            "{} users with at least {} known outcomes fall into {} groups (silhouette {:.2})",
            segmentation.users_segmented,
            engagement::MIN_REGISTRATIONS,
            segmentation.k,
            segmentation.silhouette
        ),
        // How far the same segments are found again on alternate registrations (adjusted Rand
        // index), not a test on the rates the clustering used.
        confidence: facts.stability.map(|ari| ari.clamp(0.0, 1.0)),
        impact: match facts.stability {
            Some(ari) if ari >= 0.5 => "high",
            Some(ari) if ari >= 0.2 => "medium",
            _ => "low",
        },
        segments: Some(
            segmentation
                .segments
                .iter()
                .map(|s| SegmentView {
                    name: s.name.clone(),
                    size: s.share,
                    users: s.users,
                    attendance_rate: s.attendance_rate,
                    registrations: s.registrations,
                    z_score: s.z_score,
                    mean_registrations: s.mean_registrations,
                    mean_lead_time_days: s.mean_lead_days,
                    last_minute_share: s.last_minute_share,
                    characteristics: s.characteristics.clone(),
                    example_users: s.example_users.clone(),
                })
                .collect(),
        ),
        data: Some(InsightData::Engagement(EngagementData {
            users_segmented: segmentation.users_segmented,
            users_left_out: segmentation.users_left_out,
            features: engagement::FEATURES,
            silhouette: segmentation.silhouette,
            silhouette_by_k: segmentation.scores.clone(),
            stability: facts.stability,
        })),
        recommendations: Some(recommendations),
        visualization: None,
    }
}

/// Rates by event type and the best and worst events.
fn event_performance(facts: &Facts, events: &[AttendanceEvent]) -> Insight {
    let types = facts.analysis.levels.get("event_type").cloned().unwrap_or_default();
    let ranked_event = |rate: &EventRate| {
        let event = events.iter().find(|e| e.event_id == rate.event_id);
        RankedEvent {
            event_id: rate.event_id.clone(),
            name: event.map(|e| e.name.clone()),
            date: event.map(|e| rfc3339(e.start_us)),
            registrations: rate.registrations,
            attended: rate.attended,
            rate: rate.rate,
        }
    };
    let p = attendance::levels_differ(&types);
    Insight {
        category: "event_performance",
        title: match types.first() {
            Some(best) if types.len() > 1 && p.is_some_and(|p| p < 0.05) => {
                format!("{} events draw the most", best.level)
            }
            _ => "Event types perform alike".to_owned(),
        },
        description: format!(
            "{} events with at least {MIN_EVENT_KNOWN} known outcomes; rates by type below",
            facts.ranked.len()
        ),
        confidence: p.map(|p| 1.0 - p),
        impact: impact(p, types.first().map_or(0.0, |b| b.rate) - types.last().map_or(0.0, |w| w.rate)),
        segments: None,
        data: Some(InsightData::Performance(PerformanceData {
            type_difference_p_value: p,
            by_event_type: types,
            best: facts.ranked.iter().take(3).map(ranked_event).collect(),
            worst: facts.ranked.iter().rev().take(3).map(ranked_event).collect(),
        })),
        recommendations: Some(Vec::new()),
        visualization: None,
    }
}

/// No-shows and how full the rooms are.
fn operational_efficiency(facts: &Facts, known: usize, registrations: usize, events: usize) -> Insight {
    let (utilisation, with_capacity) = facts.capacity;
    let no_show = 1.0 - facts.overall_rate;
    let recommendations = if no_show >= 0.15 {
        vec![format!(
            "Overbook by about {:.0} % or send reminders: {:.0} % of registrants miss",
            no_show / (1.0 - no_show).max(0.01) * 100.0,
            no_show * 100.0
        )]
    } else {
        Vec::new()
    };
    Insight {
        category: "operational_efficiency",
        title: format!("{:.0} % of registrants do not come", no_show * 100.0),
        description: match utilisation {
            Some(u) => format!("events with a capacity fill {:.0} % of it with attendees", u * 100.0),
            None => "no event in the timeframe has a capacity".to_owned(),
        },
        confidence: None,
        impact: if no_show >= 0.3 {
            "high"
        } else if no_show >= 0.15 {
            "medium"
        } else {
            "low"
        },
        segments: None,
        data: Some(InsightData::Operations(OperationsData {
            no_show_rate: no_show,
            registrations_with_outcome: known,
            registrations,
            events,
            mean_registrations_per_event: registrations as f64 / events.max(1) as f64,
            capacity_utilisation: utilisation,
            events_with_capacity: with_capacity,
        })),
        recommendations: Some(recommendations),
        visualization: None,
    }
}
