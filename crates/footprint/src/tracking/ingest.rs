//! The ingestion service: turns a request's events into stored ones (validation, permission,
//! ids and pseudonyms, erased users refused) through the durable queue, and answers one result
//! per event.

use axum::body::Bytes;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

pub use crate::tracking::validate::{EventLimits, ValidEvent, validate_event};

use footprint_store::{EventOutcome, NewEvent};

use crate::accounts::principal::Principal;
use crate::app::state::AppState;
use crate::kernel::error::ApiError;
use crate::tracking::queue::IngestError;
use footprint_analytics::Tier;

pub const NOT_COLLECTED_REASON: &str = "no analytics consent: nothing was stored";
pub const ERASED_REASON: &str =
    "this user's data was erased: nothing is stored for them until their consent is recorded again";

/// What happened to one submitted event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum EventResult {
    Accepted {
        event_id: String,
        session_id: String,
    },
    /// The same `message_id` was already stored for this user; nothing new was stored.
    Duplicate,
    Rejected {
        reason: String,
    },
    NotCollected {
        reason: String,
    },
}

impl EventResult {
    pub fn status(&self) -> &'static str {
        match self {
            EventResult::Accepted { .. } => "accepted",
            EventResult::Duplicate => "duplicate",
            EventResult::Rejected { .. } => "rejected",
            EventResult::NotCollected { .. } => "not_collected",
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    /// Position of the event in the batch.
    pub index: usize,
    #[serde(flatten)]
    pub result: EventResult,
}

/// Counts by outcome, and one result per event in the order sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    pub received: usize,
    pub accepted: usize,
    pub duplicate: usize,
    pub rejected: usize,
    pub not_collected: usize,
    pub results: Vec<BatchResult>,
}

impl BatchResponse {
    fn new(results: Vec<EventResult>) -> Self {
        let count = |status: &str| results.iter().filter(|result| result.status() == status).count();
        Self {
            received: results.len(),
            accepted: count("accepted"),
            duplicate: count("duplicate"),
            rejected: count("rejected"),
            not_collected: count("not_collected"),
            results: results.into_iter().enumerate().map(|(index, result)| BatchResult { index, result }).collect(),
        }
    }
}

pub(crate) fn queue_error(error: IngestError, retry_after_secs: u64) -> ApiError {
    match error {
        IngestError::QueueFull => ApiError::Unavailable {
            message: "the ingestion queue is full; retry after the delay in Retry-After".to_owned(),
            retry_after_secs: Some(retry_after_secs),
        },
        IngestError::ShuttingDown => ApiError::Unavailable {
            message: "the server is shutting down; retry against another node or shortly".to_owned(),
            retry_after_secs: Some(1),
        },
        IngestError::Store(error) => error.into(),
    }
}

/// The limits `validate_event` applies on this instance.
pub(crate) fn limits(state: &AppState) -> EventLimits {
    let ingest = &state.config.ingest;
    EventLimits {
        properties_max_bytes: ingest.properties_max_bytes,
        context_max_bytes: ingest.context_max_bytes,
        max_future: ingest.max_future_secs,
    }
}

/// Validates, authorizes and stores one event; answers once it is committed.
pub async fn ingest_one(
    state: &AppState,
    principal: &Principal,
    tier: Tier,
    raw: &Value,
) -> Result<EventResult, ApiError> {
    let valid = validate_event(raw, state.clock.now(), &limits(state)).map_err(ApiError::Validation)?;
    principal.may_track(valid.user_id.as_str()).map_err(ApiError::Forbidden)?;
    charge(state, principal, tier, 1).await?;
    let mut results = ingest(state, vec![Ok(valid)]).await?;
    results.pop().ok_or_else(|| ApiError::internal("no result for the event"))
}

/// Parses and validates a batch body (`{"batch": [...]}`, `{"events": [...]}` or a bare
/// array) on the blocking pool, a few batches at a time; refuses the whole batch (403, nothing
/// stored) if it names a user the caller may not track; stores the valid events.
/// Spends `events` of the caller's monthly quota (seed 003's tiers), or refuses them all.
pub async fn charge(state: &AppState, principal: &Principal, tier: Tier, events: usize) -> Result<(), ApiError> {
    let user_key = principal.user_id().map(|user_id| state.keys.pseudonymizer.user_key(user_id));
    state.limits.charge_events(principal, user_key.as_deref(), tier, events, state.clock.now_us()).await
}

pub async fn ingest_batch(
    state: &AppState,
    principal: &Principal,
    tier: Tier,
    body: Bytes,
) -> Result<BatchResponse, ApiError> {
    let (now, limits, max_events) = (state.clock.now(), limits(state), state.config.ingest.batch_max_events);
    let items = {
        // Held while parsing only: waiting for the commit must not hold back other batches.
        let _parsing = state.batch_parsing.acquire().await.map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(move || parse_batch(&body, now, &limits, max_events))
            .await
            .map_err(ApiError::internal)??
    };
    for (index, item) in items.iter().enumerate() {
        if let Ok(valid) = item {
            principal
                .may_track(valid.user_id.as_str())
                .map_err(|why| ApiError::Forbidden(format!("event {index}: {why}; nothing was stored")))?;
        }
    }
    charge(state, principal, tier, items.iter().filter(|item| item.is_ok()).count()).await?;
    Ok(BatchResponse::new(ingest(state, items).await?))
}

fn parse_batch(
    body: &[u8],
    now: time::OffsetDateTime,
    limits: &EventLimits,
    max_events: usize,
) -> Result<Vec<Result<ValidEvent, String>>, ApiError> {
    let shape = || ApiError::Validation("send {\"batch\": [events…]} or a JSON array of events".to_owned());
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| ApiError::InvalidJson(format!("the body is not valid JSON: {error}")))?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut object) => match object.remove("batch").or_else(|| object.remove("events")) {
            Some(Value::Array(items)) => items,
            _ => return Err(shape()),
        },
        _ => return Err(shape()),
    };
    if items.len() > max_events {
        return Err(ApiError::PayloadTooLarge(format!(
            "a batch holds at most {max_events} events (got {}); split it",
            items.len()
        )));
    }
    if items.is_empty() {
        return Err(ApiError::Validation("the batch holds no events".to_owned()));
    }
    Ok(items.iter().map(|raw| validate_event(raw, now, limits)).collect())
}

/// Takes out the events of users who were erased and have not consented since: they get
/// `not_collected` without reaching the store.
async fn refuse_erased(
    state: &AppState,
    events: &mut Vec<NewEvent>,
    results: &mut [Option<EventResult>],
) -> Result<(), ApiError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut tombstones: Vec<String> =
        events.iter().map(|event| state.keys.pseudonymizer.tombstone(&event.user_id)).collect();
    let mut distinct = tombstones.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let erased = state.store.erased_among(&distinct).await?;
    if erased.is_empty() {
        return Ok(());
    }
    let mut kept = Vec::with_capacity(events.len());
    let mut slots = results.iter_mut().filter(|result| result.is_none());
    for (event, tombstone) in events.drain(..).zip(tombstones.drain(..)) {
        let slot = slots.next();
        if erased.contains(&tombstone) {
            if let Some(slot) = slot {
                *slot = Some(EventResult::NotCollected { reason: ERASED_REASON.to_owned() });
            }
        } else {
            kept.push(event);
        }
    }
    *events = kept;
    Ok(())
}

/// Gives each valid event its id and pseudonym, commits them through the queue, and returns
/// one result per item, rejections included, in order. Returns once everything accepted is
/// committed.
pub async fn ingest(state: &AppState, items: Vec<Result<ValidEvent, String>>) -> Result<Vec<EventResult>, ApiError> {
    let (events, slots) = prepare(state, items).await?;
    let retry_after_secs = state.config.ingest.retry_after_secs.as_secs();
    let outcomes = if events.is_empty() {
        Vec::new()
    } else {
        state.ingest.submit(events).await.map_err(|error| queue_error(error, retry_after_secs))?
    };
    results(slots, outcomes)
}

/// A result per item of a batch: those decided before the store (rejected, erased), and a
/// `None` for each event handed to the store, in order.
pub(crate) type Slots = Vec<Option<EventResult>>;

/// Turns valid items into events to store (ids, pseudonyms; those of erased users taken out)
/// and the results decided without the store.
pub(crate) async fn prepare(
    state: &AppState,
    items: Vec<Result<ValidEvent, String>>,
) -> Result<(Vec<NewEvent>, Slots), ApiError> {
    let received_us = state.clock.now_us();
    let mut events = Vec::with_capacity(items.len());
    let mut slots = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Ok(valid) => {
                slots.push(None);
                events.push(NewEvent {
                    event_id: ulid::Ulid::new().to_string(),
                    user_key: state.keys.pseudonymizer.user_key(valid.user_id.as_str()),
                    user_id: valid.user_id.into_string(),
                    message_id: valid.message_id,
                    session_id: valid.session_id,
                    event_type: valid.event_type.as_str().to_owned(),
                    properties: valid.properties,
                    context: valid.context,
                    timestamp_us: valid.timestamp_us,
                    received_us,
                    consent: valid.consent,
                });
            }
            Err(reason) => slots.push(Some(EventResult::Rejected { reason })),
        }
    }
    refuse_erased(state, &mut events, &mut slots).await?;
    state.metrics.count_events("rejected", (slots.len() - events.len()) as u64);
    Ok((events, slots))
}

/// Fills the slots left to the store with its outcomes, in order.
pub(crate) fn results(slots: Slots, outcomes: Vec<EventOutcome>) -> Result<Vec<EventResult>, ApiError> {
    let n_stored = slots.iter().filter(|slot| slot.is_none()).count();
    if outcomes.len() != n_stored {
        return Err(ApiError::internal(format!(
            "the store answered {} outcomes for {n_stored} events",
            outcomes.len()
        )));
    }
    let mut outcomes = outcomes.into_iter();
    let results = slots
        .into_iter()
        .map(|slot| match slot {
            Some(decided) => decided,
            None => match outcomes.next() {
                Some(EventOutcome::Accepted { event_id, session_id }) => EventResult::Accepted { event_id, session_id },
                Some(EventOutcome::Duplicate) => EventResult::Duplicate,
                Some(EventOutcome::NotCollected) | None => {
                    EventResult::NotCollected { reason: NOT_COLLECTED_REASON.to_owned() }
                }
            },
        })
        .collect();
    Ok(results)
}
