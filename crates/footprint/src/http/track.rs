//! Ingestion routes: one event, or a batch with a result per event.

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::router::UtoipaMethodRouterExt;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::ingest::{self, EventLimits, EventResult, validate_event};
use crate::state::AppState;

pub(super) fn routes(state: &AppState) -> OpenApiRouter<AppState> {
    let batch_limit = DefaultBodyLimit::max(state.config.ingest.batch_max_bytes);
    OpenApiRouter::new().routes(routes!(track)).routes(routes!(track_batch).layer(batch_limit))
}

fn limits(state: &AppState) -> EventLimits {
    let ingest = &state.config.ingest;
    EventLimits {
        properties_max_bytes: ingest.properties_max_bytes,
        context_max_bytes: ingest.context_max_bytes,
        max_future: ingest.max_future_secs,
    }
}

/// One event, Segment-style:
/// `{"user_id", "type", "properties"?, "timestamp"?, "session_id"?, "message_id"?, "context"?}`.
/// `context.consent` (`{"analytics", "preferences", "improvement"}`) records the user's consent
/// before the event is judged; `context.ip` is stored truncated (/24, /48).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TrackEvent {
    user_id: String,
    #[schema(rename = "type")]
    event_type: String,
    #[schema(value_type = Option<Object>)]
    properties: Option<Value>,
    /// RFC 3339; defaults to the time of reception.
    timestamp: Option<String>,
    /// Derived from 30-minute gaps when absent.
    session_id: Option<String>,
    /// Idempotency key: the same message_id for the same user is stored once.
    message_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    context: Option<Value>,
}

/// Track one event. Answers once the event is committed: `accepted` (with its ids),
/// `duplicate`, or `not_collected` when the user has no analytics consent.
#[utoipa::path(post, path = "/api/track", tag = "tracking", request_body = TrackEvent,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = EventResult),
        (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 413, body = super::ErrorBody), (status = 415, body = super::ErrorBody), (status = 422, body = super::ErrorBody),
        (status = 503, description = "Queue full or store unavailable; see Retry-After", body = super::ErrorBody),
    ))]
async fn track(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<EventResult>, ApiError> {
    let valid = validate_event(&body, state.clock.now(), &limits(&state)).map_err(ApiError::Validation)?;
    principal.may_track(valid.user_id.as_str()).map_err(ApiError::Forbidden)?;
    let mut results = ingest::ingest(&state, vec![Ok(valid)]).await?;
    results.pop().map(Json).ok_or_else(|| ApiError::internal("no result for the event"))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    /// Position of the event in the batch.
    index: usize,
    #[serde(flatten)]
    result: EventResult,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    received: usize,
    accepted: usize,
    duplicate: usize,
    rejected: usize,
    not_collected: usize,
    results: Vec<BatchResult>,
}

/// Track up to 10 000 events (10 MB): `{"batch": [events…]}` or a bare array. Each event is
/// judged on its own; the answer comes once the accepted ones are committed.
#[utoipa::path(post, path = "/api/track/batch", tag = "tracking", request_body = Vec<TrackEvent>,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = BatchResponse),
        (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
        (status = 413, body = super::ErrorBody), (status = 415, body = super::ErrorBody), (status = 422, body = super::ErrorBody),
        (status = 503, description = "Queue full or store unavailable; see Retry-After", body = super::ErrorBody),
    ))]
async fn track_batch(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<BatchResponse>, ApiError> {
    let items = match body {
        Value::Array(items) => items,
        Value::Object(mut object) => match object.remove("batch").or_else(|| object.remove("events")) {
            Some(Value::Array(items)) => items,
            _ => {
                return Err(ApiError::Validation("send {\"batch\": [events…]} or a JSON array of events".to_owned()));
            }
        },
        _ => {
            return Err(ApiError::Validation("send {\"batch\": [events…]} or a JSON array of events".to_owned()));
        }
    };
    let max = state.config.ingest.batch_max_events;
    if items.len() > max {
        return Err(ApiError::PayloadTooLarge(format!(
            "a batch holds at most {max} events (got {}); split it",
            items.len()
        )));
    }
    if items.is_empty() {
        return Err(ApiError::Validation("the batch holds no events".to_owned()));
    }
    let now = state.clock.now();
    let limits = limits(&state);
    let validated = items
        .iter()
        .map(|raw| {
            let valid = validate_event(raw, now, &limits)?;
            principal.may_track(valid.user_id.as_str()).map_err(|why| format!("forbidden: {why}"))?;
            Ok(valid)
        })
        .collect();
    let results = ingest::ingest(&state, validated).await?;
    let count = |status: &str| results.iter().filter(|r| r.status() == status).count();
    Ok(Json(BatchResponse {
        received: results.len(),
        accepted: count("accepted"),
        duplicate: count("duplicate"),
        rejected: count("rejected"),
        not_collected: count("not_collected"),
        results: results.into_iter().enumerate().map(|(index, result)| BatchResult { index, result }).collect(),
    }))
}
