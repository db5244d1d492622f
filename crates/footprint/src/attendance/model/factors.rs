//! `POST /ml/analyze-factors` in seed 004's shape: one entry per requested factor with its
//! correlation, significance, impact, a description and its rates by level under the seed's
//! key (`values`, `conditions`, `timeSlots`, `ranges`), the regression's fit under `model`, and
//! recommendations drawn from the significant factors.

use footprint_analytics::attendance::{Factor, FactorFit, FactorSummary, Impact, LevelRate, Measure};
use serde_json::Map;

use super::*;

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FactorRequest {
    /// Analyse the history up to this event's start (default: all history).
    pub event_id: Option<String>,
    /// Which factors to report: `weather`, `day_of_week`, `time_of_day` (or `time_slot`),
    /// `event_type`, `duration`, `location`, `price`, `instructor`, `historical_attendance`,
    /// `lead_time`; default all.
    pub factors: Option<Vec<String>>,
    /// `correlation` (the only analysis; others are refused).
    pub analysis_type: Option<String>,
    /// `{"start": RFC 3339, "end": RFC 3339}`, or a name (`last_week` … `all`).
    #[schema(value_type = Option<Object>)]
    pub time_range: Option<Value>,
    /// A time budget below `ml.analysis_timeout_secs`.
    pub timeout_ms: Option<u64>,
}

/// Registrations with a known outcome the analysis needs.
const MIN_EXAMPLES: usize = 30;

/// The factors named by `factors` (all without it: the built-in ones and every attribute the
/// registrations carry), or `INVALID_PARAMETERS` listing the names. A name that is not a
/// built-in factor is an attribute when the registrations carry it.
fn requested(factors: Option<&[String]>, attributes: Vec<Factor>) -> Result<Vec<Factor>, ApiError> {
    let Some(names) = factors else {
        return Ok(Factor::ALL.into_iter().chain(attributes).collect());
    };
    let mut chosen = Vec::with_capacity(names.len());
    for name in names {
        let factor =
            Factor::parse(name).or_else(|| attributes.iter().find(|a| a.name() == name).cloned()).ok_or_else(|| {
                let known: Vec<&str> = Factor::ALL.iter().chain(&attributes).map(|f| f.name()).collect();
                ApiError::InvalidParameters(format!(
                    "factors: {name} is not a factor or an attribute of these registrations; one of {}",
                    known.join(", ")
                ))
            })?;
        if !chosen.contains(&factor) {
            chosen.push(factor);
        }
    }
    if chosen.is_empty() {
        return Err(ApiError::InvalidParameters("factors: name at least one factor, or leave it out for all".into()));
    }
    Ok(chosen)
}

/// Each requested factor's correlation with attendance, its test, its rates by level, and the
/// regression of attending on those factors, over the attendance on record.
pub async fn analyze_factors(state: &AppState, request: FactorRequest) -> Result<FactorAnalysisView, ApiError> {
    let budget = Budget::new(state, request.timeout_ms)?;
    if let Some(kind) = request.analysis_type.as_deref()
        && kind != "correlation"
    {
        return Err(ApiError::InvalidParameters(format!("analysisType: only correlation is available, not {kind}")));
    }
    if request.factors.as_ref().is_some_and(Vec::is_empty) {
        return Err(ApiError::InvalidParameters("factors: name at least one factor, or leave it out for all".into()));
    }
    let range = TimeWindow::from_json("timeRange", request.time_range.as_ref(), state.clock.now_us())?
        .map(|(window, _)| window)
        .unwrap_or_default();
    let mut to_us = range.end_us;
    if let Some(event_id) = &request.event_id {
        let event = state
            .store
            .attendance_event(event_id)
            .await?
            .ok_or_else(|| ApiError::InvalidParameters(format!("eventId: no event {event_id}")))?;
        to_us = Some(to_us.map_or(event.start_us, |to| to.min(event.start_us)));
    }
    let (events, registrations) = records(state, range.start_us, to_us).await?;
    let infos: Vec<EventInfo> = events.iter().map(event_info).collect();
    let regs: Vec<RegistrationInfo> = registrations.iter().map(registration_info).collect();
    let factors = requested(request.factors.as_deref(), attendance::attribute_factors(&regs))?;
    let report =
        budget.run(state, "analysing the factors", move || attendance::factor_report(&infos, &regs, &factors)).await?;
    if report.examples < MIN_EXAMPLES {
        return Err(ApiError::InsufficientData {
            message: format!(
                "factor analysis needs at least {MIN_EXAMPLES} registrations with a known outcome; there are {}",
                report.examples
            ),
            needed: MIN_EXAMPLES as u64,
            available: report.examples as u64,
        });
    }
    Ok(FactorAnalysisView {
        analysis_id: format!("factors-{}", ulid::Ulid::new().to_string().to_lowercase()),
        event_id: request.event_id,
        generated_at: rfc3339(state.clock.now_us()),
        examples: report.examples,
        recommendations: recommendations(&report.factors),
        factors: report.factors.iter().map(FactorEntry::of).collect(),
        model: RegressionView::of(report.fit),
    })
}

/// The answer of `POST /ml/analyze-factors`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FactorAnalysisView {
    pub analysis_id: String,
    pub event_id: Option<String>,
    pub generated_at: String,
    /// Registrations with a known outcome analysed.
    pub examples: usize,
    pub factors: Vec<FactorEntry>,
    pub model: RegressionView,
    /// What to do about the significant factors, from their rates.
    pub recommendations: Vec<String>,
}

/// One factor, as seed 004 shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FactorEntry {
    /// A built-in factor's name, or an attribute's.
    pub name: String,
    pub correlation: Option<f64>,
    /// `pearson` (signed, with the value or the levels' rank) or `eta` (the correlation ratio, 0
    /// to 1, for levels without an order).
    #[schema(value_type = String)]
    pub measure: Measure,
    /// The correlation's p-value (Pearson's t-test; for `eta`, the χ² test that all levels have
    /// the same rate).
    pub significance: Option<f64>,
    /// `high` when the best and the worst level's rates are 15 points apart or more, `medium`
    /// from 5 points, else `low`; `low` too when not significant at 5 %.
    #[schema(value_type = Option<String>)]
    pub impact: Option<Impact>,
    pub description: String,
    /// Attendance rate by level (days, event types, locations, instructors).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub values: Option<Map<String, Value>>,
    /// Attendance rate by weather condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub conditions: Option<Map<String, Value>>,
    /// Attendance rate by two-hour slot (UTC), `"09:00-11:00"`, ….
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub time_slots: Option<Map<String, Value>>,
    /// Attendance rate by quartile of a number, `"low-high"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub ranges: Option<Map<String, Value>>,
    /// The same levels with their counts.
    #[schema(value_type = Vec<Object>)]
    pub levels: Vec<LevelRate>,
    /// Registrations with a known outcome where the factor is known.
    pub sample_size: u64,
}

impl FactorEntry {
    fn of(summary: &FactorSummary) -> Self {
        let rates: Map<String, Value> = summary.levels.iter().map(|l| (l.level.clone(), json!(l.rate))).collect();
        let (mut values, mut conditions, mut time_slots, mut ranges) = (None, None, None, None);
        match summary.factor {
            Factor::Weather => conditions = Some(rates),
            Factor::TimeOfDay => time_slots = Some(rates),
            Factor::Duration | Factor::Price | Factor::HistoricalAttendance | Factor::LeadTime => ranges = Some(rates),
            Factor::DayOfWeek | Factor::EventType | Factor::Location | Factor::Instructor => values = Some(rates),
            Factor::Attribute(_) if summary.measure == Measure::Pearson => ranges = Some(rates),
            Factor::Attribute(_) => values = Some(rates),
        }
        Self {
            name: summary.factor.name().to_owned(),
            correlation: summary.correlation,
            measure: summary.measure,
            significance: summary.significance,
            impact: summary.impact(),
            description: describe(summary),
            values,
            conditions,
            time_slots,
            ranges,
            levels: summary.levels.clone(),
            sample_size: summary.known,
        }
    }
}

/// The regression's fit, under the seed's names.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RegressionView {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub r_squared: Option<f64>,
    pub adjusted_r_squared: Option<f64>,
    pub f_statistic: Option<f64>,
    /// The F-test's p-value: that none of the factors moves attendance.
    pub p_value: Option<f64>,
    /// Registrations in the fit and its columns (indicators and numbers, no intercept).
    pub observations: Option<usize>,
    pub columns: Option<usize>,
}

impl RegressionView {
    fn of(fit: Option<FactorFit>) -> Self {
        Self {
            kind: "linear probability model (OLS of attended on the factors)",
            r_squared: fit.as_ref().map(|f| f.r_squared),
            adjusted_r_squared: fit.as_ref().map(|f| f.adjusted_r_squared),
            f_statistic: fit.as_ref().map(|f| f.f_statistic),
            p_value: fit.as_ref().map(|f| f.p_value),
            observations: fit.as_ref().map(|f| f.observations),
            columns: fit.as_ref().map(|f| f.columns),
        }
    }
}

fn percent(rate: f64) -> String {
    format!("{:.0}%", rate * 100.0)
}

fn is_significant(summary: &FactorSummary) -> bool {
    summary.significance.is_some_and(|p| p < 0.05)
}

fn p_text(p: f64) -> String {
    if p < 0.001 { "p < 0.001".to_owned() } else { format!("p = {p:.3}") }
}

/// What the numbers say, in a sentence.
fn describe(summary: &FactorSummary) -> String {
    let name = summary.factor.name().replace('_', " ");
    let (Some(correlation), Some(p), Some((best, worst))) =
        (summary.correlation, summary.significance, summary.extremes())
    else {
        return format!(
            "Not enough variation in {name} to measure its effect ({} registrations with it known)",
            summary.known
        );
    };
    let rates = |word: &str| {
        let shown: Vec<String> =
            summary.levels.iter().map(|l| format!("{} {word} {}", percent(l.rate), l.level)).collect();
        shown.join(", ")
    };
    if p >= 0.05 {
        return format!(
            "Attendance does not differ significantly by {name} ({}): {} {}, {} {}",
            p_text(p),
            best.level,
            percent(best.rate),
            worst.level,
            percent(worst.rate)
        );
    }
    let falls = correlation < 0.0;
    let test = format!("r = {correlation:.2}, {}", p_text(p));
    match summary.factor {
        Factor::Weather => {
            let direction = if falls { "falls" } else { "rises" };
            format!("Attendance {direction} as the weather worsens ({test}): {}", rates("when"))
        }
        Factor::TimeOfDay => {
            let direction = if falls { "falls" } else { "rises" };
            format!("Attendance {direction} later in the day ({test}): {}", rates("at"))
        }
        Factor::Duration | Factor::Price | Factor::HistoricalAttendance | Factor::LeadTime => {
            let direction = if falls { "falls" } else { "rises" };
            format!("Attendance {direction} with the {name} ({test}): {}", rates("for"))
        }
        Factor::DayOfWeek | Factor::EventType | Factor::Location | Factor::Instructor => format!(
            "{} events have the highest attendance ({}) and {} the lowest ({}); the difference is significant ({})",
            capitalised(&best.level),
            percent(best.rate),
            worst.level,
            percent(worst.rate),
            p_text(p)
        ),
        Factor::Attribute(_) if summary.measure == Measure::Pearson => {
            let direction = if falls { "falls" } else { "rises" };
            format!("Attendance {direction} with {name} ({test}): {}", rates("for"))
        }
        Factor::Attribute(_) => format!(
            "Registrations with {name} {} have the highest attendance ({}) and with {} the lowest ({}); the difference is significant ({})",
            best.level,
            percent(best.rate),
            worst.level,
            percent(worst.rate),
            p_text(p)
        ),
    }
}

/// Whether an attribute is one the organiser sets: a reminder or a message sent before the event.
fn organiser_controlled(name: &str) -> bool {
    let name = name.to_lowercase();
    ["reminder", "sms", "notif", "message", "email_sent", "call"].iter().any(|word| name.contains(word))
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

/// One recommendation per significant factor, from its best and worst levels.
fn recommendations(factors: &[FactorSummary]) -> Vec<String> {
    let mut advice = Vec::new();
    let best_of = |factor: Factor| {
        factors
            .iter()
            .find(|s| s.factor == factor && is_significant(s))
            .and_then(FactorSummary::extremes)
            .map(|(best, _)| best)
    };
    match (best_of(Factor::DayOfWeek), best_of(Factor::TimeOfDay)) {
        (Some(day), Some(slot)) => advice.push(format!(
            "Schedule events on {} at {} (local time): the best day ({}) and time slot ({})",
            day.level,
            slot.level,
            percent(day.rate),
            percent(slot.rate)
        )),
        (Some(day), None) => {
            advice.push(format!("Schedule events on {}: the best day ({})", day.level, percent(day.rate)))
        }
        (None, Some(slot)) => advice.push(format!(
            "Schedule events at {} (local time): the best time slot ({})",
            slot.level,
            percent(slot.rate)
        )),
        (None, None) => {}
    }
    for summary in factors.iter().filter(|s| is_significant(s)) {
        let Some((best, worst)) = summary.extremes() else { continue };
        let line = match &summary.factor {
            Factor::DayOfWeek | Factor::TimeOfDay => continue,
            Factor::Attribute(name) if organiser_controlled(name) => {
                let level = |wanted: &str| summary.levels.iter().find(|l| l.level == wanted);
                match (level("yes"), level("no")) {
                    (Some(with), Some(without)) if with.rate > without.rate => format!(
                        "Send the {name}: {} of the registrations with it came, against {} without ({} and {} registrations; measured, not an experiment)",
                        percent(with.rate),
                        percent(without.rate),
                        with.registrations,
                        without.registrations
                    ),
                    (Some(with), Some(without)) => format!(
                        "The {name} does not lift attendance here: {} came with it, {} without ({} and {} registrations); it may go to the registrations most at risk, so compare like with like before dropping it",
                        percent(with.rate),
                        percent(without.rate),
                        with.registrations,
                        without.registrations
                    ),
                    _ => format!(
                        "Attendance differs by {name}: {} for {}, {} for {}",
                        percent(best.rate),
                        best.level,
                        percent(worst.rate),
                        worst.level
                    ),
                }
            }
            Factor::Attribute(name) => format!(
                "Attendance differs by {name}: {} for {}, against {} for {}",
                percent(best.rate),
                best.level,
                percent(worst.rate),
                worst.level
            ),
            Factor::Weather => {
                let overall = overall_rate(&summary.levels);
                let below: Vec<&str> =
                    summary.levels.iter().filter(|l| l.rate < overall).map(|l| l.level.as_str()).collect();
                format!(
                    "Send reminders before {} events and plan indoor alternatives: attendance is {} when {} against {} when {}",
                    below.join(" and "),
                    percent(worst.rate),
                    worst.level,
                    percent(best.rate),
                    best.level
                )
            }
            Factor::EventType | Factor::Location | Factor::Instructor => format!(
                "Favour {} ({} attendance) over {} ({}) for the {}",
                best.level,
                percent(best.rate),
                worst.level,
                percent(worst.rate),
                summary.factor.name().replace('_', " ")
            ),
            Factor::HistoricalAttendance => format!(
                "Send extra reminders to users whose past attendance is {}: {} of them come, against {} for {}",
                worst.level,
                percent(worst.rate),
                percent(best.rate),
                best.level
            ),
            Factor::Duration | Factor::Price | Factor::LeadTime => {
                let unit = match &summary.factor {
                    Factor::Duration => "minutes long",
                    Factor::Price => "in price",
                    _ => "days ahead (registration to start)",
                };
                format!(
                    "Prefer {} {unit}: {} attendance, against {} for {}",
                    best.level,
                    percent(best.rate),
                    percent(worst.rate),
                    worst.level
                )
            }
        };
        advice.push(line);
    }
    if advice.is_empty() {
        advice.push(
            "No factor moves attendance significantly in this data; more registrations with a known outcome will tell"
                .to_owned(),
        );
    }
    advice
}

fn overall_rate(levels: &[LevelRate]) -> f64 {
    let registrations: u64 = levels.iter().map(|l| l.registrations).sum();
    levels.iter().map(|l| l.attended).sum::<u64>() as f64 / registrations.max(1) as f64
}
