//! Seed 001's match-event schema (its `tracking.schema`): the four typed events and their
//! checks, storing one (an ordinary event: same ingestion path, same consent gate, with fixed,
//! validated properties), and reading them back for the metrics, the match model and
//! retention's daily aggregates.

use std::collections::{BTreeMap, HashMap};

use footprint_analytics::matching::{Decision, Feedback, MatchStats, Proposal};
use footprint_analytics::time::day_start;
use footprint_analytics::{EventType, UserId};
use footprint_store::{EventQuery, StoredEvent};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::accounts::principal::Principal;
use crate::app::state::AppState;
use crate::kernel::error::ApiError;
use crate::kernel::time::DAY_US;
use crate::tracking::ingest::{self, EventResult, ValidEvent};

pub const MATCH_PROPOSED: &str = "match_proposed";
pub const MATCH_VIEWED: &str = "match_viewed";
pub const MATCH_DECISION: &str = "match_decision";
pub const MATCH_FEEDBACK: &str = "match_feedback";
/// The kind under which daily match aggregates are kept.
pub const AGGREGATE_KIND: &str = "match";

const MAX_ID_CHARS: usize = 200;
pub const MAX_TEXT_CHARS: usize = 5_000;
const MAX_ENTRIES: usize = 100;

/// A match event, validated, with the properties it will be stored with.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchEvent {
    pub user_id: UserId,
    pub event_type: &'static str,
    pub session_id: Option<String>,
    pub properties: Map<String, Value>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::InvalidParameters(message.into())
}

pub fn check_id(name: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > MAX_ID_CHARS || value.chars().any(char::is_control) {
        return Err(invalid(format!("{name}: must be 1 to {MAX_ID_CHARS} printable characters")));
    }
    Ok(value.to_owned())
}

pub fn check_number(name: &str, value: f64, min: f64, max: f64) -> Result<f64, ApiError> {
    if !value.is_finite() || value < min || value > max {
        return Err(invalid(format!("{name}: must be a number from {min} to {max}")));
    }
    Ok(value)
}

/// `{"name": number, …}`: at most 100 entries, finite numbers.
pub fn number_map(name: &str, value: &Value) -> Result<Map<String, Value>, ApiError> {
    let Some(object) = value.as_object() else {
        return Err(ApiError::Validation(format!("{name}: must be an object of names to numbers")));
    };
    if object.len() > MAX_ENTRIES {
        return Err(ApiError::Validation(format!("{name}: at most {MAX_ENTRIES} entries")));
    }
    for (key, number) in object {
        if key.is_empty() || key.chars().count() > MAX_ID_CHARS {
            return Err(ApiError::Validation(format!("{name}: names must be 1 to {MAX_ID_CHARS} characters")));
        }
        if !number.as_f64().is_some_and(f64::is_finite) {
            return Err(ApiError::Validation(format!("{name}.{key}: must be a number")));
        }
    }
    Ok(object.clone())
}

/// Takes `wrapper` out of `{"wrapper": inner}`, or the body itself when it is the bare form.
pub fn unwrap_body(body: Option<Value>, wrapper: &str, bare_is: fn(&Value) -> bool) -> Result<Option<Value>, ApiError> {
    match body {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(mut object)) if object.len() == 1 && object.contains_key(wrapper) => {
            Ok(object.remove(wrapper).filter(|value| !value.is_null()))
        }
        Some(value) if bare_is(&value) => Ok(Some(value)),
        Some(_) => Err(ApiError::Validation(format!("the body must be {{\"{wrapper}\": …}} or its bare value"))),
    }
}

/// Stores a match event through ingestion. Without analytics consent nothing is stored and the
/// caller gets 403, as in seed 001.
pub async fn track(state: &AppState, principal: &Principal, event: MatchEvent) -> Result<String, ApiError> {
    track_at(state, principal, event, state.clock.now_us()).await
}

/// [`track`] for a caller of the API: the event counts against their tier's monthly quota.
pub async fn track_charged(
    state: &AppState,
    principal: &Principal,
    tier: footprint_analytics::Tier,
    event: MatchEvent,
) -> Result<String, ApiError> {
    principal.may_track(event.user_id.as_str()).map_err(ApiError::Forbidden)?;
    crate::tracking::ingest::charge(state, principal, tier, 1).await?;
    track(state, principal, event).await
}

/// [`track`] for an event that happened at `timestamp_us` (the demo's history).
pub async fn track_at(
    state: &AppState,
    principal: &Principal,
    event: MatchEvent,
    timestamp_us: i64,
) -> Result<String, ApiError> {
    principal.may_track(event.user_id.as_str()).map_err(ApiError::Forbidden)?;
    let properties = Value::Object(event.properties).to_string();
    if properties.len() > state.config.ingest.properties_max_bytes {
        return Err(ApiError::PayloadTooLarge(format!(
            "the event's properties take {} bytes; at most {} are accepted",
            properties.len(),
            state.config.ingest.properties_max_bytes
        )));
    }
    let valid = ValidEvent {
        user_id: event.user_id.clone(),
        event_type: EventType::parse(event.event_type).map_err(ApiError::internal)?,
        properties,
        timestamp_us,
        session_id: event.session_id,
        message_id: None,
        context: json!({"source": "api/tracking"}).to_string(),
        consent: None,
    };
    let mut results = ingest::ingest(state, vec![Ok(valid)]).await?;
    match results.pop() {
        Some(EventResult::Accepted { event_id, .. }) => Ok(event_id),
        Some(EventResult::NotCollected { .. }) => Err(ApiError::ConsentRequired(format!(
            "user {} has not consented to analytics: the event was not stored (record consent with POST /api/tracking/consent)",
            event.user_id
        ))),
        Some(EventResult::Rejected { reason }) => Err(ApiError::Validation(reason)),
        Some(EventResult::Duplicate) | None => Err(ApiError::internal("unexpected outcome for a match event")),
    }
}

#[derive(Debug, Deserialize)]
struct StoredProposal {
    match_id: String,
    #[serde(default)]
    match_score: Option<f64>,
    #[serde(default)]
    constraint_satisfaction: BTreeMap<String, f64>,
}

#[derive(Debug, Deserialize)]
struct StoredDecision {
    match_id: String,
    decision: bool,
    #[serde(default)]
    decision_time_seconds: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct StoredFeedback {
    rating: u8,
    #[serde(default)]
    specific_aspects: BTreeMap<String, f64>,
}

/// A proposal as read back: its owner, time and content.
#[derive(Debug, Clone)]
pub struct ProposalRow {
    pub user_key: String,
    pub user_id: String,
    pub match_id: String,
    pub timestamp_us: i64,
    pub seq: i64,
    pub proposal: Proposal,
}

fn proposal_row(event: &StoredEvent) -> Option<ProposalRow> {
    let stored: StoredProposal = serde_json::from_str(&event.properties).ok()?;
    Some(ProposalRow {
        user_key: event.user_key.clone(),
        user_id: event.user_id.clone(),
        match_id: stored.match_id,
        timestamp_us: event.timestamp_us,
        seq: event.seq,
        proposal: Proposal {
            match_score: stored.match_score.unwrap_or(f64::NAN),
            constraints: stored.constraint_satisfaction,
        },
    })
}

pub fn feedback_of(event: &StoredEvent) -> Option<Feedback> {
    let stored: StoredFeedback = serde_json::from_str(&event.properties).ok()?;
    Some(Feedback { rating: stored.rating, aspects: stored.specific_aspects })
}

/// Every event of `event_type` with `from_us <= time < to_us`, in time order.
pub async fn read_events(
    state: &AppState,
    event_type: &str,
    from_us: Option<i64>,
    to_us: Option<i64>,
) -> Result<Vec<StoredEvent>, ApiError> {
    let Some((from_us, to_us)) = days_holding(state, event_type, from_us, to_us).await? else {
        return Ok(Vec::new());
    };
    let query = EventQuery { event_type: Some(event_type.to_owned()), from_us, to_us, ..EventQuery::default() };
    crate::tracking::events::read_all(state, query).await
}

/// The part of the window between the first and the last day holding events of `event_type`,
/// or `None` when no day does, from the daily counts processing keeps — used only when every
/// committed event is processed (the counts are then whole); otherwise the window as given.
async fn days_holding(
    state: &AppState,
    event_type: &str,
    from_us: Option<i64>,
    to_us: Option<i64>,
) -> Result<Option<(Option<i64>, Option<i64>)>, ApiError> {
    let store = &state.store;
    if store.processing_watermark(crate::tracking::processing::SEQUENCES).await? < store.max_event_seq().await? {
        return Ok(Some((from_us, to_us)));
    }
    // Counts are by UTC day: the days that the window touches.
    let first_day = from_us.map_or(0, |from| from - from.rem_euclid(DAY_US));
    let days = store.daily_type_counts(first_day, to_us.unwrap_or(i64::MAX)).await?;
    let mut holding = days.iter().filter(|day| day.event_type == event_type).map(|day| day.day_us);
    let Some(first) = holding.next() else { return Ok(None) };
    let last = holding.next_back().unwrap_or(first);
    let from = from_us.map_or(first, |from| from.max(first));
    let to = to_us.map_or(last + DAY_US, |to| to.min(last + DAY_US));
    Ok(Some((Some(from), Some(to))))
}

/// The latest decision on each (user, match) among decisions at or after `from_us`.
pub async fn decisions_since(
    state: &AppState,
    from_us: Option<i64>,
) -> Result<HashMap<(String, String), Decision>, ApiError> {
    let mut decisions = HashMap::new();
    for event in read_events(state, MATCH_DECISION, from_us, None).await? {
        if let Ok(stored) = serde_json::from_str::<StoredDecision>(&event.properties) {
            let decision = Decision { accepted: stored.decision, decision_time_seconds: stored.decision_time_seconds };
            decisions.insert((event.user_key, stored.match_id), decision);
        }
    }
    Ok(decisions)
}

/// Proposals in the window, each with its decision if any.
pub async fn matches_in(
    state: &AppState,
    from_us: Option<i64>,
    to_us: Option<i64>,
) -> Result<Vec<(ProposalRow, Option<Decision>)>, ApiError> {
    let proposals: Vec<ProposalRow> =
        read_events(state, MATCH_PROPOSED, from_us, to_us).await?.iter().filter_map(proposal_row).collect();
    let earliest = proposals.iter().map(|row| row.timestamp_us).min();
    let decisions = match earliest {
        Some(earliest) => decisions_since(state, Some(earliest)).await?,
        None => HashMap::new(),
    };
    Ok(proposals
        .into_iter()
        .map(|row| {
            let decision = decisions.get(&(row.user_key.clone(), row.match_id.clone())).copied();
            (row, decision)
        })
        .collect())
}

/// Folds expired match events into per-day statistics: proposals (with their decisions, read
/// from anywhere in time) by the proposal's day, feedback by its own day.
pub fn fold_by_day(matches: &[(ProposalRow, Option<Decision>)], feedback: &[StoredEvent]) -> BTreeMap<i64, MatchStats> {
    let mut days: BTreeMap<i64, MatchStats> = BTreeMap::new();
    for (row, decision) in matches {
        days.entry(day_start(row.timestamp_us)).or_default().add_match(&row.proposal, decision.as_ref());
    }
    for event in feedback {
        if let Some(parsed) = feedback_of(event) {
            days.entry(day_start(event.timestamp_us)).or_default().add_feedback(&parsed);
        }
    }
    days
}

/// The seed's `MatchProposedEvent`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchProposedEvent {
    pub user_id: String,
    pub match_id: String,
    pub match_score: f64,
    pub match_parameters: Map<String, Value>,
    pub alternatives_count: u32,
    pub constraint_satisfaction: BTreeMap<String, f64>,
    pub session_id: Option<String>,
}

/// The seed's `MatchViewedEvent`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchViewedEvent {
    pub user_id: String,
    pub match_id: String,
    pub view_duration_seconds: f64,
    pub view_complete: bool,
    pub session_id: Option<String>,
}

/// The seed's `MatchDecisionEvent`: `decision` true = accepted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchDecisionEvent {
    pub user_id: String,
    pub match_id: String,
    pub decision: bool,
    pub decision_time_seconds: Option<f64>,
    pub reasons: Vec<String>,
    pub session_id: Option<String>,
}

/// The seed's `MatchFeedbackEvent`: `rating` 1 to 5.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchFeedbackEvent {
    pub user_id: String,
    pub match_id: String,
    pub rating: i64,
    pub feedback_text: Option<String>,
    pub specific_aspects: BTreeMap<String, f64>,
    pub session_id: Option<String>,
}

/// A typed match event, checked and turned into what is stored.
pub trait ToMatchEvent {
    fn to_match_event(&self) -> Result<MatchEvent, ApiError>;
}

fn user_id_of(user_id: &str) -> Result<UserId, ApiError> {
    UserId::parse(user_id).map_err(|error| invalid(format!("user_id: {}", error.reason)))
}

fn session_of(session_id: &Option<String>) -> Result<Option<String>, ApiError> {
    session_id.as_deref().filter(|s| !s.trim().is_empty()).map(|s| check_id("session_id", s)).transpose()
}

/// Constraint satisfactions and match scores are shares: 0 to 1.
const SHARE: (f64, f64) = (0.0, 1.0);
/// Feedback aspects are rated like the rating: 1 to 5.
const RATING: (f64, f64) = (1.0, 5.0);

/// The map as stored, each value within `range`: whole numbers stay integers (`4`, not `4.0`),
/// as clients sent them.
fn numbers(name: &str, values: &BTreeMap<String, f64>, range: (f64, f64)) -> Result<Value, ApiError> {
    let (min, max) = range;
    if let Some((key, value)) = values.iter().find(|(_, value)| !(min..=max).contains(*value)) {
        return Err(ApiError::Validation(format!("{name}.{key}: must be from {min} to {max} (got {value})")));
    }
    let as_json: Map<String, Value> = values
        .iter()
        .map(|(key, value)| {
            let number = if value.fract() == 0.0 && value.abs() < 1e15 { json!(*value as i64) } else { json!(value) };
            (key.clone(), number)
        })
        .collect();
    number_map(name, &Value::Object(as_json)).map(Value::Object)
}

impl ToMatchEvent for MatchProposedEvent {
    fn to_match_event(&self) -> Result<MatchEvent, ApiError> {
        let mut properties = Map::new();
        properties.insert("match_id".into(), json!(check_id("match_id", &self.match_id)?));
        properties
            .insert("match_score".into(), json!(check_number("match_score", self.match_score, SHARE.0, SHARE.1)?));
        properties.insert("alternatives_count".into(), json!(self.alternatives_count));
        if !self.match_parameters.is_empty() {
            properties.insert("match_parameters".into(), Value::Object(self.match_parameters.clone()));
        }
        if !self.constraint_satisfaction.is_empty() {
            properties.insert(
                "constraint_satisfaction".into(),
                numbers("constraint_satisfaction", &self.constraint_satisfaction, SHARE)?,
            );
        }
        Ok(MatchEvent {
            user_id: user_id_of(&self.user_id)?,
            event_type: MATCH_PROPOSED,
            session_id: session_of(&self.session_id)?,
            properties,
        })
    }
}

impl ToMatchEvent for MatchViewedEvent {
    fn to_match_event(&self) -> Result<MatchEvent, ApiError> {
        let mut properties = Map::new();
        properties.insert("match_id".into(), json!(check_id("match_id", &self.match_id)?));
        properties.insert(
            "view_duration_seconds".into(),
            json!(check_number("view_duration_seconds", self.view_duration_seconds, 0.0, 1e9)?),
        );
        properties.insert("view_complete".into(), json!(self.view_complete));
        Ok(MatchEvent {
            user_id: user_id_of(&self.user_id)?,
            event_type: MATCH_VIEWED,
            session_id: session_of(&self.session_id)?,
            properties,
        })
    }
}

impl ToMatchEvent for MatchDecisionEvent {
    fn to_match_event(&self) -> Result<MatchEvent, ApiError> {
        let mut properties = Map::new();
        properties.insert("match_id".into(), json!(check_id("match_id", &self.match_id)?));
        properties.insert("decision".into(), json!(self.decision));
        if let Some(seconds) = self.decision_time_seconds {
            properties.insert(
                "decision_time_seconds".into(),
                json!(check_number("decision_time_seconds", seconds, 0.0, 1e9)?),
            );
        }
        if self.reasons.len() > MAX_ENTRIES || self.reasons.iter().any(|r| r.chars().count() > MAX_TEXT_CHARS) {
            return Err(ApiError::Validation(format!(
                "reasons: at most {MAX_ENTRIES} reasons of at most {MAX_TEXT_CHARS} characters"
            )));
        }
        if !self.reasons.is_empty() {
            properties.insert("reasons".into(), json!(self.reasons));
        }
        Ok(MatchEvent {
            user_id: user_id_of(&self.user_id)?,
            event_type: MATCH_DECISION,
            session_id: session_of(&self.session_id)?,
            properties,
        })
    }
}

impl ToMatchEvent for MatchFeedbackEvent {
    fn to_match_event(&self) -> Result<MatchEvent, ApiError> {
        if !(1..=5).contains(&self.rating) {
            return Err(invalid("rating: must be an integer from 1 to 5"));
        }
        let mut properties = Map::new();
        properties.insert("match_id".into(), json!(check_id("match_id", &self.match_id)?));
        properties.insert("rating".into(), json!(self.rating));
        if let Some(text) = &self.feedback_text {
            if text.chars().count() > MAX_TEXT_CHARS {
                return Err(invalid(format!("feedback_text: at most {MAX_TEXT_CHARS} characters")));
            }
            properties.insert("feedback_text".into(), json!(text));
        }
        if !self.specific_aspects.is_empty() {
            properties.insert("specific_aspects".into(), numbers("specific_aspects", &self.specific_aspects, RATING)?);
        }
        Ok(MatchEvent {
            user_id: user_id_of(&self.user_id)?,
            event_type: MATCH_FEEDBACK,
            session_id: session_of(&self.session_id)?,
            properties,
        })
    }
}
