//! Seed 002's interactions: an interaction is an event whose type is the action. Submitting goes
//! through the same ingestion path (validation, consent, durable commit) as any event.

use footprint_analytics::{EventType, UserId};
use footprint_store::{EventQuery, StoredEvent, UserRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::principal::Principal;
use crate::app::state::AppState;
use crate::kernel::clock::naive_iso;
use crate::kernel::error::ApiError;
use crate::tracking::ingest::{self, EventResult, ValidEvent};

/// Who submits without a token.
pub const ANONYMOUS: &str = "anonymous";
pub const DEFAULT_LIST: u32 = 1000;
pub const MAX_LIST: u32 = 10_000;

/// `{"action": "..."}`; with an API key or a manager/admin token, `user_id` (or `username`) says
/// whose interaction it is.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SubmitRequest {
    pub action: String,
    pub user_id: Option<String>,
    pub username: Option<String>,
}

/// One interaction as seed 002 shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct InteractionView {
    /// Arrival order.
    pub id: i64,
    pub username: String,
    pub action: String,
    /// UTC, without an offset: `2024-12-05T12:34:56`.
    pub timestamp: String,
}

impl From<&StoredEvent> for InteractionView {
    fn from(event: &StoredEvent) -> Self {
        Self {
            id: event.seq,
            username: event.username.clone().unwrap_or_else(|| event.user_id.clone()),
            action: event.event_type.clone(),
            timestamp: naive_iso(event.timestamp_us),
        }
    }
}

/// A user named as seed 002 names them: by username, else by user id.
pub async fn find_user(state: &AppState, name: &str) -> Result<Option<UserRecord>, ApiError> {
    if let Some(user) = state.store.user_by_username(name).await? {
        return Ok(Some(user));
    }
    Ok(state.store.user(name).await?)
}

fn owner(principal: Option<&Principal>, request: &SubmitRequest) -> Result<UserId, ApiError> {
    let named = request.user_id.as_deref().or(request.username.as_deref());
    let invalid = |error: footprint_analytics::InvalidValue| ApiError::Validation(error.to_string());
    match (principal, named) {
        (None, None) => UserId::parse(ANONYMOUS).map_err(invalid),
        (None, Some(_)) => {
            Err(ApiError::MissingCredentials("naming the user needs an API key or a manager/admin token".to_owned()))
        }
        (Some(Principal::User { user_id, .. }), None) => UserId::parse(user_id).map_err(invalid),
        (Some(principal), Some(name)) => {
            principal.may_track(name).map_err(ApiError::Forbidden)?;
            UserId::parse(name).map_err(invalid)
        }
        (Some(Principal::ApiKey { .. }), None) => {
            Err(ApiError::Validation("with an API key, say whose interaction it is: user_id".to_owned()))
        }
    }
}

/// Stores the interaction as an event of type `action`; returns what happened and to whom.
pub async fn submit(
    state: &AppState,
    principal: Option<&Principal>,
    tier: Option<footprint_analytics::Tier>,
    request: SubmitRequest,
) -> Result<(UserId, EventResult), ApiError> {
    let user_id = owner(principal, &request)?;
    if let (Some(principal), Some(tier)) = (principal, tier) {
        crate::tracking::ingest::charge(state, principal, tier, 1).await?;
    }
    let action =
        EventType::parse(&request.action).map_err(|error| ApiError::Validation(format!("action: {}", error.reason)))?;
    let event = ValidEvent {
        user_id: user_id.clone(),
        event_type: action,
        properties: "{}".to_owned(),
        timestamp_us: state.clock.now_us(),
        session_id: None,
        message_id: None,
        context: r#"{"source":"interactions/submit"}"#.to_owned(),
        consent: None,
    };
    let mut results = ingest::ingest(state, vec![Ok(event)]).await?;
    let result = results.pop().ok_or_else(|| ApiError::internal("no result for the interaction"))?;
    Ok((user_id, result))
}

/// Every interaction in arrival order, `limit` at most, after the one with id `after_id`.
pub async fn list_all(state: &AppState, after_id: i64, limit: Option<u32>) -> Result<Vec<InteractionView>, ApiError> {
    let limit = checked_limit(limit)?;
    let events = state.store.events_in_arrival_order(after_id, limit).await?;
    Ok(events.iter().map(InteractionView::from).collect())
}

/// One user's interactions in time order; 404 for a user nobody knows.
pub async fn list_for(state: &AppState, name: &str, limit: Option<u32>) -> Result<Vec<InteractionView>, ApiError> {
    let limit = checked_limit(limit)?;
    let user = find_user(state, name).await?.ok_or_else(|| ApiError::NotFound(format!("no user named {name}")))?;
    let query = EventQuery { user_key: Some(user.user_key), limit, ..EventQuery::default() };
    let events = state.store.events(query).await?;
    Ok(events.iter().map(InteractionView::from).collect())
}

fn checked_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit.unwrap_or(DEFAULT_LIST) {
        0 => Err(ApiError::InvalidParameters("limit: must be at least 1".to_owned())),
        limit if limit > MAX_LIST => Err(ApiError::InvalidParameters(format!("limit: must be at most {MAX_LIST}"))),
        limit => Ok(limit),
    }
}
