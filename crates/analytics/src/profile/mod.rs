//! A user's behavioural profile, kept incrementally: [`ProfileState`] takes one event at a time
//! in any order (late events included) and equals the state built from all the events at once,
//! exactly while a user has at most `max_distinct` distinct categories, features and items
//! (200 by default), and while a late event is not older than the user's `kept_sessions` latest
//! sessions (64 by default). Past those bounds the rarest categories are dropped as events come,
//! and sessions older than the kept ones are only counted (their number, total and longest
//! length); an event older than all kept sessions counts as a session of its own. Memory bounds,
//! so that a user's state does not grow with their history. [`ProfileState::features`] reads the features of SPEC §4 out of it at a given time,
//! and [`ProfileState::preferences`] the decayed preference scores.
//!
//! Definitions (times in UTC):
//! - **sessions**: maximal runs of events less than `session_gap_secs` apart (the ingestion
//!   rule); a session's length is its last event's time minus its first's.
//! - **active days**: distinct UTC days with an event; **active-day ratio** = active days /
//!   days from the first event's day to `now`'s day, both included.
//! - **recency**: days from the last event to `now`; **tenure**: days from the first event to
//!   `now`; **frequency**: events per week of tenure (a tenure under one week counts as one).
//! - **hour-of-day** (24) and **day-of-week** (7, Monday first) distributions: shares of events.
//! - **categories**: shares of events by the value of the `category_property` property;
//!   **feature usage**: counts by the value of the first of `feature_properties` present.
//! - **engagement score** (0–100): `100 × (0.30·A + 0.30·R + 0.25·D + 0.15·B)` with
//!   A = active-day ratio, R = exp(−recency / 14 days), D = 1 − exp(−events per session / 5),
//!   B = 1 − exp(−distinct event types / 3): regular, recent, deep and varied use each count.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::time::{DAY_US, day_index, hour_of_day, weekday};
const WEEK_DAYS: f64 = 7.0;

/// What profiling reads from the events, and how preferences are scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProfileConfig {
    pub session_gap_secs: i64,
    /// The property whose value is an event's category or content type.
    pub category_property: String,
    /// Properties naming the product feature or element used (the first present counts).
    pub feature_properties: Vec<String>,
    /// Properties naming an item (product, article…) for item preferences.
    pub item_properties: Vec<String>,
    /// Half-life of a preference signal, in days.
    pub preference_half_life_days: f64,
    /// Weight of an event in preferences by type; types not listed weigh `default_weight`.
    pub event_weights: BTreeMap<String, f64>,
    pub default_weight: f64,
    /// Distinct categories, features and items kept per user (the most frequent win).
    pub max_distinct: usize,
    /// A user's latest sessions kept one by one (late events may join or bridge them); older
    /// ones are only counted.
    pub kept_sessions: usize,
}

impl Default for ProfileConfig {
    fn default() -> Self {
        Self {
            session_gap_secs: 1_800,
            category_property: "category".to_owned(),
            feature_properties: vec!["feature".to_owned(), "element_id".to_owned()],
            item_properties: vec!["item_id".to_owned(), "product_id".to_owned(), "content_id".to_owned()],
            preference_half_life_days: 14.0,
            event_weights: [
                ("page_view", 1.0),
                ("view", 1.0),
                ("click", 2.0),
                ("search", 1.5),
                ("add_to_cart", 4.0),
                ("like", 4.0),
                ("share", 5.0),
                ("purchase", 8.0),
            ]
            .into_iter()
            .map(|(name, weight)| (name.to_owned(), weight))
            .collect(),
            default_weight: 1.0,
            max_distinct: 200,
            kept_sessions: 64,
        }
    }
}

/// One event as profiling sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileEvent {
    pub event_type: String,
    pub timestamp_us: i64,
    pub category: Option<String>,
    pub feature: Option<String>,
    pub item: Option<String>,
}

impl ProfileEvent {
    /// The same, from the properties as stored (a JSON object; anything else reads as empty).
    pub fn from_json_properties(event_type: &str, timestamp_us: i64, properties: &str, config: &ProfileConfig) -> Self {
        let properties: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(properties).unwrap_or_default();
        Self::from_properties(event_type, timestamp_us, &properties, config)
    }

    /// Reads category, feature and item from an event's properties as `config` names them.
    pub fn from_properties(
        event_type: &str,
        timestamp_us: i64,
        properties: &serde_json::Map<String, serde_json::Value>,
        config: &ProfileConfig,
    ) -> Self {
        let text = |name: &str| -> Option<String> {
            match properties.get(name)? {
                serde_json::Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
                serde_json::Value::Number(number) => Some(number.to_string()),
                _ => None,
            }
        };
        let first = |names: &[String]| names.iter().find_map(|name| text(name));
        Self {
            event_type: event_type.to_owned(),
            timestamp_us,
            category: text(&config.category_property),
            feature: first(&config.feature_properties),
            item: first(&config.item_properties),
        }
    }
}

/// A session: its span, size, and first and last actions (ties broken by type name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub start_us: i64,
    pub end_us: i64,
    pub events: u64,
    pub first_action: String,
    pub last_action: String,
}

/// Sessions no longer kept one by one: what the features need of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionTotals {
    pub count: u64,
    /// Their lengths, added up, in seconds.
    pub seconds: f64,
    pub longest_seconds: f64,
}

impl SessionTotals {
    fn add(&mut self, session: &Session) {
        let seconds = (session.end_us - session.start_us) as f64 / 1e6;
        self.count += 1;
        self.seconds += seconds;
        self.longest_seconds = self.longest_seconds.max(seconds);
    }
}

/// Decayed evidence for one category or item: Σ weight · 2^((t − anchor) / half-life), kept
/// relative to an anchor time so that it never overflows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub count: u64,
    pub last_seen_us: i64,
    pub decayed: f64,
    pub anchor_us: i64,
}

impl Evidence {
    fn add(&mut self, weight: f64, at_us: i64, half_life_us: f64) {
        self.count += 1;
        self.last_seen_us = self.last_seen_us.max(at_us);
        if at_us > self.anchor_us {
            // Move the anchor forward so exponents stay small.
            self.decayed *= ((self.anchor_us - at_us) as f64 / half_life_us).exp2();
            self.anchor_us = at_us;
        }
        self.decayed += weight * ((at_us - self.anchor_us) as f64 / half_life_us).exp2();
    }

    /// The score at `now_us`: every signal halved once per half-life since it happened.
    pub fn score_at(&self, now_us: i64, half_life_us: f64) -> f64 {
        self.decayed * ((self.anchor_us - now_us) as f64 / half_life_us).exp2()
    }
}

/// The incremental state of one user's profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileState {
    pub events: u64,
    pub events_by_type: BTreeMap<String, u64>,
    pub first_us: Option<i64>,
    pub last_us: Option<i64>,
    pub hours: [u64; 24],
    pub weekdays: [u64; 7],
    /// Days since the epoch with at least one event, ascending.
    pub active_days: Vec<i64>,
    /// The latest `kept_sessions` sessions, in time order, never overlapping nor closer than the
    /// session gap.
    pub sessions: Vec<Session>,
    /// The sessions before the kept ones, counted.
    #[serde(default)]
    pub earlier_sessions: SessionTotals,
    pub categories: BTreeMap<String, u64>,
    pub features: BTreeMap<String, u64>,
    pub category_evidence: BTreeMap<String, Evidence>,
    pub item_evidence: BTreeMap<String, Evidence>,
}

fn min_action(a: (i64, &str), b: (i64, &str)) -> bool {
    a < b
}

impl ProfileState {
    /// Folds one event in; the result does not depend on the order events come in while the
    /// distinct values stay within `max_distinct` (see the module documentation).
    pub fn observe(&mut self, event: &ProfileEvent, config: &ProfileConfig) {
        let at = event.timestamp_us;
        self.events += 1;
        *self.events_by_type.entry(event.event_type.clone()).or_default() += 1;
        self.first_us = Some(self.first_us.map_or(at, |first| first.min(at)));
        self.last_us = Some(self.last_us.map_or(at, |last| last.max(at)));
        let day = day_index(at);
        let hour = hour_of_day(at);
        self.hours[hour.min(23)] += 1;
        self.weekdays[weekday(at)] += 1;
        if let Err(position) = self.active_days.binary_search(&day) {
            self.active_days.insert(position, day);
        }
        self.add_to_sessions(at, &event.event_type, config.session_gap_secs.max(1) * 1_000_000, config.kept_sessions);
        if let Some(category) = &event.category {
            *self.categories.entry(category.clone()).or_default() += 1;
        }
        if let Some(feature) = &event.feature {
            *self.features.entry(feature.clone()).or_default() += 1;
        }
        let weight = config.event_weights.get(&event.event_type).copied().unwrap_or(config.default_weight);
        let half_life_us = config.preference_half_life_days.max(1e-6) * DAY_US as f64;
        let fresh = || Evidence { count: 0, last_seen_us: at, decayed: 0.0, anchor_us: at };
        if let Some(category) = &event.category {
            self.category_evidence.entry(category.clone()).or_insert_with(fresh).add(weight, at, half_life_us);
        }
        if let Some(item) = &event.item {
            self.item_evidence.entry(item.clone()).or_insert_with(fresh).add(weight, at, half_life_us);
        }
        self.trim(config.max_distinct);
    }

    /// Keeps the `max` most frequent categories, features and items (ties by name).
    fn trim(&mut self, max: usize) {
        fn keep_top<V>(map: &mut BTreeMap<String, V>, max: usize, count: impl Fn(&V) -> u64) {
            if map.len() <= max {
                return;
            }
            let mut ranked: Vec<(u64, String)> = map.iter().map(|(name, value)| (count(value), name.clone())).collect();
            ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            for (_, name) in ranked.into_iter().skip(max) {
                map.remove(&name);
            }
        }
        keep_top(&mut self.categories, max, |count| *count);
        keep_top(&mut self.features, max, |count| *count);
        keep_top(&mut self.category_evidence, max, |evidence| evidence.count);
        keep_top(&mut self.item_evidence, max, |evidence| evidence.count);
    }

    /// Puts an event at `at` in its session: joins the session it falls in or next to, merges
    /// two sessions it bridges, or starts one; then counts the sessions past the `kept` latest.
    fn add_to_sessions(&mut self, at: i64, action: &str, gap_us: i64, kept: usize) {
        // The first session starting after `at`.
        let next = self.sessions.partition_point(|session| session.start_us <= at);
        let joins_previous = next > 0 && at - self.sessions[next - 1].end_us < gap_us;
        let joins_next = next < self.sessions.len() && self.sessions[next].start_us - at < gap_us;
        let single = Session {
            start_us: at,
            end_us: at,
            events: 1,
            first_action: action.to_owned(),
            last_action: action.to_owned(),
        };
        if next == 0 && !joins_next && self.earlier_sessions.count > 0 {
            // Before every kept session, among the counted ones: where it falls is not known.
            self.earlier_sessions.add(&single);
            return;
        }
        match (joins_previous, joins_next) {
            (false, false) => self.sessions.insert(next, single),
            (true, false) => absorb(&mut self.sessions[next - 1], single),
            (false, true) => absorb(&mut self.sessions[next], single),
            (true, true) => {
                let following = self.sessions.remove(next);
                let previous = &mut self.sessions[next - 1];
                absorb(previous, single);
                absorb(previous, following);
            }
        }
        let past = self.sessions.len().saturating_sub(kept.max(1));
        for session in self.sessions.drain(..past) {
            self.earlier_sessions.add(&session);
        }
    }

    /// The features at `now_us`.
    pub fn features(&self, now_us: i64) -> Features {
        let (Some(first), Some(last)) = (self.first_us, self.last_us) else {
            return Features::default();
        };
        let earlier = &self.earlier_sessions;
        let sessions = earlier.count + self.sessions.len() as u64;
        let lengths: Vec<f64> = self.sessions.iter().map(|s| (s.end_us - s.start_us) as f64 / 1e6).collect();
        let days_spanned = (day_index(now_us.max(last)) - day_index(first) + 1).max(1);
        let tenure_days = (now_us.max(last) - first) as f64 / DAY_US as f64;
        let recency_days = ((now_us - last).max(0)) as f64 / DAY_US as f64;
        let events_per_session = self.events as f64 / sessions.max(1) as f64;
        let active_day_ratio = self.active_days.len() as f64 / days_spanned as f64;
        let share = |counts: &[u64]| -> Vec<f64> {
            counts.iter().map(|count| *count as f64 / self.events.max(1) as f64).collect()
        };
        let category_total: u64 = self.categories.values().sum();
        let engagement = 100.0
            * (0.30 * active_day_ratio
                + 0.30 * (-recency_days / 14.0).exp()
                + 0.25 * (1.0 - (-events_per_session / 5.0).exp())
                + 0.15 * (1.0 - (-(self.events_by_type.len() as f64) / 3.0).exp()));
        Features {
            events: self.events,
            events_by_type: self.events_by_type.clone(),
            sessions,
            events_per_session,
            mean_session_seconds: (earlier.seconds + lengths.iter().sum::<f64>()) / sessions.max(1) as f64,
            max_session_seconds: lengths.iter().copied().fold(earlier.longest_seconds, f64::max),
            active_days: self.active_days.len() as u64,
            active_day_ratio,
            recency_days,
            tenure_days,
            events_per_week: self.events as f64 / (tenure_days / WEEK_DAYS).max(1.0),
            hour_of_day: share(&self.hours),
            day_of_week: share(&self.weekdays),
            categories: self
                .categories
                .iter()
                .map(|(name, count)| (name.clone(), *count as f64 / category_total.max(1) as f64))
                .collect(),
            feature_usage: self.features.clone(),
            engagement_score: engagement,
            first_seen_us: first,
            last_seen_us: last,
        }
    }

    /// Category and item preferences at `now_us`, scaled so the strongest is 1, best first
    /// (ties by name), at most `top_k` of each.
    pub fn preferences(&self, now_us: i64, config: &ProfileConfig, top_k: usize) -> Preferences {
        let half_life_us = config.preference_half_life_days.max(1e-6) * DAY_US as f64;
        let rank = |evidence: &BTreeMap<String, Evidence>| -> Vec<Preference> {
            let scores: Vec<(&String, &Evidence, f64)> =
                evidence.iter().map(|(name, e)| (name, e, e.score_at(now_us, half_life_us))).collect();
            let best = scores.iter().map(|(_, _, score)| *score).fold(0.0, f64::max);
            let mut ranked: Vec<Preference> = scores
                .into_iter()
                .map(|(name, e, score)| Preference {
                    name: name.clone(),
                    score: if best > 0.0 { score / best } else { 0.0 },
                    raw_score: score,
                    count: e.count,
                    last_seen_us: e.last_seen_us,
                })
                .collect();
            ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.name.cmp(&b.name)));
            ranked.truncate(top_k);
            ranked
        };
        Preferences { categories: rank(&self.category_evidence), items: rank(&self.item_evidence) }
    }
}

fn absorb(into: &mut Session, other: Session) {
    if min_action((other.start_us, &other.first_action), (into.start_us, &into.first_action)) {
        into.first_action = other.first_action;
    }
    if min_action((into.end_us, &into.last_action), (other.end_us, &other.last_action)) {
        into.last_action = other.last_action;
    }
    into.start_us = into.start_us.min(other.start_us);
    into.end_us = into.end_us.max(other.end_us);
    into.events += other.events;
}

/// The features of SPEC §4 (see the module's definitions).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Features {
    pub events: u64,
    pub events_by_type: BTreeMap<String, u64>,
    pub sessions: u64,
    pub events_per_session: f64,
    pub mean_session_seconds: f64,
    pub max_session_seconds: f64,
    pub active_days: u64,
    pub active_day_ratio: f64,
    pub recency_days: f64,
    pub tenure_days: f64,
    pub events_per_week: f64,
    /// 24 shares, hour 0 first (UTC).
    pub hour_of_day: Vec<f64>,
    /// 7 shares, Monday first.
    pub day_of_week: Vec<f64>,
    pub categories: BTreeMap<String, f64>,
    pub feature_usage: BTreeMap<String, u64>,
    pub engagement_score: f64,
    #[serde(skip)]
    pub first_seen_us: i64,
    #[serde(skip)]
    pub last_seen_us: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preference {
    pub name: String,
    /// 0..1, the strongest preference being 1.
    pub score: f64,
    /// Σ weight · 2^(−age / half-life).
    pub raw_score: f64,
    pub count: u64,
    #[serde(skip)]
    pub last_seen_us: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Preferences {
    pub categories: Vec<Preference>,
    pub items: Vec<Preference>,
}

#[cfg(test)]
mod tests;
