//! Users' activity far from their own baseline on a complete day (SPEC §4 "Anomalies": activity
//! spikes and drops; `footprint_analytics::activity`), read from the days processing keeps:
//! `GET /api/v1/insights/anomalies` lists them, and the webhooks' watch announces them
//! (`anomaly.detected`).

use std::collections::HashMap;

use footprint_analytics::activity::{self, ActivityAnomaly, ActivityKind, ActivitySettings};
use footprint_analytics::time::day_index;
use footprint_store::UserDay;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::state::AppState;
use crate::insights::churn;
use crate::kernel::error::ApiError;
use crate::kernel::time::{day_text, parse_day};

/// The longest silence looked back on for a drop, in days.
const LONGEST_SILENCE: usize = 14;

/// What the days before the judged one looked like.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Baseline {
    pub days: usize,
    pub active_days: usize,
    pub mean_events_per_day: f64,
}

/// One user's unusual activity.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ActivityAnomalyView {
    /// `activity_spike` or `activity_drop`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub user_id: String,
    /// The day of the spike, or the first silent day of the drop (`YYYY-MM-DD`, UTC).
    pub first_day: String,
    /// Silent days in a row (1 for a spike).
    pub days: u32,
    /// Events on the day (0 for a drop).
    pub events: u64,
    pub baseline: Baseline,
    /// The chance of a day (or a silence) at least as extreme under the user's baseline.
    pub p_value: f64,
    /// `high` (p < α/100), `medium` (p < α/10) or `low`.
    pub severity: &'static str,
    /// α: the chance that a user with no change is reported on a given day.
    pub expected_false_positive_rate: f64,
    pub description: String,
}

/// An anomaly, and the user's pseudonym and first day (what makes it the same one next time).
pub struct Found {
    pub user_key: String,
    pub first_day: i64,
    pub view: ActivityAnomalyView,
}

/// `GET /api/v1/insights/anomalies`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ActivityReport {
    /// The day judged (`YYYY-MM-DD`, UTC).
    pub day: String,
    /// Users with an active day among the 42 looked back on and a full 28-day baseline before
    /// the day (only they can be judged).
    pub users_judged: usize,
    pub expected_false_positive_rate: f64,
    pub anomalies: Vec<ActivityAnomalyView>,
}

/// The anomalies of the complete day `judged` (days since 1970-01-01), and how many users could
/// be judged.
pub async fn activity_anomalies(state: &AppState, judged: i64) -> Result<(usize, Vec<Found>), ApiError> {
    let settings = ActivitySettings::default();
    let from_day = judged - (settings.baseline_days + LONGEST_SILENCE) as i64;
    let mut unusual: Vec<(String, ActivityAnomaly)> = Vec::new();
    let mut judgeable = 0;
    churn::each_users_days(state, from_day, |days| {
        if let Some((key, counts, first)) = daily_counts(days, from_day, judged) {
            judgeable += usize::from(counts.len() > settings.baseline_days);
            if let Some(anomaly) = activity::unusual_activity(&counts, first, &settings) {
                unusual.push((key, anomaly));
            }
        }
    })
    .await?;
    let keys: Vec<String> = unusual.iter().map(|(key, _)| key.clone()).collect();
    let ids: HashMap<String, String> = state.store.user_ids_of(&keys).await?.into_iter().collect();
    let found = unusual
        .into_iter()
        .filter_map(|(user_key, anomaly)| {
            let user_id = ids.get(&user_key)?.clone();
            let description = match anomaly.kind {
                ActivityKind::ActivitySpike => format!(
                    "{} events on {} against {:.1} a day over the {} days before",
                    anomaly.events,
                    day_text(anomaly.first_day),
                    anomaly.baseline_mean,
                    settings.baseline_days
                ),
                ActivityKind::ActivityDrop => format!(
                    "no event for {} days since {}, after being active on {} of the {} days before",
                    anomaly.days,
                    day_text(anomaly.first_day),
                    anomaly.baseline_active_days,
                    settings.baseline_days
                ),
            };
            let view = ActivityAnomalyView {
                kind: anomaly.kind.as_str(),
                user_id,
                first_day: day_text(anomaly.first_day),
                days: anomaly.days,
                events: anomaly.events,
                baseline: Baseline {
                    days: settings.baseline_days,
                    active_days: anomaly.baseline_active_days,
                    mean_events_per_day: anomaly.baseline_mean,
                },
                p_value: anomaly.p_value,
                severity: anomaly.severity,
                expected_false_positive_rate: settings.alpha,
                description,
            };
            Some(Found { user_key, first_day: anomaly.first_day, view })
        })
        .collect();
    Ok((judgeable, found))
}

/// The report of `day` (`YYYY-MM-DD`; default yesterday, the last complete day), from what
/// processing has folded (a read like the others: the lag it did not see is in
/// `Footprint-Processing-Lag`). 400 for a day not over yet.
pub async fn report(state: &AppState, day: Option<&str>) -> Result<ActivityReport, ApiError> {
    let today = day_index(state.clock.now_us());
    let judged = match day {
        None => today - 1,
        Some(text) => parse_day(text)
            .ok_or_else(|| ApiError::InvalidParameters(format!("day: {text:?} is not a date like 2026-12-07")))?,
    };
    if judged >= today {
        return Err(ApiError::InvalidParameters(format!(
            "day: {} is not over yet; a day is judged once it is complete (at the latest {})",
            day_text(judged),
            day_text(today - 1)
        )));
    }
    crate::tracking::freshness::settle_for_read(state).await?;
    let (users_judged, found) = activity_anomalies(state, judged).await?;
    let mut anomalies: Vec<ActivityAnomalyView> = found.into_iter().map(|found| found.view).collect();
    anomalies.sort_by(|a, b| a.p_value.total_cmp(&b.p_value).then_with(|| a.user_id.cmp(&b.user_id)));
    Ok(ActivityReport {
        day: day_text(judged),
        users_judged,
        expected_false_positive_rate: ActivitySettings::default().alpha,
        anomalies,
    })
}

/// A user's events per day from their first kept day (or `from_day`) to `judged`, zeros
/// included; `None` when they have no day in that range.
fn daily_counts(days: &[UserDay], from_day: i64, judged: i64) -> Option<(String, Vec<u64>, i64)> {
    let key = days.first()?.user_key.clone();
    let kept: Vec<&UserDay> = days.iter().filter(|day| day.day >= from_day && day.day <= judged).collect();
    let first_seen = days.iter().filter_map(|day| day.first_seen_us).map(day_index).min();
    let first = first_seen.unwrap_or(kept.first()?.day).max(from_day);
    if first > judged {
        return None;
    }
    let mut counts = vec![0u64; usize::try_from(judged - first + 1).ok()?];
    for day in kept {
        if let Ok(at) = usize::try_from(day.day - first)
            && let Some(count) = counts.get_mut(at)
        {
            *count += u64::try_from(day.events.max(0)).unwrap_or(0);
        }
    }
    Some((key, counts, first))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(user_key: &str, day: i64, events: i64, first_seen_day: i64) -> UserDay {
        UserDay {
            user_key: user_key.to_owned(),
            day,
            events,
            sessions: 1,
            session_seconds: 60.0,
            amount: 0.0,
            first_seen_us: Some(first_seen_day * crate::kernel::time::DAY_US + 5),
        }
    }

    #[test]
    fn daily_counts_fill_the_silent_days_from_the_first_seen_day() {
        let days = [day("k", 12, 3, 10), day("k", 14, 7, 10)];
        let (key, counts, first) = daily_counts(&days, 5, 15).unwrap();
        assert_eq!((key.as_str(), first), ("k", 10));
        assert_eq!(counts, [0, 0, 3, 0, 7, 0]);
        // Seen long before the range: the range's start; a day after the judged one is left out.
        let days = [day("k", 12, 3, 1), day("k", 16, 9, 1)];
        let (_, counts, first) = daily_counts(&days, 10, 15).unwrap();
        assert_eq!((first, counts), (10, vec![0, 0, 3, 0, 0, 0]));
        // First seen after the judged day: nothing to judge.
        assert!(daily_counts(&[day("k", 20, 1, 20)], 10, 15).is_none());
    }
}
