//! Seed 004's attendance model: features of a registration computed strictly from the past
//! (the user's smoothed attendance rate over events that started before this one, how many they
//! registered to), the event's day, time slot, type, lead time, duration, price and weather; a
//! regularised logistic regression on them; and each feature's contribution to a prediction.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::logistic::{self, BinaryMetrics, FitError, LogisticConfig, LogisticModel};
use statrs::distribution::{ContinuousCDF, Normal};
use statrs::statistics::Distribution;

use crate::stats::poisson_binomial_mean;

pub(crate) use crate::time::DAY_US;
const DAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
/// Pseudo-registrations at the overall rate that a user's history is blended with.
const PRIOR_WEIGHT: f64 = 2.0;

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
}

/// A registration, with its outcome when known.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationInfo {
    pub event_id: String,
    pub user_id: String,
    pub registered_at_us: i64,
    pub attended: Option<bool>,
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

/// `morning` (before 12h UTC), `afternoon` (12–17h), `evening` (17h on).
pub fn time_slot(at_us: i64) -> &'static str {
    match crate::time::hour_of_day(at_us) {
        0..=11 => "morning",
        12..=16 => "afternoon",
        _ => "evening",
    }
}

/// A user's history before some time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct History {
    pub registrations: u64,
    pub attended: u64,
}

impl History {
    /// (attended + 2·base) / (registrations + 2): a new user starts at the overall rate.
    pub fn smoothed_rate(&self, base_rate: f64) -> f64 {
        (self.attended as f64 + PRIOR_WEIGHT * base_rate) / (self.registrations as f64 + PRIOR_WEIGHT)
    }
}

/// How features are laid out: the event types and the overall rate seen in training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpace {
    pub base_rate: f64,
    /// Event types with a column of their own (the rest share `type_other`).
    pub event_types: Vec<String>,
    pub names: Vec<String>,
}

impl FeatureSpace {
    pub fn new(base_rate: f64, mut event_types: Vec<String>) -> Self {
        event_types.sort();
        event_types.dedup();
        let mut names = vec!["historical_rate".to_owned(), "past_registrations".to_owned()];
        // Monday is the reference day, morning the reference slot, the first type the reference type.
        names.extend(DAYS[1..].iter().map(|d| format!("day_{d}")));
        names.extend(["slot_afternoon".to_owned(), "slot_evening".to_owned()]);
        names.extend(event_types.iter().skip(1).map(|t| format!("type_{t}")));
        names.push("type_other".to_owned());
        names.extend(
            ["lead_time_days", "duration_hours", "price", "bad_weather", "weather_known", "temperature_c"]
                .map(str::to_owned),
        );
        Self { base_rate, event_types, names }
    }

    /// The feature vector of a registration to `event` by a user with `history`.
    pub fn features(&self, event: &EventInfo, registered_at_us: i64, history: &History) -> Vec<f64> {
        let mut row = Vec::with_capacity(self.names.len());
        row.push(history.smoothed_rate(self.base_rate));
        row.push((history.registrations as f64).ln_1p());
        let day = weekday(event.start_us);
        row.extend((1..7).map(|d| if d == day { 1.0 } else { 0.0 }));
        let slot = time_slot(event.start_us);
        row.push(if slot == "afternoon" { 1.0 } else { 0.0 });
        row.push(if slot == "evening" { 1.0 } else { 0.0 });
        let known = self.event_types.iter().position(|t| *t == event.event_type);
        row.extend((1..self.event_types.len()).map(|i| if known == Some(i) { 1.0 } else { 0.0 }));
        row.push(if known.is_none() { 1.0 } else { 0.0 });
        row.push((((event.start_us - registered_at_us).max(0)) as f64 / DAY_US as f64).ln_1p());
        row.push(event.duration_minutes as f64 / 60.0);
        row.push(event.price.unwrap_or(0.0).max(0.0).ln_1p());
        row.push(if event.bad_weather == Some(true) { 1.0 } else { 0.0 });
        row.push(if event.bad_weather.is_some() { 1.0 } else { 0.0 });
        row.push(event.temperature_c.unwrap_or(0.0));
        row
    }
}

/// One labelled example, in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub event_start_us: i64,
    pub user_id: String,
    pub features: Vec<f64>,
    pub attended: bool,
}

/// Registrations with a known outcome of a known event, in time order.
pub(crate) fn known<'a>(
    events: &'a [EventInfo],
    registrations: &'a [RegistrationInfo],
) -> Vec<(&'a EventInfo, &'a RegistrationInfo)> {
    let by_id: HashMap<&str, &EventInfo> = events.iter().map(|e| (e.event_id.as_str(), e)).collect();
    let mut known: Vec<(&EventInfo, &RegistrationInfo)> = registrations
        .iter()
        .filter(|r| r.attended.is_some())
        .filter_map(|r| by_id.get(r.event_id.as_str()).map(|e| (*e, r)))
        .collect();
    known.sort_by(|a, b| (a.0.start_us, &a.0.event_id, &a.1.user_id).cmp(&(b.0.start_us, &b.0.event_id, &b.1.user_id)));
    known
}

/// Examples for every registration with a known outcome, each with history features taken
/// strictly from events that started before its event. Also the final history of every user.
pub fn examples(
    events: &[EventInfo],
    registrations: &[RegistrationInfo],
) -> (FeatureSpace, Vec<Example>, HashMap<String, History>) {
    let known = known(events, registrations);
    let attended = known.iter().filter(|(_, r)| r.attended == Some(true)).count();
    let base_rate = if known.is_empty() { 0.5 } else { attended as f64 / known.len() as f64 };
    let mut type_counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (event, _) in &known {
        *type_counts.entry(event.event_type.as_str()).or_default() += 1;
    }
    // Types with at least 5 examples get their own column.
    let types: Vec<String> = type_counts.iter().filter(|(_, n)| **n >= 5).map(|(t, _)| (*t).to_owned()).collect();
    let space = FeatureSpace::new(base_rate, types);
    let (examples, histories) = examples_of(&space, &known);
    (space, examples, histories)
}

/// The same examples laid out in a given feature space (a trained model's), so that data that
/// arrived after training is scored with the columns the model knows.
pub fn examples_in(
    space: &FeatureSpace,
    events: &[EventInfo],
    registrations: &[RegistrationInfo],
) -> (Vec<Example>, HashMap<String, History>) {
    examples_of(space, &known(events, registrations))
}

fn examples_of(
    space: &FeatureSpace,
    known: &[(&EventInfo, &RegistrationInfo)],
) -> (Vec<Example>, HashMap<String, History>) {
    let (before, histories) = histories_before(known);
    let examples = known
        .iter()
        .zip(&before)
        .map(|((event, registration), history)| Example {
            event_start_us: event.start_us,
            user_id: registration.user_id.clone(),
            features: space.features(event, registration.registered_at_us, history),
            attended: registration.attended == Some(true),
        })
        .collect();
    (examples, histories)
}

/// Each registration's user history over the events that started before its event (events
/// starting at the same time see each other's outcomes only after all of them), in `known`'s
/// order, and every user's final history.
pub(crate) fn histories_before(known: &[(&EventInfo, &RegistrationInfo)]) -> (Vec<History>, HashMap<String, History>) {
    let mut histories: HashMap<String, History> = HashMap::new();
    let mut before = Vec::with_capacity(known.len());
    let mut index = 0;
    while index < known.len() {
        let start = known[index].0.start_us;
        let group_end = known[index..].iter().position(|(e, _)| e.start_us != start).map_or(known.len(), |n| index + n);
        for (_, registration) in &known[index..group_end] {
            before.push(histories.get(&registration.user_id).copied().unwrap_or_default());
        }
        for (_, registration) in &known[index..group_end] {
            let history = histories.entry(registration.user_id.clone()).or_default();
            history.registrations += 1;
            history.attended += u64::from(registration.attended == Some(true));
        }
        index = group_end;
    }
    (before, histories)
}

/// A trained attendance model, serialisable into the registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttendanceModel {
    pub space: FeatureSpace,
    pub model: LogisticModel,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Training {
    pub model: AttendanceModel,
    pub train: Option<BinaryMetrics>,
    /// On the latest `validation_fraction` of examples by event time.
    pub validation: Option<BinaryMetrics>,
    pub train_rows: usize,
    pub validation_rows: usize,
}

/// Trains on the earlier examples and validates on the latest ones (by event time).
pub fn train(
    examples: &[Example],
    space: FeatureSpace,
    config: &LogisticConfig,
    validation_fraction: f64,
) -> Result<Training, FitError> {
    let split = ((examples.len() as f64) * (1.0 - validation_fraction.clamp(0.0, 0.9))).round() as usize;
    let (train_part, validation_part) = examples.split_at(split.min(examples.len()));
    let rows: Vec<Vec<f64>> = train_part.iter().map(|e| e.features.clone()).collect();
    let labels: Vec<bool> = train_part.iter().map(|e| e.attended).collect();
    let model = logistic::fit(&rows, &labels, config)?;
    let score = |part: &[Example]| {
        let probabilities: Vec<f64> = part.iter().map(|e| model.predict_proba(&e.features)).collect();
        let labels: Vec<bool> = part.iter().map(|e| e.attended).collect();
        BinaryMetrics::compute(&probabilities, &labels)
    };
    Ok(Training {
        train: score(train_part),
        validation: score(validation_part),
        train_rows: train_part.len(),
        validation_rows: validation_part.len(),
        model: AttendanceModel { space, model },
    })
}

/// One feature's push on a prediction: weight × (value − training mean), in log-odds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contribution {
    pub feature: String,
    pub value: f64,
    pub contribution: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonPrediction {
    pub probability: f64,
    /// The 95 % interval of the probability from the model's coefficient uncertainty.
    pub interval: Option<(f64, f64)>,
    /// Largest pushes first.
    pub contributions: Vec<Contribution>,
}

impl AttendanceModel {
    pub fn predict(&self, event: &EventInfo, registered_at_us: i64, history: &History) -> PersonPrediction {
        self.explain(self.space.features(event, registered_at_us, history))
    }

    /// The prediction for a feature vector laid out in this model's space.
    pub fn explain(&self, features: Vec<f64>) -> PersonPrediction {
        let probability = self.model.predict_proba(&features);
        let interval = self.model.probability_interval(&features, 0.95);
        let mut contributions: Vec<Contribution> = features
            .iter()
            .enumerate()
            .map(|(i, value)| Contribution {
                feature: self.space.names[i].clone(),
                value: *value,
                contribution: self.model.weights[i] * (value - self.model.means.get(i).copied().unwrap_or(0.0)),
            })
            .collect();
        contributions.sort_by(|a, b| {
            b.contribution.abs().total_cmp(&a.contribution.abs()).then_with(|| a.feature.cmp(&b.feature))
        });
        PersonPrediction { probability, interval, contributions }
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

pub use anomalies::*;
pub use drivers::*;
pub use factors::*;

#[cfg(test)]
mod tests {
    use super::synthetic::MONDAY;
    use super::*;

    #[test]
    fn history_features_come_only_from_earlier_events() {
        let event = |id: &str, day: i64| EventInfo {
            event_id: id.to_owned(),
            event_type: "class".to_owned(),
            start_us: MONDAY + day * DAY_US,
            duration_minutes: 60,
            price: None,
            bad_weather: None,
            temperature_c: None,
            condition: None,
            location: None,
            instructor: None,
        };
        let registration = |id: &str, attended: bool| RegistrationInfo {
            event_id: id.to_owned(),
            user_id: "ana".to_owned(),
            registered_at_us: MONDAY - DAY_US,
            attended: Some(attended),
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
        assert_eq!(examples[1].features[2], 1.0, "Tuesday column");
    }

    #[test]
    fn the_model_learns_the_planted_effects_and_ranks_a_later_window() {
        let (events, registrations) = synthetic::weekly_classes(40, 11);
        let (space, examples, _) = examples(&events, &registrations);
        let training = train(&examples, space, &LogisticConfig::default(), 0.25).unwrap();
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
        let (space, examples, _) = examples(&events, &registrations);
        let model = train(&examples, space, &LogisticConfig::default(), 0.2).unwrap().model;
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
