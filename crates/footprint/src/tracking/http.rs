//! Tracking routes (seed 001's core): ingestion (one event, or a batch with a result per
//! event), consent (query parameters in, the user's standing out), reading stored events
//! (manager/admin), and the user's rights (erasure, export, anonymisation).

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use footprint_analytics::{Consent, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::accounts::limits::CallerTier;
use crate::accounts::principal::Principal;
use crate::app::state::AppState;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, JsonBytes, lenient_bool};
use crate::kernel::error::ApiError;
use crate::tracking::consent::{self, ConsentPurposes, ConsentStatus};
use crate::tracking::events::{self, EventFilter, EventPage};
use crate::tracking::ingest::{self, BatchResponse, EventResult};
use crate::tracking::privacy::user_id as user;
use crate::tracking::privacy::{self, AnonymizationReport, ErasureReport};

pub(crate) fn routes(state: &AppState) -> OpenApiRouter<AppState> {
    let batch_limit = DefaultBodyLimit::max(state.config.ingest.batch_max_bytes);
    OpenApiRouter::new()
        .routes(routes!(track))
        .routes(routes!(track_batch).layer(batch_limit))
        .routes(routes!(record_consent))
        .routes(routes!(get_consent))
        .routes(routes!(list_events))
        .routes(routes!(export))
        .routes(routes!(anonymize))
        .routes(routes!(delete_user))
        .routes(routes!(export_all))
        .routes(routes!(import_all))
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
        (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
        (status = 413, body = crate::kernel::error::ErrorBody), (status = 415, body = crate::kernel::error::ErrorBody), (status = 422, body = crate::kernel::error::ErrorBody),
        (status = 503, description = "Queue full or store unavailable; see Retry-After", body = crate::kernel::error::ErrorBody),
    ))]
async fn track(
    State(state): State<AppState>,
    principal: Principal,
    CallerTier(tier): CallerTier,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<EventResult>, ApiError> {
    Ok(Json(ingest::ingest_one(&state, &principal, tier, &body).await?))
}

/// Track up to 10 000 events (10 MB): `{"batch": [events…]}` or a bare array. Each event is
/// judged on its own; the answer comes once the accepted ones are committed. A batch naming a
/// user the caller may not track is refused as a whole (403).
#[utoipa::path(post, path = "/api/track/batch", tag = "tracking", request_body = Vec<TrackEvent>,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = BatchResponse),
        (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 413, body = crate::kernel::error::ErrorBody), (status = 415, body = crate::kernel::error::ErrorBody), (status = 422, body = crate::kernel::error::ErrorBody),
        (status = 503, description = "Queue full or store unavailable; see Retry-After", body = crate::kernel::error::ErrorBody),
    ))]
async fn track_batch(
    State(state): State<AppState>,
    principal: Principal,
    CallerTier(tier): CallerTier,
    JsonBytes(body): JsonBytes,
) -> Result<Json<BatchResponse>, ApiError> {
    Ok(Json(ingest::ingest_batch(&state, &principal, tier, body).await?))
}

/// A purpose left out is not consented to.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsentParams {
    user_id: String,
    /// Store behavioural events and profile them (`true`/`false`; `True`, `1`, `yes` also work).
    #[serde(default, deserialize_with = "lenient_bool")]
    analytics: bool,
    /// Compute preference scores and recommendations.
    #[serde(default, deserialize_with = "lenient_bool")]
    preferences: bool,
    /// Use the user's data to train models.
    #[serde(default, deserialize_with = "lenient_bool")]
    improvement: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentRecorded {
    /// `success`.
    status: &'static str,
    user_id: String,
    consent: ConsentPurposes,
    recorded_at: String,
}

fn authorize(principal: &Principal, user_id: &UserId) -> Result<(), ApiError> {
    principal.may_track(user_id.as_str()).map_err(ApiError::Forbidden)
}

/// Record a user's consent (seed 001). Each call is kept in the user's history.
#[utoipa::path(post, path = "/api/tracking/consent", tag = "tracking", params(ConsentParams),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ConsentRecorded),
        (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
    ))]
async fn record_consent(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ConsentParams>,
) -> Result<Json<ConsentRecorded>, ApiError> {
    let user_id = UserId::parse(&params.user_id).map_err(|error| ApiError::InvalidParameters(error.to_string()))?;
    authorize(&principal, &user_id)?;
    let consent =
        Consent { analytics: params.analytics, preferences: params.preferences, improvement: params.improvement };
    let record = consent::record(&state, &user_id, consent, &principal.actor()).await?;
    Ok(Json(ConsentRecorded {
        status: "success",
        user_id: record.user_id,
        consent: record.consent.into(),
        recorded_at: crate::kernel::clock::rfc3339(record.recorded_at_us),
    }))
}

/// A user's current consent, whether it is the instance default, and its history.
#[utoipa::path(get, path = "/api/tracking/consent/{user_id}", tag = "tracking", params(("user_id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = ConsentStatus),
        (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
    ))]
async fn get_consent(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<ConsentStatus>, ApiError> {
    let user_id = UserId::parse(&user_id).map_err(|error| ApiError::InvalidParameters(error.to_string()))?;
    authorize(&principal, &user_id)?;
    Ok(Json(consent::status(&state, &user_id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    user_id: Option<String>,
    /// The event type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    event_type: Option<String>,
    /// Inclusive lower bound on the event time (RFC 3339).
    from: Option<String>,
    /// Exclusive upper bound on the event time (RFC 3339).
    to: Option<String>,
    /// Page size, 1–1000 (default 100).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Stored events in event-time order, filtered and cursor-paginated (manager/admin). Pages follow
/// the event time: an event that arrives late with an old timestamp lands in a page already read.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventParams),
    security(("bearer" = [])),
    responses(
        (status = 200, body = EventPage),
        (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody),
    ))]
async fn list_events(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<EventParams>,
) -> Result<Json<EventPage>, ApiError> {
    principal.require_staff()?;
    let filter = EventFilter {
        user_id: params.user_id,
        event_type: params.event_type,
        from: params.from,
        to: params.to,
        limit: params.limit,
        cursor: params.cursor,
    };
    Ok(Json(events::list(&state, filter).await?))
}

/// Right to erasure: removes the user's account, consents, events, sessions and every row
/// derived from them. Events that arrive later for this id are refused until consent is
/// recorded again. The user themself or an admin.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "privacy", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = ErasureReport), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody)))]
async fn delete_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ErasureReport>, ApiError> {
    principal.require_self_or_admin(&id)?;
    Ok(Json(privacy::erase(&state, &user(&id)?, &principal.actor()).await?))
}

/// Everything stored about the user, as JSON (account without the password hash, consents with
/// their history, sessions, events); streamed. The user themself or an admin.
#[utoipa::path(get, path = "/api/v1/users/{id}/export", tag = "privacy", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, description = "the user's data", body = Object), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody)))]
async fn export(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    principal.require_self_or_admin(&id)?;
    let body = privacy::export(&state, &user(&id)?, &principal.actor()).await?;
    let disposition = format!("attachment; filename=\"footprint-export-{}.json\"", id.replace(['"', '\\'], "_"));
    Ok(([(header::CONTENT_TYPE, "application/json".to_owned()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response())
}

/// Replaces the user's identity with a random one everywhere (account, consents and audit
/// entries go); their events stay, unlinkable, for aggregates. Admin only.
#[utoipa::path(post, path = "/api/v1/users/{id}/anonymize", tag = "privacy", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = AnonymizationReport), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody)))]
async fn anonymize(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AnonymizationReport>, ApiError> {
    principal.require_admin()?;
    Ok(Json(privacy::anonymize(&state, &user(&id)?, &principal.actor()).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// Only events of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    event_type: Option<String>,
    /// Inclusive lower bound on the event time (RFC 3339).
    from: Option<String>,
    /// Exclusive upper bound on the event time (RFC 3339).
    to: Option<String>,
    /// Every user's consent records first (`"kind": "consent"` lines).
    #[serde(default, deserialize_with = "lenient_bool")]
    consents: bool,
    /// Every account first (`"kind": "account"` lines, with their password hashes).
    #[serde(default, deserialize_with = "lenient_bool")]
    accounts: bool,
    /// The attendance records (`"kind": "attendance_organization"` and `"attendance_event"`
    /// lines, registrations embedded).
    #[serde(default, deserialize_with = "lenient_bool")]
    attendance: bool,
    /// Accounts, attendance records and consents with the events: the whole instance's data.
    #[serde(default, deserialize_with = "lenient_bool")]
    all: bool,
    /// `jsonl` (the default) or `csv` (a header row, then one event a row).
    format: Option<String>,
}

/// Every stored event (or those of a type and a time range) as JSON lines in time order, in the
/// shape of `GET /api/v1/events`, streamed a page at a time (`footprint export` over HTTP).
/// Admin only.
#[utoipa::path(get, path = "/api/v1/export", tag = "privacy", params(ExportParams),
    security(("bearer" = [])),
    responses((status = 200, description = "JSON lines (application/x-ndjson)", content_type = "application/x-ndjson", body = String),
        (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn export_all(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ExportParams>,
) -> Result<Response, ApiError> {
    use futures_util::TryStreamExt;
    principal.require_admin()?;
    let instant = |field: &str, text: Option<&str>| {
        text.map(|text| crate::kernel::time::instant(field, text).map_err(ApiError::InvalidParameters)).transpose()
    };
    let filter = crate::tracking::transfer::ExportFilter {
        event_type: params.event_type,
        from_us: instant("from", params.from.as_deref())?,
        to_us: instant("to", params.to.as_deref())?,
        consents: params.consents || params.all,
        accounts: params.accounts || params.all,
        attendance: params.attendance || params.all,
        csv: match params.format.as_deref() {
            None | Some("jsonl") => false,
            Some("csv") => true,
            Some(other) => {
                return Err(ApiError::InvalidParameters(format!("format: {other:?} is not jsonl or csv")));
            }
        },
    };
    let (content_type, file) = if filter.csv {
        ("text/csv", "footprint-events.csv")
    } else {
        ("application/x-ndjson", "footprint-events.jsonl")
    };
    let pages = crate::tracking::transfer::export_pages(&state, &filter)?
        .map_ok(|(text, _)| axum::body::Bytes::from(text))
        .map_err(|error| std::io::Error::other(error.to_string()));
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")),
        ],
        axum::body::Body::from_stream(pages),
    )
        .into_response())
}

/// Imports JSON lines of events, or CSV with `Content-Type: text/csv` (`footprint import` over
/// HTTP; gzip with `Content-Encoding: gzip`): each line through the same validation, consent and durable path as
/// `/api/track/batch`, idempotent through `message_id`. The body is spooled to a temporary file
/// as it arrives, so its size is not bounded by memory; the answer is the report, with each
/// refused line's number and reason. Admin only.
#[utoipa::path(post, path = "/api/v1/import", tag = "privacy",
    request_body(content = String, description = "JSON lines of events", content_type = "application/x-ndjson"),
    security(("bearer" = [])),
    responses((status = 200, body = Object, description = "lines, imported, duplicates, not_collected, rejected_count, rejected [{line, reason}]"),
        (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn import_all(
    State(state): State<AppState>,
    principal: Principal,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<Json<crate::tracking::transfer::ImportReport>, ApiError> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    principal.require_admin()?;
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("gzip"));
    // Spooled without blocking the runtime's threads.
    let spool = tokio::task::spawn_blocking(tempfile::tempfile)
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let mut writer = tokio::io::BufWriter::new(tokio::fs::File::from_std(spool));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|error| ApiError::InvalidParameters(format!("the body could not be read: {error}")))?;
        writer.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    writer.flush().await.map_err(ApiError::internal)?;
    let mut spool = writer.into_inner().into_std().await;
    std::io::Seek::rewind(&mut spool).map_err(ApiError::internal)?;
    let mut input: Box<dyn std::io::BufRead + Send> = if gzip {
        Box::new(std::io::BufReader::new(flate2::read::MultiGzDecoder::new(spool)))
    } else {
        Box::new(std::io::BufReader::new(spool))
    };
    let csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().to_ascii_lowercase().starts_with("text/csv"));
    let report = if csv {
        crate::tracking::transfer::import_csv(&state, &mut input, crate::tracking::transfer::Storing::Commits, &|_| {})
            .await?
    } else {
        crate::tracking::transfer::import_events(
            &state,
            &mut input,
            crate::tracking::transfer::Storing::Commits,
            &|_| {},
        )
        .await?
    };
    crate::accounts::audit::record(
        &state,
        "events.import",
        Some(&principal.actor()),
        None,
        "success",
        serde_json::json!({"lines": report.lines, "imported": report.imported}),
    )
    .await;
    Ok(Json(report))
}
