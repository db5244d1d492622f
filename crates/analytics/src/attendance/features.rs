//! What the attendance model reads of a registration: the user's history strictly before the
//! event, the event's local day and time slot, type, lead time, duration, price and weather, and
//! the typed attributes of the person and of the registration (age band, group, whether a
//! reminder was sent, …).
//!
//! A [`FeatureSpace`] is laid out from the training rows only (the overall rate, the event
//! types, the levels of each categorical attribute, the fill-in of a missing number), and
//! computes each column by its name, so that a model stored with an older list of names still
//! gets exactly the columns it was fitted on.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{DAY_US, EventInfo, RegistrationInfo};

pub(crate) const DAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
/// Pseudo-registrations at the overall rate that a user's history is blended with.
const PRIOR_WEIGHT: f64 = 2.0;
/// A categorical attribute's level needs this many training rows for a column of its own; the
/// rarer ones share `=other`.
const MIN_LEVEL_ROWS: usize = 20;
/// At most this many levels of one attribute get a column (the most common).
const MAX_LEVELS: usize = 40;
/// An event type needs this many training rows for a column of its own.
const MIN_TYPE_ROWS: usize = 5;

/// The value of a person's or a registration's attribute, typed as its organisation declared it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttributeValue {
    Flag(bool),
    Number(f64),
    Level(String),
}

/// How an attribute enters the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeKind {
    /// One column: the value (a missing one takes the training mean).
    Numeric,
    /// One column, 0/1 (missing: the training share of true).
    Boolean,
    /// One column per common level, and `=other` for the rest (missing: none set).
    Categorical,
}

/// An attribute as a trained model lays it out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeColumn {
    pub name: String,
    pub kind: AttributeKind,
    /// Categorical: the levels with a column, most common first.
    #[serde(default)]
    pub levels: Vec<String>,
    /// Numeric and boolean: what a missing value is taken as (the training mean).
    #[serde(default)]
    pub fill: f64,
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

    /// One more known outcome.
    pub(crate) fn record(&mut self, attended: bool) {
        self.registrations += 1;
        self.attended += u64::from(attended);
    }
}

/// How features are laid out: the overall rate, the event types, the attributes, and the names
/// of the columns in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpace {
    pub base_rate: f64,
    /// Event types with a column of their own (the rest share `type_other`).
    pub event_types: Vec<String>,
    #[serde(default)]
    pub attributes: Vec<AttributeColumn>,
    pub names: Vec<String>,
}

const EVENT_COLUMNS: [&str; 6] =
    ["lead_time_days", "duration_hours", "price", "bad_weather", "weather_known", "temperature_c"];

impl FeatureSpace {
    /// The layout without attributes.
    pub fn new(base_rate: f64, event_types: Vec<String>) -> Self {
        Self::layout(base_rate, event_types, Vec::new(), false)
    }

    fn layout(base_rate: f64, mut event_types: Vec<String>, attributes: Vec<AttributeColumn>, all_day: bool) -> Self {
        event_types.sort();
        event_types.dedup();
        // `historical_rate` first: callers replace it with a rate they are given.
        let mut names = vec!["historical_rate".to_owned(), "past_registrations".to_owned()];
        // Monday is the reference day, morning the reference slot, the first type the reference type.
        names.extend(DAYS[1..].iter().map(|d| format!("day_{d}")));
        names.extend(["slot_afternoon".to_owned(), "slot_evening".to_owned()]);
        if all_day {
            names.push("slot_all_day".to_owned());
        }
        names.extend(event_types.iter().skip(1).map(|t| format!("type_{t}")));
        names.push("type_other".to_owned());
        names.extend(EVENT_COLUMNS.map(str::to_owned));
        for attribute in &attributes {
            match attribute.kind {
                AttributeKind::Numeric | AttributeKind::Boolean => names.push(format!("attr:{}", attribute.name)),
                AttributeKind::Categorical => {
                    names.extend(attribute.levels.iter().map(|level| format!("attr:{}={level}", attribute.name)));
                    names.push(format!("attr:{}=other", attribute.name));
                }
            }
        }
        Self { base_rate, event_types, attributes, names }
    }

    /// The layout learnt from training rows: their overall rate, the event types with enough
    /// rows, and each attribute's kind (from its values), common levels and fill-in.
    pub fn fit(known: &[(&EventInfo, &RegistrationInfo)]) -> Self {
        let attended = known.iter().filter(|(_, r)| r.attended == Some(true)).count();
        let base_rate = if known.is_empty() { 0.5 } else { attended as f64 / known.len() as f64 };
        let mut type_counts: BTreeMap<&str, usize> = BTreeMap::new();
        for (event, _) in known {
            *type_counts.entry(event.event_type.as_str()).or_default() += 1;
        }
        let types: Vec<String> =
            type_counts.iter().filter(|(_, n)| **n >= MIN_TYPE_ROWS).map(|(t, _)| (*t).to_owned()).collect();
        let all_day = known.iter().any(|(event, _)| event.is_all_day());
        Self::layout(base_rate, types, fit_attributes(known), all_day)
    }

    /// The feature vector of a registration to `event` by a user with `history`, with the
    /// registration's (and its person's) `attributes`.
    pub fn features_of(
        &self,
        event: &EventInfo,
        registered_at_us: i64,
        history: &History,
        attributes: &BTreeMap<String, AttributeValue>,
    ) -> Vec<f64> {
        let day = event.local_weekday();
        let slot = event.local_slot();
        let known_type = self.event_types.iter().position(|t| *t == event.event_type);
        self.names
            .iter()
            .map(|name| match name.as_str() {
                "historical_rate" => history.smoothed_rate(self.base_rate),
                "past_registrations" => (history.registrations as f64).ln_1p(),
                "slot_afternoon" => f64::from(u8::from(slot == "afternoon")),
                "slot_evening" => f64::from(u8::from(slot == "evening")),
                "slot_all_day" => f64::from(u8::from(slot == "all_day")),
                "type_other" => f64::from(u8::from(known_type.is_none())),
                "lead_time_days" => (((event.start_us - registered_at_us).max(0)) as f64 / DAY_US as f64).ln_1p(),
                "duration_hours" => event.duration_minutes as f64 / 60.0,
                "price" => event.price.unwrap_or(0.0).max(0.0).ln_1p(),
                "bad_weather" => f64::from(u8::from(event.bad_weather == Some(true))),
                "weather_known" => f64::from(u8::from(event.bad_weather.is_some())),
                "temperature_c" => event.temperature_c.unwrap_or(0.0),
                other => {
                    if let Some(name) = other.strip_prefix("day_") {
                        f64::from(u8::from(DAYS[day] == name))
                    } else if let Some(name) = other.strip_prefix("type_") {
                        f64::from(u8::from(known_type.is_some_and(|i| self.event_types[i] == name)))
                    } else if let Some(column) = other.strip_prefix("attr:") {
                        self.attribute_value(column, attributes)
                    } else {
                        0.0
                    }
                }
            })
            .collect()
    }

    /// The feature vector without attributes (events and registrations that carry none).
    pub fn features(&self, event: &EventInfo, registered_at_us: i64, history: &History) -> Vec<f64> {
        self.features_of(event, registered_at_us, history, &BTreeMap::new())
    }

    /// The value of an `attr:` column (`name`, or `name=level` for a categorical level).
    fn attribute_value(&self, column: &str, attributes: &BTreeMap<String, AttributeValue>) -> f64 {
        let (name, level) = match column.split_once('=') {
            Some((name, level)) => (name, Some(level)),
            None => (column, None),
        };
        let Some(spec) = self.attributes.iter().find(|a| a.name == name) else {
            return 0.0;
        };
        let value = attributes.get(name);
        match (spec.kind, level) {
            (AttributeKind::Numeric, None) => match value {
                Some(AttributeValue::Number(x)) if x.is_finite() => *x,
                Some(AttributeValue::Flag(flag)) => f64::from(u8::from(*flag)),
                _ => spec.fill,
            },
            (AttributeKind::Boolean, None) => match value {
                Some(AttributeValue::Flag(flag)) => f64::from(u8::from(*flag)),
                Some(AttributeValue::Number(x)) if x.is_finite() => f64::from(u8::from(*x != 0.0)),
                _ => spec.fill,
            },
            (AttributeKind::Categorical, Some(level)) => {
                let Some(given) = value.map(level_text) else {
                    return 0.0;
                };
                if level == "other" {
                    f64::from(u8::from(!spec.levels.contains(&given)))
                } else {
                    f64::from(u8::from(given == level))
                }
            }
            _ => 0.0,
        }
    }

    /// The attributes with a column, and their kinds.
    pub fn attribute_kinds(&self) -> impl Iterator<Item = (&str, AttributeKind)> {
        self.attributes.iter().map(|a| (a.name.as_str(), a.kind))
    }
}

/// A categorical value as text (numbers and flags too, for codes given as numbers).
fn level_text(value: &AttributeValue) -> String {
    match value {
        AttributeValue::Level(text) => text.clone(),
        AttributeValue::Number(x) => {
            if x.fract() == 0.0 && x.abs() < 1e15 {
                format!("{}", *x as i64)
            } else {
                x.to_string()
            }
        }
        AttributeValue::Flag(flag) => flag.to_string(),
    }
}

/// Each attribute seen in training: its kind from its values (all flags: boolean; all numbers:
/// numeric; else categorical), its common levels or its mean.
fn fit_attributes(known: &[(&EventInfo, &RegistrationInfo)]) -> Vec<AttributeColumn> {
    let mut values: BTreeMap<&str, Vec<&AttributeValue>> = BTreeMap::new();
    for (_, registration) in known {
        for (name, value) in &registration.attributes {
            values.entry(name.as_str()).or_default().push(value);
        }
    }
    values
        .into_iter()
        .filter_map(|(name, values)| {
            let flags = values.iter().all(|v| matches!(v, AttributeValue::Flag(_)));
            let numbers = values.iter().all(|v| matches!(v, AttributeValue::Number(x) if x.is_finite()));
            if flags || numbers {
                let sum: f64 = values
                    .iter()
                    .map(|v| match v {
                        AttributeValue::Flag(flag) => f64::from(u8::from(*flag)),
                        AttributeValue::Number(x) => *x,
                        AttributeValue::Level(_) => 0.0,
                    })
                    .sum();
                let kind = if flags { AttributeKind::Boolean } else { AttributeKind::Numeric };
                return Some(AttributeColumn {
                    name: name.to_owned(),
                    kind,
                    levels: Vec::new(),
                    fill: sum / values.len() as f64,
                });
            }
            let mut counts: HashMap<String, usize> = HashMap::new();
            for value in &values {
                *counts.entry(level_text(value)).or_default() += 1;
            }
            let mut levels: Vec<(String, usize)> = counts.into_iter().filter(|(_, n)| *n >= MIN_LEVEL_ROWS).collect();
            levels.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            levels.truncate(MAX_LEVELS);
            (!levels.is_empty()).then(|| AttributeColumn {
                name: name.to_owned(),
                kind: AttributeKind::Categorical,
                levels: levels.into_iter().map(|(level, _)| level).collect(),
                fill: 0.0,
            })
        })
        .collect()
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
/// strictly from events that started before its event, in a space laid out from all of them.
/// Also the final history of every user. (Training lays the space out from its training days
/// only: see [`super::train`].)
pub fn examples(
    events: &[EventInfo],
    registrations: &[RegistrationInfo],
) -> (FeatureSpace, Vec<Example>, HashMap<String, History>) {
    let known = known(events, registrations);
    let space = FeatureSpace::fit(&known);
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

pub(crate) fn examples_of(
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
            features: space.features_of(event, registration.registered_at_us, history, &registration.attributes),
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
            histories.entry(registration.user_id.clone()).or_default().record(registration.attended == Some(true));
        }
        index = group_end;
    }
    (before, histories)
}
