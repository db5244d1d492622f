//! Ingestion routes: one event, or a batch with a result per event.

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::router::UtoipaMethodRouterExt;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiJson, JsonBytes};
use crate::ingest::{self, BatchResponse, EventResult};
use crate::state::AppState;

pub(super) fn routes(state: &AppState) -> OpenApiRouter<AppState> {
    let batch_limit = DefaultBodyLimit::max(state.config.ingest.batch_max_bytes);
    OpenApiRouter::new().routes(routes!(track)).routes(routes!(track_batch).layer(batch_limit))
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
    Ok(Json(ingest::ingest_one(&state, &principal, &body).await?))
}

/// Track up to 10 000 events (10 MB): `{"batch": [events…]}` or a bare array. Each event is
/// judged on its own; the answer comes once the accepted ones are committed. A batch naming a
/// user the caller may not track is refused as a whole (403).
#[utoipa::path(post, path = "/api/track/batch", tag = "tracking", request_body = Vec<TrackEvent>,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = BatchResponse),
        (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 413, body = super::ErrorBody), (status = 415, body = super::ErrorBody), (status = 422, body = super::ErrorBody),
        (status = 503, description = "Queue full or store unavailable; see Retry-After", body = super::ErrorBody),
    ))]
async fn track_batch(
    State(state): State<AppState>,
    principal: Principal,
    JsonBytes(body): JsonBytes,
) -> Result<Json<BatchResponse>, ApiError> {
    Ok(Json(ingest::ingest_batch(&state, &principal, body).await?))
}
