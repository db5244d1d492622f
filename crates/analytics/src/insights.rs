//! Seed 003's user insights, pure: the engagement score week by week and its trend, the
//! retention table of cohorts, and the advice on a user's tier.
//!
//! **Weekly engagement** applies the profile's engagement formula (see [`crate::profile`]) to
//! one week of activity: `100 × (0.30·A + 0.30·R + 0.25·D + 0.15·B)` with A = active days of the
//! week / 7, R = exp(−days from the last active day up to the week's end / 14), D = 1 −
//! exp(−events per session of the week / 5) and B = 1 − exp(−the user's distinct event types /
//! 3) (the types are not kept per day, so B is the user's whole-history value). A week with no
//! activity keeps only its R term.
//!
//! **Trend**: the least-squares slope of the weekly scores on the week number, with the p-value
//! of the F-test that it is 0 (with one regressor, the slope's t-test): `rising` or `falling`
//! when p < 0.05, else `flat`.

use serde::Serialize;

use crate::churn::ActiveDay;
use crate::stats::ols;

/// One week's engagement.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WeekEngagement {
    /// The week's first day (a Monday), as a day number.
    pub week_start_day: i64,
    pub active_days: u32,
    pub events: i64,
    pub sessions: i64,
    pub score: f64,
}

/// The engagement of each of the `weeks` weeks (Monday to Sunday) ending with the week of
/// `today` (that week counted up to `today`), oldest first. `days` are the user's active days
/// in any order; `distinct_types` the number of event types the user ever did.
pub fn weekly_engagement(days: &[ActiveDay], distinct_types: usize, today: i64, weeks: usize) -> Vec<WeekEngagement> {
    let variety = 1.0 - (-(distinct_types as f64) / 3.0).exp();
    let this_week = monday_of(today);
    let mut sorted: Vec<&ActiveDay> = days.iter().collect();
    sorted.sort_by_key(|day| day.day);
    (0..weeks)
        .rev()
        .map(|back| {
            let start = this_week - 7 * back as i64;
            let end = (start + 7).min(today + 1);
            let in_week: Vec<&&ActiveDay> = sorted.iter().filter(|day| day.day >= start && day.day < end).collect();
            let events: i64 = in_week.iter().map(|day| i64::from(day.events)).sum();
            let sessions: i64 = in_week.iter().map(|day| i64::from(day.sessions)).sum();
            let last_active = sorted.iter().rev().find(|day| day.day < end).map(|day| day.day);
            let regular = in_week.len() as f64 / 7.0;
            let recent = last_active.map_or(0.0, |last| (-((end - 1 - last) as f64) / 14.0).exp());
            let deep = if sessions > 0 { 1.0 - (-(events as f64 / sessions as f64) / 5.0).exp() } else { 0.0 };
            let varied = if in_week.is_empty() { 0.0 } else { variety };
            WeekEngagement {
                week_start_day: start,
                active_days: in_week.len() as u32,
                events,
                sessions,
                score: 100.0 * (0.30 * regular + 0.30 * recent + 0.25 * deep + 0.15 * varied),
            }
        })
        .collect()
}

/// The Monday of the week holding `day` (1970-01-01 was a Thursday).
pub fn monday_of(day: i64) -> i64 {
    day - (day + 3).rem_euclid(7)
}

/// A straight-line trend and how sure it is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Trend {
    /// Change per step (per week for engagement).
    pub slope: f64,
    /// P(a slope this steep | no trend); `None` when the points do not vary.
    pub p_value: Option<f64>,
    pub r_squared: Option<f64>,
    /// `rising`, `falling` or `flat` (p ≥ 0.05, or too few points).
    pub direction: &'static str,
    pub points: usize,
}

/// The trend of `values` taken at steps 0, 1, 2…: `None` with fewer than 3 values.
pub fn trend(values: &[f64]) -> Option<Trend> {
    if values.len() < 3 || values.iter().any(|value| !value.is_finite()) {
        return None;
    }
    let rows: Vec<Vec<f64>> = (0..values.len()).map(|step| vec![step as f64]).collect();
    match ols(&rows, values) {
        Some(fit) => {
            let slope = fit.coefficients[1];
            let direction = match (fit.f_p_value < 0.05, slope > 0.0) {
                (true, true) => "rising",
                (true, false) => "falling",
                (false, _) => "flat",
            };
            Some(Trend {
                slope,
                p_value: Some(fit.f_p_value),
                r_squared: Some(fit.r_squared),
                direction,
                points: values.len(),
            })
        }
        // Constant values: no trend at all.
        None => Some(Trend { slope: 0.0, p_value: None, r_squared: None, direction: "flat", points: values.len() }),
    }
}

/// The users of one cohort active in one period (both as period indices).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionCell {
    pub cohort: i64,
    pub period: i64,
    pub users: i64,
}

/// One cohort's row of the retention table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CohortRow {
    pub cohort: i64,
    /// Users first seen in the cohort's period.
    pub users: i64,
    /// Share of them active in the cohort's period + k, k = 0, 1, … up to the current period
    /// (the last one still running).
    pub retention: Vec<f64>,
    pub active: Vec<i64>,
}

/// The retention table: one row per cohort with users, from the cohorts' sizes and the cells.
pub fn retention_table(sizes: &[(i64, i64)], cells: &[RetentionCell], current_period: i64) -> Vec<CohortRow> {
    let mut rows: Vec<CohortRow> = sizes
        .iter()
        .filter(|(_, users)| *users > 0)
        .map(|&(cohort, users)| {
            let periods = (current_period - cohort + 1).max(1) as usize;
            CohortRow { cohort, users, retention: vec![0.0; periods], active: vec![0; periods] }
        })
        .collect();
    rows.sort_by_key(|row| row.cohort);
    for cell in cells {
        let Ok(position) = rows.binary_search_by_key(&cell.cohort, |row| row.cohort) else { continue };
        let row = &mut rows[position];
        let Ok(offset) = usize::try_from(cell.period - cell.cohort) else { continue };
        if let Some(active) = row.active.get_mut(offset) {
            *active += cell.users;
        }
    }
    for row in &mut rows {
        row.retention = row.active.iter().map(|&active| (active as f64 / row.users as f64).min(1.0)).collect();
    }
    rows
}

/// What a tier allows per hour, and what a caller used.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct UsageFacts {
    /// The current tier's requests per hour (`None`: unlimited).
    pub limit_per_hour: Option<u32>,
    /// The next lower tier's limit, if there is a lower tier (`None` inside: unlimited).
    pub lower_limit_per_hour: Option<Option<u32>>,
    /// The busiest hour of the window.
    pub peak_hour: i64,
    /// Requests refused for the limit in the window.
    pub limited: i64,
    /// Hours with a request in the window, and the window's length in hours.
    pub active_hours: i64,
    pub window_hours: i64,
    /// The engagement score now (0–100) and the churn probability, when known.
    pub engagement: Option<f64>,
    pub churn_probability: Option<f64>,
}

/// Advice on a caller's tier.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierAdvice {
    /// `upgrade`, `downgrade` or `keep`.
    pub action: &'static str,
    pub reasons: Vec<String>,
}

/// Upgrade when the limit was hit, or the busiest hour used 80 % of it; downgrade when the
/// busiest hour used under half of the lower tier's limit and the user is not engaged (score
/// under 30) or likely to churn (over 0.7) — paying for room they do not use; otherwise keep.
pub fn tier_advice(facts: &UsageFacts) -> TierAdvice {
    let mut reasons = Vec::new();
    if let Some(limit) = facts.limit_per_hour {
        if facts.limited > 0 {
            reasons.push(format!("{} requests were refused for the limit of {limit}/h", facts.limited));
        }
        let share = facts.peak_hour as f64 / f64::from(limit.max(1));
        if share >= 0.8 {
            reasons.push(format!("the busiest hour used {:.0} % of the {limit}/h limit", 100.0 * share.min(9.99)));
        }
        if !reasons.is_empty() {
            return TierAdvice { action: "upgrade", reasons };
        }
    }
    if let Some(lower) = facts.lower_limit_per_hour {
        let fits_lower = lower.is_none_or(|lower| (facts.peak_hour as f64) < 0.5 * f64::from(lower));
        let disengaged = facts.engagement.is_some_and(|score| score < 30.0);
        let leaving = facts.churn_probability.is_some_and(|p| p > 0.7);
        if fits_lower && (disengaged || leaving) {
            let room = match lower {
                Some(lower) => format!("under half of the lower tier's {lower}/h"),
                None => "well within the lower tier".to_owned(),
            };
            reasons.push(format!("the busiest hour ({} requests) fits {room}", facts.peak_hour));
            if disengaged {
                reasons.push(format!("engagement is low ({:.0}/100)", facts.engagement.unwrap_or(0.0)));
            }
            if leaving {
                reasons.push(format!("churn risk is high ({:.0} %)", 100.0 * facts.churn_probability.unwrap_or(0.0)));
            }
            return TierAdvice { action: "downgrade", reasons };
        }
    }
    let peak = match facts.limit_per_hour {
        Some(limit) => format!("the busiest hour used {} of {limit} requests", facts.peak_hour),
        None => format!("the busiest hour had {} requests (unlimited tier)", facts.peak_hour),
    };
    TierAdvice { action: "keep", reasons: vec![peak] }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(day: i64, events: u32, sessions: u32) -> ActiveDay {
        ActiveDay { day, events, sessions, session_seconds: 0.0, amount: 0.0 }
    }

    #[test]
    fn a_week_is_scored_by_hand() {
        // Day 4 is Monday 1970-01-05. Week 4–10: active on 4 and 6 with 10 events in 2 sessions;
        // today is day 10 (Sunday), 3 distinct types.
        let weeks = weekly_engagement(&[day(4, 4, 1), day(6, 6, 1)], 3, 10, 2);
        assert_eq!(weeks.len(), 2);
        assert_eq!(weeks[1].week_start_day, 4);
        let expected = 100.0
            * (0.30 * 2.0 / 7.0
                + 0.30 * (-(10.0 - 6.0) / 14.0f64).exp()
                + 0.25 * (1.0 - (-5.0 / 5.0f64).exp())
                + 0.15 * (1.0 - (-1.0f64).exp()));
        assert!((weeks[1].score - expected).abs() < 1e-9, "{} vs {expected}", weeks[1].score);
        // The week before had nothing, and nothing before it either.
        assert_eq!((weeks[0].week_start_day, weeks[0].active_days, weeks[0].score), (-3, 0, 0.0));
        assert_eq!(monday_of(4), 4);
        assert_eq!(monday_of(10), 4);
        assert_eq!(monday_of(3), -3);
    }

    #[test]
    fn trends_rise_fall_or_stay_flat() {
        let rising = trend(&[10.0, 20.0, 31.0, 39.0, 52.0]).unwrap();
        assert_eq!(rising.direction, "rising");
        assert!((rising.slope - 10.3).abs() < 1e-9, "Σ(x − 2)(y − 30.4) = 103 over Σ(x − 2)² = 10");
        assert!(rising.p_value.unwrap() < 0.01);
        assert_eq!(trend(&[50.0, 40.0, 30.5, 20.0]).unwrap().direction, "falling");
        assert_eq!(trend(&[10.0, 30.0, 12.0, 28.0, 11.0]).unwrap().direction, "flat");
        let constant = trend(&[5.0, 5.0, 5.0]).unwrap();
        assert_eq!((constant.direction, constant.p_value), ("flat", None));
        assert!(trend(&[1.0, 2.0]).is_none());
    }

    #[test]
    fn the_retention_table_shares_each_cohort() {
        let cells = [
            RetentionCell { cohort: 10, period: 10, users: 4 },
            RetentionCell { cohort: 10, period: 11, users: 2 },
            RetentionCell { cohort: 10, period: 12, users: 1 },
            RetentionCell { cohort: 11, period: 11, users: 5 },
            RetentionCell { cohort: 99, period: 99, users: 1 },
        ];
        let table = retention_table(&[(11, 5), (10, 4), (12, 0)], &cells, 12);
        assert_eq!(table.len(), 2, "an empty cohort has no row");
        assert_eq!(table[0].retention, [1.0, 0.5, 0.25]);
        assert_eq!(table[1].active, [5, 0]);
    }

    fn facts(limit: Option<u32>, lower: Option<Option<u32>>, peak: i64, limited: i64) -> UsageFacts {
        UsageFacts {
            limit_per_hour: limit,
            lower_limit_per_hour: lower,
            peak_hour: peak,
            limited,
            active_hours: 10,
            window_hours: 168,
            engagement: Some(50.0),
            churn_probability: Some(0.2),
        }
    }

    #[test]
    fn tier_advice_follows_the_documented_rules() {
        assert_eq!(tier_advice(&facts(Some(100), None, 20, 3)).action, "upgrade");
        assert_eq!(tier_advice(&facts(Some(100), None, 85, 0)).action, "upgrade");
        assert_eq!(tier_advice(&facts(Some(100), None, 50, 0)).action, "keep");
        // Premium, lower tier free (100/h), busiest hour 30: fits, but engaged: keep.
        assert_eq!(tier_advice(&facts(Some(5000), Some(Some(100)), 30, 0)).action, "keep");
        let quiet = UsageFacts { engagement: Some(12.0), ..facts(Some(5000), Some(Some(100)), 30, 0) };
        let advice = tier_advice(&quiet);
        assert_eq!(advice.action, "downgrade");
        assert_eq!(advice.reasons.len(), 2, "{advice:?}");
        let leaving = UsageFacts { churn_probability: Some(0.9), ..facts(None, Some(Some(50_000)), 100, 0) };
        assert_eq!(tier_advice(&leaving).action, "downgrade");
        let busy = UsageFacts { engagement: Some(5.0), ..facts(Some(5000), Some(Some(100)), 70, 0) };
        assert_eq!(tier_advice(&busy).action, "keep", "70 is not under half of 100");
    }
}
