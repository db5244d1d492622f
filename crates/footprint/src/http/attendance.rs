//! Seed 004's attendance data (manager/admin): events, registrations, check-ins, JSON-lines import.

use axum::Json;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::services::attendance::{
    self, CheckIn, EventInput, EventList, EventView, ImportReport, RegistrationInput, RegistrationView,
};
use crate::state::AppState;

pub(super) fn routes(state: &AppState) -> OpenApiRouter<AppState> {
    // A history import is a bulk upload: it takes the batch limit, not the general one.
    let import_limit = DefaultBodyLimit::max(state.config.ingest.batch_max_bytes);
    OpenApiRouter::new()
        .routes(routes!(create_event, list_events))
        .routes(routes!(get_event, put_event, delete_event))
        .routes(routes!(register))
        .routes(routes!(check_in))
        .merge(OpenApiRouter::new().routes(routes!(import)).layer(import_limit))
}

/// Create an attendance event (its `id` may be given); 409 when the id is taken.
#[utoipa::path(post, path = "/api/v1/attendance/events", tag = "attendance", request_body = EventInput,
    security(("bearer" = [])),
    responses((status = 201, body = EventView), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
async fn create_event(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<EventInput>,
) -> Result<(StatusCode, Json<EventView>), ApiError> {
    principal.require_staff()?;
    Ok((StatusCode::CREATED, Json(attendance::create(&state, input, &principal.actor()).await?)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    organization_id: Option<String>,
    /// Events starting at or after (RFC 3339).
    from: Option<String>,
    /// Events starting before (RFC 3339).
    to: Option<String>,
    /// 1–1000, default 100.
    limit: Option<u32>,
    cursor: Option<String>,
}

/// Attendance events in start order, a page at a time.
#[utoipa::path(get, path = "/api/v1/attendance/events", tag = "attendance", params(ListParams),
    security(("bearer" = [])),
    responses((status = 200, body = EventList), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody)))]
async fn list_events(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<EventList>, ApiError> {
    principal.require_staff()?;
    Ok(Json(
        attendance::list(
            &state,
            params.organization_id,
            params.from.as_deref(),
            params.to.as_deref(),
            params.limit,
            params.cursor.as_deref(),
        )
        .await?,
    ))
}

/// One event with its registrations.
#[utoipa::path(get, path = "/api/v1/attendance/events/{id}", tag = "attendance", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = EventView), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
async fn get_event(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<EventView>, ApiError> {
    principal.require_staff()?;
    Ok(Json(attendance::get(&state, &id).await?))
}

/// Create or replace the event at this id (201 when created).
#[utoipa::path(put, path = "/api/v1/attendance/events/{id}", tag = "attendance", params(("id" = String, Path)),
    request_body = EventInput, security(("bearer" = [])),
    responses((status = 200, body = EventView), (status = 201, body = EventView), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
async fn put_event(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<EventInput>,
) -> Result<(StatusCode, Json<EventView>), ApiError> {
    principal.require_staff()?;
    let (created, view) = attendance::replace(&state, &id, input).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(view)))
}

/// Delete the event and its registrations.
#[utoipa::path(delete, path = "/api/v1/attendance/events/{id}", tag = "attendance", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
async fn delete_event(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    principal.require_staff()?;
    attendance::delete(&state, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Register a user to the event (201 when new, 200 when replaced).
#[utoipa::path(post, path = "/api/v1/attendance/events/{id}/registrations", tag = "attendance",
    params(("id" = String, Path)), request_body = RegistrationInput, security(("bearer" = [])),
    responses((status = 201, body = RegistrationView), (status = 200, body = RegistrationView), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<RegistrationInput>,
) -> Result<(StatusCode, Json<RegistrationView>), ApiError> {
    principal.require_staff()?;
    let (created, view) = attendance::register(&state, &id, input).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(view)))
}

/// Record whether a registered user came.
#[utoipa::path(put, path = "/api/v1/attendance/events/{id}/registrations/{user_id}", tag = "attendance",
    params(("id" = String, Path), ("user_id" = String, Path)), request_body = CheckIn, security(("bearer" = [])),
    responses((status = 200, body = RegistrationView), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
async fn check_in(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, user_id)): ApiPath<(String, String)>,
    ApiJson(input): ApiJson<CheckIn>,
) -> Result<Json<RegistrationView>, ApiError> {
    principal.require_staff()?;
    Ok(Json(attendance::check_in(&state, &id, &user_id, input).await?))
}

/// Import JSON lines: one event per line, with `registrations: [{user_id, registered_at, attended?}]`.
/// Bad lines are reported with their reason; the others are kept. Bodies up to
/// `ingest.batch_max_bytes` (10 MiB by default).
#[utoipa::path(post, path = "/api/v1/attendance/import", tag = "attendance",
    request_body(content = String, content_type = "application/x-ndjson"), security(("bearer" = [])),
    responses((status = 200, body = ImportReport), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody)))]
async fn import(
    State(state): State<AppState>,
    principal: Principal,
    body: Bytes,
) -> Result<Json<ImportReport>, ApiError> {
    principal.require_staff()?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::InvalidJson("the body must be UTF-8 JSON lines".to_owned()))?;
    Ok(Json(attendance::import(&state, text, &principal.actor()).await?))
}
