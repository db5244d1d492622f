//! Reading stored events, cursor-paginated in time order.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use footprint_analytics::{EventType, UserId};
use footprint_store::{EventPosition, EventQuery, StoredEvent};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::app::state::AppState;
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;
use crate::kernel::time::TimeWindow;

pub const DEFAULT_PAGE: u32 = 100;
pub const MAX_PAGE: u32 = 1000;

/// Filters as the API receives them, unparsed.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub user_id: Option<String>,
    pub event_type: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EventView {
    pub event_id: String,
    pub user_id: String,
    pub session_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[schema(value_type = Object)]
    pub properties: Value,
    #[schema(value_type = Object)]
    pub context: Value,
    pub timestamp: String,
    pub received_at: String,
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<EventView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

fn encode_cursor(position: EventPosition) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", position.timestamp_us, position.seq))
}

fn decode_cursor(cursor: &str) -> Option<EventPosition> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor.trim()).ok()?).ok()?;
    let (timestamp, seq) = text.split_once(':')?;
    Some(EventPosition { timestamp_us: timestamp.parse().ok()?, seq: seq.parse().ok()? })
}

pub fn view(event: StoredEvent) -> Result<EventView, ApiError> {
    Ok(EventView {
        properties: serde_json::from_str(&event.properties).map_err(ApiError::internal)?,
        context: serde_json::from_str(&event.context).map_err(ApiError::internal)?,
        event_id: event.event_id,
        user_id: event.user_id,
        session_id: event.session_id,
        event_type: event.event_type,
        timestamp: rfc3339(event.timestamp_us),
        received_at: rfc3339(event.received_us),
        message_id: event.message_id,
    })
}

/// Every event `query` selects, in time order, read a page at a time (`after` and `limit` are
/// set here).
pub async fn read_all(state: &AppState, query: EventQuery) -> Result<Vec<StoredEvent>, ApiError> {
    const PAGE: u32 = 10_000;
    let mut events = Vec::new();
    let mut after: Option<EventPosition> = None;
    loop {
        let page = state.store.events(EventQuery { after, limit: PAGE, ..query.clone() }).await?;
        let full = page.len() == PAGE as usize;
        after = page.last().map(|event| EventPosition { timestamp_us: event.timestamp_us, seq: event.seq });
        events.extend(page);
        if !full {
            return Ok(events);
        }
    }
}

pub async fn list(state: &AppState, filter: EventFilter) -> Result<EventPage, ApiError> {
    let bad = |message: String| ApiError::InvalidParameters(message);
    let window = TimeWindow::from_bounds(("from", filter.from.as_deref()), ("to", filter.to.as_deref()))?;
    let limit = filter.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(bad(format!("limit: must be between 1 and {MAX_PAGE}")));
    }
    let user_key = match &filter.user_id {
        Some(raw) => {
            Some(state.keys.pseudonymizer.user_key(UserId::parse(raw).map_err(|e| bad(e.to_string()))?.as_str()))
        }
        None => None,
    };
    let event_type = match &filter.event_type {
        Some(raw) => Some(EventType::parse(raw).map_err(|e| bad(e.to_string()))?.as_str().to_owned()),
        None => None,
    };
    let after = match &filter.cursor {
        Some(cursor) => {
            Some(decode_cursor(cursor).ok_or_else(|| bad("cursor: not a cursor this API returned".to_owned()))?)
        }
        None => None,
    };
    let query = EventQuery { user_key, event_type, from_us: window.start_us, to_us: window.end_us, after, limit };
    let events = state.store.events(query).await?;
    let next_cursor = (events.len() == limit as usize)
        .then(|| {
            events.last().map(|last| encode_cursor(EventPosition { timestamp_us: last.timestamp_us, seq: last.seq }))
        })
        .flatten();
    let events = events.into_iter().map(view).collect::<Result<Vec<_>, _>>()?;
    Ok(EventPage { events, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let position = EventPosition { timestamp_us: 1_733_402_096_123_456, seq: 42 };
        assert_eq!(decode_cursor(&encode_cursor(position)), Some(position));
        assert_eq!(decode_cursor("nonsense!"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("1:x")), None);
    }
}
