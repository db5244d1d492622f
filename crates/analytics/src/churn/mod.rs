//! Seed 003's churn risk, from a user's activity history alone.
//!
//! A user **churns** at a cut-off day when they have no activity in the `horizon_days` that
//! follow it. Footprint does not fit one classifier per horizon: it fits the **daily chance of
//! activity** (a discrete-time hazard, a logistic regression on the features below, one row per
//! user and day after their first activity), so that one model answers any horizon:
//!
//! - P(churn within H days of day c) = Π_{k<H} (1 − p(features at c + k given no activity since c)),
//!   exact under the model (a path with no activity has known features);
//! - the expected number of active days within H days comes from simulating the model forward
//!   ([`ChurnModel::expected_active_days`]).
//!
//! Features of day `c`, from the activity strictly before it, within `history_days` (W) of it
//! (so that a server holding only W days of events computes what training computed):
//!
//! | feature | definition |
//! |---|---|
//! | `log_recency` | ln r, r = days since the last active day (W + 1 when none within W) |
//! | `inverse_recency` | 1 / r |
//! | `log_tenure` | ln(1 + days since the first activity ever seen) |
//! | `active_7`, `active_28`, `active_window` | share of the last 7, 28 and W days that were active |
//! | `trend_28` | (active days in the last 28 − in the 28 before) / 28 |
//! | `log_overdue` | ln(r / the mean gap between the active days within W; with fewer than two, min(tenure, W)) |
//! | `log_events_per_day` | ln(1 + events per active day) |
//! | `log_events_per_session` | ln(1 + events per session) |
//! | `log_session_minutes` | ln(1 + mean session length in minutes) |
//! | `log_amount_per_day` | ln(1 + monetary value per active day, when events carry one) |
//! | `weekday_affinity` | ln(7 · (active days on c's weekday + 1) / (active days + 7)) |
//!
//! The recency-only and RFM baselines of `footprint eval churn` are the same hazard on
//! [`FeatureSet::Recency`] and [`FeatureSet::Rfm`].

mod model;

pub use model::*;

use serde::{Deserialize, Serialize};

use crate::time::{DAY_US, day_index};

/// The properties whose number is an event's monetary value, the first present winning
/// (Segment's `revenue` and `total`, and the common `amount`).
pub const MONETARY_PROPERTIES: [&str; 3] = ["revenue", "amount", "total"];

/// An event's monetary value: the first of [`MONETARY_PROPERTIES`] holding a finite number.
pub fn monetary_value(properties: &serde_json::Map<String, serde_json::Value>) -> Option<f64> {
    MONETARY_PROPERTIES
        .iter()
        .find_map(|name| properties.get(*name).and_then(serde_json::Value::as_f64))
        .filter(|value| value.is_finite())
}

/// One activity (an event, a transaction) and its monetary value, if it carries one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activity {
    pub at_us: i64,
    pub amount: Option<f64>,
}

/// One UTC day with activity: what happened that day (sessions counted on the day they start).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ActiveDay {
    /// Days since 1970-01-01.
    pub day: i64,
    pub events: u32,
    pub sessions: u32,
    pub session_seconds: f64,
    pub amount: f64,
}

/// Groups activities (any order) into active days; consecutive activities less than
/// `session_gap_us` apart form one session, counted on its first day with its span.
pub fn active_days(activities: &[Activity], session_gap_us: i64) -> Vec<ActiveDay> {
    let mut sorted: Vec<Activity> = activities.to_vec();
    sorted.sort_by_key(|activity| activity.at_us);
    let mut days: Vec<ActiveDay> = Vec::new();
    let mut session: Option<(i64, i64)> = None;
    let close = |days: &mut Vec<ActiveDay>, session: Option<(i64, i64)>| {
        if let Some((start, end)) = session {
            let day = day_index(start);
            if let Some(entry) = days.iter_mut().rev().find(|entry| entry.day == day) {
                entry.sessions += 1;
                entry.session_seconds += (end - start) as f64 / 1e6;
            }
        }
    };
    for activity in &sorted {
        let day = day_index(activity.at_us);
        if days.last().is_none_or(|last| last.day != day) {
            days.push(ActiveDay { day, events: 0, sessions: 0, session_seconds: 0.0, amount: 0.0 });
        }
        if let Some(last) = days.last_mut() {
            last.events += 1;
            last.amount += activity.amount.filter(|amount| amount.is_finite()).unwrap_or(0.0);
        }
        session = match session {
            Some((start, end)) if activity.at_us - end < session_gap_us => Some((start, activity.at_us)),
            previous => {
                close(&mut days, previous);
                Some((activity.at_us, activity.at_us))
            }
        };
    }
    close(&mut days, session);
    days
}

/// Which features a hazard model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureSet {
    /// Every feature of the module's table.
    Full,
    /// Recency alone (`log_recency`, `inverse_recency`): the baseline any churn model must beat.
    Recency,
    /// Recency, frequency (`active_window`), tenure and monetary value.
    Rfm,
}

const FULL: [&str; 18] = [
    "log_recency",
    "inverse_recency",
    "log_tenure",
    "active_7",
    "active_28",
    "active_window",
    "trend_28",
    "log_overdue",
    "log_events_per_day",
    "log_events_per_session",
    "log_session_minutes",
    "log_amount_per_day",
    "weekday_affinity",
    "active_yesterday",
    "inverse_recency_by_tenure",
    "log_recency_by_tenure",
    "inverse_recency_by_frequency",
    "log_recency_by_frequency",
];

impl FeatureSet {
    pub fn names(self) -> Vec<&'static str> {
        self.indices().iter().map(|&index| FULL[index]).collect()
    }

    fn indices(self) -> &'static [usize] {
        match self {
            FeatureSet::Full => &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17],
            FeatureSet::Recency => &[0, 1],
            FeatureSet::Rfm => &[0, 1, 2, 5, 11],
        }
    }
}

/// A user's activity: the first day they were ever seen, and their active days in order, with
/// running sums so that any window's totals take two binary searches.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    first_day: i64,
    days: Vec<i64>,
    /// Running totals over `days`: entry i sums days[..i].
    events: Vec<f64>,
    sessions: Vec<f64>,
    session_seconds: Vec<f64>,
    amount: Vec<f64>,
    /// Running count of active days per weekday.
    weekdays: Vec<[u32; 7]>,
}

impl History {
    /// `first_day` is the day the user was first seen (it may be earlier than the first day
    /// given, when older activity is no longer kept); days out of order are sorted, and a day
    /// given twice is merged.
    pub fn new(first_day: i64, mut days: Vec<ActiveDay>) -> Self {
        days.sort_by_key(|day| day.day);
        let mut history = Self {
            first_day: days.first().map_or(first_day, |day| day.day.min(first_day)),
            days: Vec::with_capacity(days.len()),
            events: vec![0.0],
            sessions: vec![0.0],
            session_seconds: vec![0.0],
            amount: vec![0.0],
            weekdays: vec![[0; 7]],
        };
        let mut merged: Vec<ActiveDay> = Vec::with_capacity(days.len());
        for day in days {
            match merged.last_mut() {
                Some(last) if last.day == day.day => {
                    last.events += day.events;
                    last.sessions += day.sessions;
                    last.session_seconds += day.session_seconds;
                    last.amount += day.amount;
                }
                _ => merged.push(day),
            }
        }
        for day in merged {
            history.push(day);
        }
        history
    }

    /// From activities: their active days, first seen at the earliest of them or `first_seen_day`.
    pub fn from_activities(first_seen_day: Option<i64>, activities: &[Activity], session_gap_us: i64) -> Option<Self> {
        let days = active_days(activities, session_gap_us);
        let first = match (first_seen_day, days.first()) {
            (Some(seen), Some(day)) => seen.min(day.day),
            (Some(seen), None) => seen,
            (None, Some(day)) => day.day,
            (None, None) => return None,
        };
        Some(Self::new(first, days))
    }

    /// Appends a day after every day held (a simulated one).
    fn push(&mut self, day: ActiveDay) {
        debug_assert!(self.days.last().is_none_or(|last| *last < day.day));
        let last = self.days.len();
        self.days.push(day.day);
        self.events.push(self.events[last] + f64::from(day.events));
        self.sessions.push(self.sessions[last] + f64::from(day.sessions));
        self.session_seconds.push(self.session_seconds[last] + day.session_seconds);
        self.amount.push(self.amount[last] + day.amount);
        let mut weekdays = self.weekdays[last];
        weekdays[weekday_of_day(day.day)] += 1;
        self.weekdays.push(weekdays);
    }

    pub fn first_day(&self) -> i64 {
        self.first_day
    }

    pub fn last_day(&self) -> Option<i64> {
        self.days.last().copied()
    }

    /// How many active days fall in `[from_day, to_day)`.
    pub fn active_between(&self, from_day: i64, to_day: i64) -> usize {
        self.index(to_day).saturating_sub(self.index(from_day))
    }

    /// Whether `day` was active.
    pub fn is_active(&self, day: i64) -> bool {
        self.days.binary_search(&day).is_ok()
    }

    /// The position of the first active day at or after `day`.
    fn index(&self, day: i64) -> usize {
        self.days.partition_point(|&held| held < day)
    }

    /// Only the days before `day` (what was known then), keeping the first day seen.
    pub fn until(&self, day: i64) -> Self {
        let end = self.index(day);
        Self {
            first_day: self.first_day,
            days: self.days[..end].to_vec(),
            events: self.events[..=end].to_vec(),
            sessions: self.sessions[..=end].to_vec(),
            session_seconds: self.session_seconds[..=end].to_vec(),
            amount: self.amount[..=end].to_vec(),
            weekdays: self.weekdays[..=end].to_vec(),
        }
    }

    /// The mean of each quantity per active day over the window (for simulated days).
    fn typical_day(&self, from: usize, to: usize, day: i64) -> ActiveDay {
        let n = (to - from).max(1) as f64;
        let per = |sums: &[f64]| (sums[to] - sums[from]) / n;
        let events = per(&self.events).round().max(1.0);
        ActiveDay {
            day,
            events: events as u32,
            sessions: per(&self.sessions).round().max(1.0) as u32,
            session_seconds: per(&self.session_seconds),
            amount: per(&self.amount),
        }
    }

    /// Every feature of the module's table for the day `target`, reading only the active days
    /// before `known_until` (and before `target`): the features `target` would have if nothing
    /// happened from `known_until` on. `None` before the first day seen.
    pub fn features(&self, target: i64, known_until: i64, window_days: i64, set: FeatureSet) -> Option<Vec<f64>> {
        let all = self.all_features(target, known_until, window_days)?;
        Some(set.indices().iter().map(|&index| all[index]).collect())
    }

    fn all_features(&self, target: i64, known_until: i64, window_days: i64) -> Option<[f64; 18]> {
        if target <= self.first_day {
            return None;
        }
        let window_days = window_days.max(28);
        let seen_until = known_until.min(target);
        let end = self.index(seen_until);
        let window_start = self.index(target - window_days).min(end);
        let count = |from_day: i64, to_day: i64| {
            let from = self.index(from_day).min(end);
            let to = self.index(to_day).min(end);
            to.saturating_sub(from) as f64
        };
        let in_window = (end - window_start) as f64;
        let recency = match self.days[..end].last() {
            Some(&last) if target - last <= window_days => (target - last) as f64,
            _ => (window_days + 1) as f64,
        };
        let tenure = (target - self.first_day) as f64;
        let mean_gap = if end - window_start >= 2 {
            (self.days[end - 1] - self.days[window_start]) as f64 / (in_window - 1.0)
        } else {
            tenure.min(window_days as f64)
        }
        .max(1.0);
        let per_day = |sums: &[f64]| {
            if in_window > 0.0 { (sums[end] - sums[window_start]) / in_window } else { 0.0 }
        };
        let sessions = self.sessions[end] - self.sessions[window_start];
        let events = self.events[end] - self.events[window_start];
        let session_seconds = self.session_seconds[end] - self.session_seconds[window_start];
        let weekday = weekday_of_day(target);
        let on_weekday = f64::from(self.weekdays[end][weekday] - self.weekdays[window_start][weekday]);
        let last_28 = count(target - 28, target);
        let previous_28 = count(target - 56, target - 28);
        Some([
            recency.ln(),
            1.0 / recency,
            tenure.ln_1p(),
            count(target - 7, target) / 7.0,
            last_28 / 28.0,
            in_window / window_days as f64,
            (last_28 - previous_28) / 28.0,
            (recency / mean_gap).ln(),
            per_day(&self.events).ln_1p(),
            if sessions > 0.0 { (events / sessions).ln_1p() } else { 0.0 },
            if sessions > 0.0 { (session_seconds / sessions / 60.0).ln_1p() } else { 0.0 },
            per_day(&self.amount).max(0.0).ln_1p(),
            (7.0 * (on_weekday + 1.0) / (in_window + 7.0)).ln(),
            if recency <= 1.0 { 1.0 } else { 0.0 },
            tenure.ln_1p() / recency,
            tenure.ln_1p() * recency.ln(),
            in_window / window_days as f64 / recency,
            in_window / window_days as f64 * recency.ln(),
        ])
    }
}

/// 0 = Monday for a day number (1970-01-01 was a Thursday).
fn weekday_of_day(day: i64) -> usize {
    crate::time::weekday(day * DAY_US)
}

/// Settings of the churn model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChurnConfig {
    /// N: a user churns at a cut-off when they have no activity in the N days after it.
    pub horizon_days: u32,
    /// How far back the features look (and how many days of events a prediction reads).
    pub history_days: u32,
    /// The L2 penalty of the daily hazard's logistic regression (standardised features).
    pub l2: f64,
    /// Most user-days one fit reads; more are sampled down evenly (deterministically).
    pub max_training_rows: usize,
    /// Fewest users active before the validation cut-off, and churned ones among them, that a
    /// model needs.
    pub min_users: usize,
    /// Paths simulated for an expected count of active days.
    pub simulation_paths: usize,
    /// The trees' settings, when trees model the hazard.
    pub trees: crate::trees::TreesConfig,
}

impl Default for ChurnConfig {
    fn default() -> Self {
        Self {
            horizon_days: 30,
            history_days: 91,
            l2: 1.0,
            max_training_rows: 400_000,
            min_users: 30,
            simulation_paths: 200,
            trees: crate::trees::TreesConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = DAY_US;

    fn at(day: i64, hour: i64) -> Activity {
        Activity { at_us: day * DAY + hour * 3_600_000_000, amount: None }
    }

    #[test]
    fn activities_become_days_with_their_sessions() {
        // Day 10: 09:00, 09:10 (one session of 600 s), 15:00 (another); day 12: one event of 5.0.
        let mut activities = vec![at(10, 9), at(10, 15), at(12, 8)];
        activities.push(Activity { at_us: 10 * DAY + 9 * 3_600_000_000 + 600_000_000, amount: Some(2.5) });
        activities[2].amount = Some(5.0);
        let days = active_days(&activities, 1_800_000_000);
        assert_eq!(days.len(), 2);
        assert_eq!((days[0].day, days[0].events, days[0].sessions), (10, 3, 2));
        assert!((days[0].session_seconds - 600.0).abs() < 1e-9);
        assert!((days[0].amount - 2.5).abs() < 1e-12);
        assert_eq!((days[1].day, days[1].events, days[1].sessions), (12, 1, 1));
        assert!((days[1].amount - 5.0).abs() < 1e-12);
    }

    fn day(day: i64) -> ActiveDay {
        ActiveDay { day, events: 2, sessions: 1, session_seconds: 120.0, amount: 0.0 }
    }

    #[test]
    fn features_are_worked_out_by_hand() {
        // First seen on day 100, active on days 100, 110, 120; the target is day 130 (W = 91).
        let history = History::new(100, vec![day(100), day(110), day(120)]);
        let f = history.all_features(130, 130, 91).unwrap();
        let expect = |index: usize, value: f64| {
            assert!((f[index] - value).abs() < 1e-12, "{}: {} ≠ {value}", FULL[index], f[index])
        };
        expect(0, 10f64.ln());
        expect(1, 0.1);
        expect(2, 30f64.ln_1p());
        expect(3, 0.0);
        expect(4, 2.0 / 28.0);
        expect(5, 3.0 / 91.0);
        expect(6, (2.0 - 1.0) / 28.0);
        expect(7, (10.0f64 / 10.0).ln());
        expect(8, 2f64.ln_1p());
        expect(9, 2f64.ln_1p());
        expect(10, 2f64.ln_1p());
        expect(11, 0.0);
        // Day 130 is a Monday ((130 + 3) mod 7 = 0: 1970-01-01 was a Thursday); days 100, 110 and
        // 120 are a Saturday, a Tuesday and a Friday: none on a Monday.
        expect(12, (7.0f64 / 10.0).ln());
        expect(13, 0.0);
        // Known only until day 115: the day-120 activity is not seen.
        let g = history.all_features(130, 115, 91).unwrap();
        assert!((g[0] - 20f64.ln()).abs() < 1e-12);
        assert!((g[5] - 2.0 / 91.0).abs() < 1e-12);
        assert_eq!(history.until(115).all_features(130, 130, 91), Some(g));
        // Nothing before the first day seen.
        assert_eq!(history.all_features(100, 100, 91), None);
        // Nothing within the window: recency is censored at W + 1.
        let long_after = history.all_features(400, 400, 91).unwrap();
        assert!((long_after[0] - 92f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn a_history_merges_days_given_twice_and_counts_windows() {
        let history = History::new(50, vec![day(60), day(55), day(60)]);
        assert_eq!(history.first_day(), 50);
        assert_eq!(history.last_day(), Some(60));
        assert_eq!(history.active_between(50, 61), 2);
        assert_eq!(history.active_between(56, 60), 0);
        assert!(history.is_active(55) && !history.is_active(56));
        let merged = history.all_features(61, 61, 91).unwrap();
        assert!((merged[8] - 3f64.ln_1p()).abs() < 1e-12, "(2 + 2 + 2) events / 2 days");
    }
}
