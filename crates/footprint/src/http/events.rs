//! Reading stored events (manager/admin).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::services::events::{self, EventFilter, EventPage};
use crate::state::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
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
        (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody),
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
