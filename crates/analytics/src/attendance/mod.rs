//! Seed 004's attendance model: features of a registration computed strictly from the past
//! (the user's smoothed attendance rate over events that started before this one, how many they
//! registered to, how the last one went), the event's local day and time slot, type, lead
//! time, duration, price and weather, and the typed attributes of the person and the
//! registration ([`features`]); a regularised logistic regression and gradient-boosted trees
//! on them, the better on the latest days serving, recalibrated ([`model`]); and each feature's
//! contribution to a prediction.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use statrs::distribution::{ContinuousCDF, Normal};
use statrs::statistics::Distribution;

use crate::stats::poisson_binomial_mean;

pub(crate) use crate::time::DAY_US;
use features::DAYS;

/// An event as the model sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventInfo {
    pub event_id: String,
    pub event_type: String,
    pub start_us: i64,
    pub duration_minutes: i64,
    pub price: Option<f64>,
    /// Rain, snow or storms forecast or observed.
    pub bad_weather: Option<bool>,
    pub temperature_c: Option<f64>,
    /// The weather's condition as [`weather_condition`] names it.
    pub condition: Option<String>,
    pub location: Option<String>,
    pub instructor: Option<String>,
    /// The event's offset from UTC at its start, in minutes (its or its organisation's time
    /// zone): days and time slots are read in local time.
    pub utc_offset_minutes: i32,
}

impl EventInfo {
    /// An event with only what every event has: no price, weather, place, instructor or time
    /// zone (UTC).
    pub fn plain(
        event_id: impl Into<String>,
        event_type: impl Into<String>,
        start_us: i64,
        duration_minutes: i64,
    ) -> Self {
        Self {
            event_id: event_id.into(),
            event_type: event_type.into(),
            start_us,
            duration_minutes,
            price: None,
            bad_weather: None,
            temperature_c: None,
            condition: None,
            location: None,
            instructor: None,
            utc_offset_minutes: 0,
        }
    }

    /// The start in local time, as microseconds since the epoch of the local clock.
    pub(crate) fn local_us(&self) -> i64 {
        self.start_us + i64::from(self.utc_offset_minutes) * 60_000_000
    }

    /// 0 = Monday, in local time.
    pub fn local_weekday(&self) -> usize {
        weekday(self.local_us())
    }

    /// 0–23, in local time.
    pub fn local_hour(&self) -> usize {
        crate::time::hour_of_day(self.local_us())
    }

    /// Given as a date only: it starts at local midnight exactly (no class starts at 00:00:00.000).
    pub fn is_all_day(&self) -> bool {
        self.local_us().rem_euclid(DAY_US) == 0
    }

    /// `morning` (before 12h local), `afternoon` (12–17h), `evening` (17h on), or `all_day`
    /// for a date without a time.
    pub fn local_slot(&self) -> &'static str {
        if self.is_all_day() { "all_day" } else { slot_of_hour(self.local_hour()) }
    }
}

/// A registration, with its outcome when known and the typed attributes of the registration
/// and of its person (`reminder_sent`, `age_band`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationInfo {
    pub event_id: String,
    pub user_id: String,
    pub registered_at_us: i64,
    pub attended: Option<bool>,
    pub attributes: BTreeMap<String, AttributeValue>,
}

/// An event's weather as the model reads it, from the JSON the API takes: whether it is bad
/// (rain, snow, storms, in English or French, by `condition` or `forecast`; or
/// `precipitation_mm` above 0.5; or `rain`) and the temperature (`temperature_c` or
/// `temperature`).
pub fn weather_from_json(value: &serde_json::Value) -> (Option<bool>, Option<f64>) {
    use serde_json::Value;
    let condition =
        value.get("condition").or_else(|| value.get("forecast")).and_then(Value::as_str).map(str::to_lowercase);
    let wet = ["rain", "snow", "storm", "drizzle", "shower", "pluie", "neige", "orage"];
    let bad = condition.as_deref().map(|c| wet.iter().any(|w| c.contains(w)));
    let precipitation = value.get("precipitation_mm").and_then(Value::as_f64).map(|mm| mm > 0.5);
    let rain = value.get("rain").and_then(Value::as_bool);
    let temperature = value.get("temperature_c").or_else(|| value.get("temperature")).and_then(Value::as_f64);
    (bad.or(precipitation).or(rain), temperature)
}

/// An event's weather condition in the seed's words, from the JSON the API takes: `snowy`,
/// `stormy`, `rainy`, `cloudy` or `sunny` when its `condition` (or `forecast`) says so in
/// English or French, else that condition as given (lowercased); without a condition, `rainy`
/// when `precipitation_mm` is above 0.5 or `rain` is true.
pub fn weather_condition(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let given = value
        .get("condition")
        .or_else(|| value.get("forecast"))
        .and_then(Value::as_str)
        .map(|c| c.trim().to_lowercase());
    if let Some(condition) = given.filter(|c| !c.is_empty()) {
        const WORDS: [(&str, &[&str]); 5] = [
            ("snowy", &["snow", "neige", "sleet", "blizzard"]),
            ("stormy", &["storm", "thunder", "orage"]),
            ("rainy", &["rain", "drizzle", "shower", "pluie", "pluv", "averse", "bruine"]),
            ("cloudy", &["cloud", "overcast", "fog", "mist", "nuag", "couvert", "brouillard", "gris"]),
            ("sunny", &["sun", "clear", "fair", "soleil", "ensoleill", "dégagé", "degage", "beau"]),
        ];
        let named = WORDS.iter().find(|(_, words)| words.iter().any(|w| condition.contains(w)));
        return Some(named.map_or(condition, |(name, _)| (*name).to_owned()));
    }
    let precipitation = value.get("precipitation_mm").and_then(Value::as_f64).map(|mm| mm > 0.5);
    let rain = value.get("rain").and_then(Value::as_bool);
    precipitation.or(rain).filter(|wet| *wet).map(|_| "rainy".to_owned())
}

pub use crate::time::weekday;

/// `morning` (before 12h), `afternoon` (12–17h), `evening` (17h on).
fn slot_of_hour(hour: usize) -> &'static str {
    match hour {
        0..=11 => "morning",
        12..=16 => "afternoon",
        _ => "evening",
    }
}

/// Above this many people the interval comes from the normal approximation (mean ± z·sd,
/// rounded outwards): the exact distribution costs O(n²).
pub const EXACT_INTERVAL_MAX: usize = 5_000;

/// The whole event (or batch): expected attendance Σp and its central interval from the
/// Poisson-binomial distribution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overall {
    pub expected_attendance: f64,
    pub interval_low: u64,
    pub interval_high: u64,
    pub confidence_level: f64,
    pub predicted_rate: Option<f64>,
    /// `exact` (Poisson binomial) or `normal` (its normal approximation, for large counts).
    pub interval_method: &'static str,
    /// The probability, under the model, that attendance falls in the interval (at least the
    /// level asked for: the interval is made of whole counts).
    pub coverage: f64,
}

pub fn overall(probabilities: &[f64], level: f64) -> Overall {
    let mean = poisson_binomial_mean(probabilities);
    let level = level.clamp(0.0, 1.0);
    let (low, high, method, coverage) = if probabilities.len() <= EXACT_INTERVAL_MAX {
        let pmf = crate::stats::poisson_binomial(probabilities);
        let (low, high) = crate::stats::central_interval(&pmf, level);
        let coverage = pmf.get(low as usize..=high as usize).map_or(0.0, |inside| inside.iter().sum());
        (low, high, "exact", coverage)
    } else {
        let normal = Normal::new(mean, crate::stats::poisson_binomial_variance(probabilities).sqrt().max(1e-12))
            .unwrap_or_else(|_| Normal::standard());
        let z = crate::stats::normal_quantile(0.5 + level / 2.0).unwrap_or(0.0);
        let n = probabilities.len() as f64;
        let low = (mean - z * normal.std_dev().unwrap_or(0.0)).floor().clamp(0.0, n);
        let high = (mean + z * normal.std_dev().unwrap_or(0.0)).ceil().clamp(0.0, n);
        // The mass the interval holds under the same approximation, with continuity correction.
        let coverage = normal.cdf(high + 0.5) - normal.cdf(low - 0.5);
        (low as u64, high as u64, "normal", coverage)
    };
    Overall {
        expected_attendance: mean,
        interval_low: low,
        interval_high: high,
        confidence_level: level,
        predicted_rate: (!probabilities.is_empty()).then(|| mean / probabilities.len() as f64),
        interval_method: method,
        coverage: coverage.clamp(0.0, 1.0),
    }
}

pub mod synthetic;

mod anomalies;
mod drivers;
mod factors;
pub mod features;
pub mod model;

pub use anomalies::*;
pub use drivers::*;
pub use factors::*;
pub use features::{
    AttributeColumn, AttributeKind, AttributeValue, Example, FeatureSpace, History, examples, examples_in,
};
pub(crate) use features::{histories_before, known};
pub use model::*;

#[cfg(test)]
mod tests {
    use super::synthetic::MONDAY;
    use super::*;

    #[test]
    fn history_features_come_only_from_earlier_events() {
        let event = |id: &str, day: i64| EventInfo::plain(id, "class", MONDAY + day * DAY_US, 60);
        let registration = |id: &str, attended: bool| RegistrationInfo {
            event_id: id.to_owned(),
            user_id: "ana".to_owned(),
            registered_at_us: MONDAY - DAY_US,
            attended: Some(attended),
            attributes: Default::default(),
        };
        let events = [event("a", 0), event("b", 1), event("c", 2)];
        let (space, examples, histories) =
            examples(&events, &[registration("c", true), registration("a", true), registration("b", false)]);
        assert!((space.base_rate - 2.0 / 3.0).abs() < 1e-12);
        // First event: no history, the overall rate; second: 1 of 1; third: 1 of 2.
        let rates: Vec<f64> = examples.iter().map(|e| e.features[0]).collect();
        let base = 2.0 / 3.0;
        assert!((rates[0] - base).abs() < 1e-12);
        assert!((rates[1] - (1.0 + 2.0 * base) / 3.0).abs() < 1e-12);
        assert!((rates[2] - (1.0 + 2.0 * base) / 4.0).abs() < 1e-12);
        assert_eq!(histories["ana"], History { registrations: 3, attended: 2 });
        let column = |name: &str| space.names.iter().position(|n| n == name).unwrap();
        assert_eq!(examples[1].features[column("day_tuesday")], 1.0);
        // Events at midnight UTC are dates without a time.
        assert_eq!(examples[0].features[column("slot_all_day")], 1.0);
    }

    #[test]
    fn days_and_slots_are_local_and_a_date_is_not_a_morning() {
        let mut event = synthetic::weekly_classes(1, 1).0.remove(0);
        // Monday 18:00 UTC is Tuesday 03:00 in Auckland (+13:00) and Monday 10:00 in Los Angeles (−08:00).
        event.utc_offset_minutes = 13 * 60;
        assert_eq!((event.local_weekday(), event.local_slot()), (1, "morning"));
        event.utc_offset_minutes = -8 * 60;
        assert_eq!((event.local_weekday(), event.local_slot()), (0, "morning"));
        event.utc_offset_minutes = 0;
        assert_eq!(event.local_slot(), "evening");
        // Local midnight: a date only.
        event.start_us = MONDAY - 2 * 3_600_000_000;
        event.utc_offset_minutes = 120;
        assert!(event.is_all_day());
        assert_eq!((event.local_weekday(), event.local_slot()), (0, "all_day"));
    }

    #[test]
    fn validation_starts_on_a_day_boundary() {
        // Days 0, 0, 1, 1, 1, 2, 2, 3: a 25 % split would start at index 6 (day 2): it starts at
        // that day's first example, 5.
        let starts: Vec<i64> = [0, 0, 1, 1, 1, 2, 2, 3].iter().map(|d| d * DAY_US + 3_600_000_000).collect();
        assert_eq!(validation_start(&starts, 0.25), 5);
        assert_eq!(validation_start(&starts, 0.0), 8);
        // Everything on one day: nothing left to train on.
        assert_eq!(validation_start(&[5, 6, 7], 0.5), 0);
    }

    #[test]
    fn attributes_get_columns_from_the_training_days_only() {
        let (events, mut registrations) = synthetic::weekly_classes(20, 3);
        let last_week = events[events.len() - 3].start_us;
        let starts: HashMap<&str, i64> = events.iter().map(|e| (e.event_id.as_str(), e.start_us)).collect();
        for (i, registration) in registrations.iter_mut().enumerate() {
            let late = starts[registration.event_id.as_str()] >= last_week;
            registration.attributes.insert("reminder_sent".to_owned(), AttributeValue::Flag(i % 2 == 0));
            registration.attributes.insert("age".to_owned(), AttributeValue::Number(20.0 + (i % 30) as f64));
            // A group seen only in the validation days gets no column of its own.
            let group = if late {
                "late-group"
            } else if i % 3 == 0 {
                "a"
            } else {
                "b"
            };
            registration.attributes.insert("group".to_owned(), AttributeValue::Level(group.to_owned()));
        }
        let options = TrainOptions { validation_fraction: 0.05, ..TrainOptions::default() };
        let training = train(&events, &registrations, &options).unwrap();
        let space = &training.model.space;
        for name in ["attr:reminder_sent", "attr:age", "attr:group=a", "attr:group=b", "attr:group=other"] {
            assert!(space.names.iter().any(|n| n == name), "{name} in {:?}", space.names);
        }
        assert!(!space.names.iter().any(|n| n.contains("late-group")));
        let kinds: Vec<(&str, AttributeKind)> = space.attribute_kinds().collect();
        assert_eq!(
            kinds,
            [
                ("age", AttributeKind::Numeric),
                ("group", AttributeKind::Categorical),
                ("reminder_sent", AttributeKind::Boolean)
            ]
        );
        // The overall rate is the training days' rate.
        let known = known(&events, &registrations);
        let cut = training.train_rows;
        let rate = known[..cut].iter().filter(|(_, r)| r.attended == Some(true)).count() as f64 / cut as f64;
        assert!((space.base_rate - rate).abs() < 1e-12);
        // A missing number takes the training mean; an unknown level is `other`.
        let mut attributes = BTreeMap::new();
        attributes.insert("group".to_owned(), AttributeValue::Level("late-group".to_owned()));
        let row = space.features_of(&events[0], events[0].start_us - DAY_US, &History::default(), &attributes);
        let column = |name: &str| row[space.names.iter().position(|n| n == name).unwrap()];
        assert_eq!(column("attr:group=other"), 1.0);
        assert_eq!(column("attr:group=a"), 0.0);
        assert!(column("attr:age") > 20.0 && column("attr:age") < 50.0);
    }

    #[test]
    fn the_model_learns_the_planted_effects_and_ranks_a_later_window() {
        let (events, registrations) = synthetic::weekly_classes(40, 11);
        let options =
            TrainOptions { validation_fraction: 0.25, family: FamilyChoice::Logistic, ..TrainOptions::default() };
        let training = train(&events, &registrations, &options).unwrap();
        let validation = training.validation.unwrap();
        // The best possible AUC on this data (knowing every true probability) is 0.749.
        assert!(validation.roc_auc.unwrap() >= 0.7, "{validation:?}");
        let weight = |name: &str| {
            let at = training.model.space.names.iter().position(|n| n == name).unwrap();
            training.model.model.weights[at]
        };
        assert!(weight("day_tuesday") > 0.3, "Tuesday +15 points");
        assert!(weight("bad_weather") < -0.2, "rain −10 points");
        assert!(weight("historical_rate") > 1.0);
    }

    #[test]
    fn the_served_model_is_refitted_on_every_day_and_the_validation_figures_are_the_held_out_model_s() {
        let (events, registrations) = synthetic::weekly_classes(40, 11);
        let options =
            TrainOptions { validation_fraction: 0.25, family: FamilyChoice::Logistic, ..TrainOptions::default() };
        let training = train(&events, &registrations, &options).unwrap();
        let held_out = training.model.held_out.as_deref().expect("the model fitted before the refit is kept");
        assert!(held_out.held_out.is_none());
        // Same space, calibration and threshold; different weights (more rows).
        assert_eq!(held_out.space, training.model.space);
        assert_eq!(held_out.calibration, training.model.calibration);
        assert_eq!(held_out.no_show_threshold, training.model.no_show_threshold);
        assert_ne!(held_out.model.weights, training.model.model.weights);
        // The model fitted before the refit is the one trained without the refit.
        let unrefitted = train(&events, &registrations, &TrainOptions { refit: false, ..options }).unwrap();
        assert!(unrefitted.model.held_out.is_none());
        assert_eq!(unrefitted.model.model.weights, held_out.model.weights);
        // The validation figures do not change with the refit: they come from the held-out model.
        assert_eq!(unrefitted.validation, training.validation);
        // Trees: as many more trees as rows were added, in proportion.
        let trees = TrainOptions { family: FamilyChoice::Trees, ..options };
        let trained = train(&events, &registrations, &trees).unwrap();
        let (served, before) = (trained.model.trees.as_ref().unwrap(), trained.model.held_out.as_ref().unwrap());
        let before = before.trees.as_ref().unwrap().trees.len() as f64;
        let scale = (trained.train_rows + trained.validation_rows) as f64 / trained.train_rows as f64;
        assert_eq!(served.trees.len(), (before * scale).round() as usize);
    }

    #[test]
    fn the_expected_count_lies_inside_its_interval() {
        let probabilities = [0.9, 0.8, 0.5, 0.3, 0.95, 0.6];
        let overall = overall(&probabilities, 0.9);
        assert!((overall.expected_attendance - 4.05).abs() < 1e-12);
        assert!(overall.interval_low as f64 <= overall.expected_attendance);
        assert!(overall.interval_high as f64 >= overall.expected_attendance);
        assert!(overall.interval_high <= 6);
    }

    #[test]
    fn factor_analysis_finds_the_planted_factors() {
        let (events, registrations) = synthetic::weekly_classes(40, 11);
        let analysis = analyze_factors(&events, &registrations);
        assert_eq!(analysis.levels["day_of_week"][0].level, "tuesday", "the best day first");
        assert_eq!(analysis.levels["weather"][0].level, "good", "rain −10 points");
        let report =
            factor_report(&events, &registrations, &[Factor::DayOfWeek, Factor::Weather, Factor::HistoricalAttendance]);
        let (days, rain, history) = (&report.factors[0], &report.factors[1], &report.factors[2]);
        assert!(days.correlation.unwrap() > 0.0 && days.significance.unwrap() < 0.01, "{days:?}");
        assert!(rain.correlation.unwrap() < 0.0 && rain.significance.unwrap() < 0.01, "{rain:?}");
        assert!(history.correlation.unwrap() > 0.0 && history.significance.unwrap() < 0.01, "{history:?}");
        let fit = report.fit.unwrap();
        assert!(fit.p_value < 0.01 && fit.r_squared > 0.05 && fit.adjusted_r_squared <= fit.r_squared, "{fit:?}");
    }

    #[test]
    fn a_planted_drop_is_flagged_and_normal_events_are_not() {
        let (events, mut registrations) = synthetic::weekly_classes(40, 11);
        // Nobody came to the Tuesday class of week 35.
        for registration in registrations.iter_mut().filter(|r| r.event_id == "e35-1") {
            registration.attended = Some(false);
        }
        let model = train(&events, &registrations, &TrainOptions::default()).unwrap().model;
        let from = MONDAY + 30 * 7 * DAY_US;
        let predict = |event: &EventInfo, registration: &RegistrationInfo, history: &History| {
            model.predict(event, registration.registered_at_us, history).probability
        };
        let (flagged, _) = anomalies(&events, &registrations, from, i64::MAX, 2.5, &predict);
        let drop = flagged.iter().find(|a| a.event_id == "e35-1").expect("the planted drop");
        assert_eq!((drop.kind, drop.severity, drop.actual), ("attendance_drop", "high", 0));
        // Under the null, about 1.2 % of the 30 events might cross |z| ≥ 2.5 by chance.
        assert!(flagged.len() <= 3, "{flagged:?}");
        assert_eq!(sensitivity_threshold("medium"), Some(2.5));
    }

    #[test]
    fn large_counts_take_the_normal_interval_close_to_the_exact_one() {
        let probabilities: Vec<f64> = (0..EXACT_INTERVAL_MAX + 1).map(|i| 0.2 + 0.6 * (i % 7) as f64 / 6.0).collect();
        let approximate = overall(&probabilities, 0.9);
        assert_eq!(approximate.interval_method, "normal");
        let (low, high) = crate::stats::poisson_binomial_interval(&probabilities, 0.9);
        assert!(approximate.interval_low.abs_diff(low) <= 1, "{approximate:?} vs {low}..{high}");
        assert!(approximate.interval_high.abs_diff(high) <= 1, "{approximate:?} vs {low}..{high}");
        assert_eq!(overall(&probabilities[..10], 0.9).interval_method, "exact");
        // The mass it reports is measured, not the level asked for: close to the exact mass.
        let pmf = crate::stats::poisson_binomial(&probabilities);
        let exact: f64 = pmf[approximate.interval_low as usize..=approximate.interval_high as usize].iter().sum();
        assert!((approximate.coverage - exact).abs() < 0.01, "{} vs {exact}", approximate.coverage);
        assert!(approximate.coverage > 0.9 && approximate.coverage != 0.9);
    }

    #[test]
    fn the_overall_interval_reports_the_mass_it_holds() {
        // Two people at 0.5: P(0) = 0.25, P(1) = 0.5, P(2) = 0.25.
        let overall = overall(&[0.5, 0.5], 0.5);
        let inside: f64 =
            [0.25, 0.5, 0.25][overall.interval_low as usize..=overall.interval_high as usize].iter().sum();
        assert!((overall.coverage - inside).abs() < 1e-12);
        assert!(overall.coverage >= 0.5);
    }
}
