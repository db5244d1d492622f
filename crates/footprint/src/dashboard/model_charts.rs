//! The charts of the other seeds' data: attendance by weekday and time (seed 004), an
//! attendance model on its held-out registrations (ROC, calibration, confusion), match
//! acceptance and satisfaction per day (seed 001), a user's next actions (seed 002).

use std::collections::BTreeMap;

use footprint_analytics::UserId;
use footprint_analytics::attendance::{self, two_hour_slot};
use footprint_analytics::logistic::{self, BinaryMetrics};
use footprint_analytics::matching::MatchStats;
use footprint_charts::{Bars, Chart, Heatmap, LineSeries, Lines, Series, XAxis};

use super::kinds::{VisType, title};
use crate::app::state::AppState;
use crate::attendance::model::{self as attendance_model, event_info, records, registration_info};
use crate::kernel::error::ApiError;
use crate::kernel::time::DAY_US;
use crate::tracking::schema::{MATCH_FEEDBACK, feedback_of, matches_in, read_events};

const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
/// Calibration bins of the predicted probability.
const CALIBRATION_BINS: usize = 10;

/// The attendance rate of every (weekday, two-hour slot) with known outcomes (UTC).
pub async fn attendance_by_slot(state: &AppState) -> Result<Chart, ApiError> {
    let name = title(VisType::AttendanceByWeekdaySlot);
    let (events, registrations) = records(state, None, None).await?;
    let infos: HashMapById = events.iter().map(|e| (e.event_id.clone(), event_info(e))).collect();
    let mut tallies: BTreeMap<(usize, usize, String), (u64, u64)> = BTreeMap::new();
    for registration in registrations.iter().map(registration_info) {
        let (Some(came), Some(event)) = (registration.attended, infos.get(&registration.event_id)) else { continue };
        let (slot, first) = two_hour_slot(event.start_us);
        let entry = tallies.entry((attendance::weekday(event.start_us), first, slot)).or_default();
        entry.0 += 1;
        entry.1 += u64::from(came);
    }
    if tallies.is_empty() {
        return Ok(Chart::not_enough_data(name, "no registration has a known outcome yet"));
    }
    let mut slots: Vec<(usize, String)> = tallies.keys().map(|(_, first, slot)| (*first, slot.clone())).collect();
    slots.sort();
    slots.dedup();
    let days: Vec<usize> = {
        let mut days: Vec<usize> = tallies.keys().map(|(day, _, _)| *day).collect();
        days.dedup();
        days
    };
    let known: u64 = tallies.values().map(|(n, _)| n).sum();
    let body = Heatmap {
        rows: days.iter().map(|d| WEEKDAYS[*d].to_owned()).collect(),
        columns: slots.iter().map(|(_, slot)| slot.clone()).collect(),
        values: days
            .iter()
            .map(|day| {
                slots
                    .iter()
                    .map(|(first, slot)| {
                        tallies.get(&(*day, *first, slot.clone())).map_or(f64::NAN, |(n, a)| *a as f64 / *n as f64)
                    })
                    .collect()
            })
            .collect(),
        value_label: "attendance rate".into(),
        percent: true,
    };
    Ok(Chart::new(name, body).with_subtitle(format!("{known} registrations with a known outcome, times in UTC")))
}

type HashMapById = std::collections::HashMap<String, footprint_analytics::attendance::EventInfo>;

/// The model's ROC curve, calibration or confusion matrix on its held-out registrations.
pub async fn model(state: &AppState, vis: VisType, model_id: Option<&str>) -> Result<Chart, ApiError> {
    let name = title(vis);
    let model_id = match model_id {
        Some(id) => id.to_owned(),
        None => match attendance_model::ready_model(state).await {
            Ok((record, _)) => record.model_id,
            Err(ApiError::ModelNotFound(why)) => return Ok(Chart::not_enough_data(name, why)),
            Err(error) => return Err(error),
        },
    };
    let (record, held_out) = attendance_model::held_out_scores(state, &model_id).await?;
    let scored = held_out.validation;
    let p: Vec<f64> = scored.iter().map(|s| s.probability).collect();
    let y: Vec<bool> = scored.iter().map(|s| s.attended).collect();
    let Some(metrics) = BinaryMetrics::compute(&p, &y) else {
        return Ok(Chart::not_enough_data(name, format!("model {model_id} has no held-out registration to score")));
    };
    let mut subtitle = format!("model {} v{}, {} held-out registrations", record.model_id, record.version, metrics.n);
    let chart = match vis {
        VisType::ModelRocCurve => {
            let curve = logistic::roc_curve(&p, &y);
            if curve.is_empty() {
                return Ok(Chart::not_enough_data(name, "the held-out registrations are all of one outcome"));
            }
            let auc = metrics.roc_auc.map_or_else(|| "—".to_owned(), |auc| format!("{auc:.3}"));
            subtitle.push_str(&format!(", AUC {auc}"));
            let body = Lines::new(
                vec![LineSeries::new(format!("AUC {auc}"), curve)],
                XAxis::Number,
                "false-positive rate",
                "true-positive rate",
            )
            .unit_square_with_diagonal();
            Chart::new(name, body)
        }
        VisType::ModelCalibration => {
            let bins = logistic::calibration(&p, &y, CALIBRATION_BINS);
            let points = bins.iter().filter_map(|b| Some((b.mean_predicted?, b.observed_rate?))).collect();
            subtitle.push_str(&format!(", Brier score {:.3}", metrics.brier));
            let body = Lines::new(
                vec![LineSeries::new(format!("Brier {:.3}", metrics.brier), points)],
                XAxis::Number,
                "mean predicted probability (10 bins)",
                "observed attendance",
            )
            .unit_square_with_diagonal();
            Chart::new(name, body)
        }
        _ => {
            let c = &metrics.confusion;
            subtitle.push_str(&format!(", threshold 0.5, accuracy {:.1}%", metrics.accuracy * 100.0));
            let body = Heatmap {
                rows: vec!["missed (actual)".into(), "attended (actual)".into()],
                columns: vec!["predicted missed".into(), "predicted attended".into()],
                values: vec![vec![c.tn as f64, c.fp as f64], vec![c.fn_ as f64, c.tp as f64]],
                value_label: "registrations".into(),
                percent: false,
            };
            Chart::new(name, body)
        }
    };
    Ok(chart.with_subtitle(subtitle))
}

/// Acceptance (accepted of decided proposals, by the proposal's day) and the mean rating (by the
/// feedback's day) over the last `days` days, UTC.
pub async fn matches_over_time(state: &AppState, days: Option<u32>) -> Result<Chart, ApiError> {
    let name = title(VisType::MatchAcceptanceOverTime);
    let window = crate::matching::metrics::window(state, days)?;
    let mut by_day: BTreeMap<i64, MatchStats> = BTreeMap::new();
    for (row, decision) in matches_in(state, Some(window.from), None).await? {
        by_day.entry(row.timestamp_us.div_euclid(DAY_US)).or_default().add_match(&row.proposal, decision.as_ref());
    }
    for event in read_events(state, MATCH_FEEDBACK, Some(window.from), None).await? {
        if let Some(feedback) = feedback_of(&event) {
            by_day.entry(event.timestamp_us.div_euclid(DAY_US)).or_default().add_feedback(&feedback);
        }
    }
    let day_us = |day: &i64| (day * DAY_US) as f64;
    let acceptance: Vec<(f64, f64)> = by_day
        .iter()
        .filter(|(_, stats)| stats.decided > 0)
        .map(|(day, stats)| (day_us(day), stats.accepted as f64 / stats.decided as f64))
        .collect();
    let satisfaction: Vec<(f64, f64)> = by_day
        .iter()
        .filter_map(|(day, stats)| stats.satisfaction().mean_rating.map(|mean| (day_us(day), mean / 5.0)))
        .collect();
    if acceptance.is_empty() && satisfaction.is_empty() {
        return Ok(Chart::not_enough_data(
            name,
            format!("no match was decided or rated in the last {} days", window.days),
        ));
    }
    let mut body = Lines::new(
        vec![LineSeries::new("acceptance rate", acceptance), LineSeries::new("mean rating ÷ 5", satisfaction)],
        XAxis::Time,
        "day (UTC)",
        "share",
    );
    body.y_range = Some((0.0, 1.0));
    let decided: u64 = by_day.values().map(|s| s.decided).sum();
    Ok(Chart::new(name, body).with_subtitle(format!("last {} days, {decided} decided proposals", window.days)))
}

/// The user's most probable next actions (seed 002's model with back-off).
pub async fn next_actions(state: &AppState, user_id: &str) -> Result<Chart, ApiError> {
    let name = title(VisType::NextActionProbabilities);
    let id = UserId::parse(user_id).map_err(|error| ApiError::Validation(format!("user_id: {}", error.reason)))?;
    let predicted = crate::interactions::predictions::next_actions(state, &id, 8).await?;
    if predicted.predictions.is_empty() {
        return Ok(Chart::not_enough_data(name, "no action has been seen yet to predict from"));
    }
    let body = Bars::horizontal(
        predicted.predictions.iter().map(|p| p.action.clone()).collect(),
        vec![Series::new("probability", predicted.predictions.iter().map(|p| p.probability).collect())],
        "probability",
    )
    .rates();
    let context = predicted.context.join(" → ");
    Ok(Chart::new(name, body).with_subtitle(if context.is_empty() {
        format!("{} actions seen", predicted.history_length)
    } else {
        format!("after {context}; {} actions seen", predicted.history_length)
    }))
}
