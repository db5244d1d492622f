//! Ingestion: validation, the queue and its group-committing writer, and the service that
//! turns valid events into stored ones.

pub mod validate;
mod writer;

use serde::Serialize;
use utoipa::ToSchema;

pub use validate::{EventLimits, ValidEvent, validate_event};
pub use writer::{IngestError, Ingestor, WriterHandle, WriterOptions};

use footprint_store::{EventOutcome, NewEvent};

use crate::error::ApiError;
use crate::state::AppState;

pub const NOT_COLLECTED_REASON: &str = "no analytics consent: nothing was stored";

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

fn queue_error(error: IngestError, retry_after_secs: u64) -> ApiError {
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

/// Gives each valid event its id and pseudonym, commits them through the queue, and returns
/// one result per item, rejections included, in order. Returns once everything accepted is
/// committed.
pub async fn ingest(state: &AppState, items: Vec<Result<ValidEvent, String>>) -> Result<Vec<EventResult>, ApiError> {
    let received_us = state.clock.now_us();
    let mut events = Vec::with_capacity(items.len());
    for item in &items {
        let Ok(valid) = item else { continue };
        events.push(NewEvent {
            event_id: ulid::Ulid::new().to_string(),
            user_id: valid.user_id.as_str().to_owned(),
            user_key: state.keys.pseudonymizer.user_key(valid.user_id.as_str()),
            message_id: valid.message_id.clone(),
            session_id: valid.session_id.clone(),
            event_type: valid.event_type.as_str().to_owned(),
            properties: serde_json::Value::Object(valid.properties.clone()).to_string(),
            context: serde_json::Value::Object(valid.context.clone()).to_string(),
            timestamp_us: valid.timestamp_us,
            received_us,
            consent: valid.consent,
        });
    }
    let n_rejected = items.len() - events.len();
    state.metrics.count_events("rejected", n_rejected as u64);
    let n_valid = events.len();
    let retry_after_secs = state.config.ingest.retry_after_secs.as_secs();
    let outcomes = state.ingest.submit(events).await.map_err(|error| queue_error(error, retry_after_secs))?;
    if outcomes.len() != n_valid {
        return Err(ApiError::internal(format!("the store answered {} outcomes for {n_valid} events", outcomes.len())));
    }
    let mut outcomes = outcomes.into_iter();
    let results = items
        .into_iter()
        .map(|item| match item {
            Err(reason) => EventResult::Rejected { reason },
            Ok(_) => match outcomes.next() {
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
