//! How fresh a read is. Reads answer from what processing folded; before answering, a read
//! catches processing up only when the backlog is small (`processing.read_catch_up_events`),
//! so that a read never pays for a large backlog. What it did not see is said in the
//! `Footprint-Processing-Lag` header (events committed but not processed), and a next-action
//! prediction folds the user's own unprocessed events itself, so that it follows what the
//! user just did.

use std::cell::Cell;

use footprint_analytics::sequence::UserSequence;
use serde_json::{Map, Value};

use crate::app::state::AppState;
use crate::kernel::error::ApiError;

/// The response header a read's lag is told in.
pub const LAG_HEADER: &str = "footprint-processing-lag";

/// The user's own unprocessed events a prediction folds, at most: the context it needs is a
/// few actions long.
const OWN_TAIL: u32 = 1_000;

tokio::task_local! {
    /// The lag of the read a request made (set by [`settle_for_read`], turned into the header
    /// by the HTTP layer, which opens the scope).
    pub static READ_LAG: Cell<Option<u64>>;
}

/// What a read route calls before reading what processing keeps: returns the events committed
/// but not processed that the answer will not hold (0: it holds every committed event).
pub async fn settle_for_read(state: &AppState) -> Result<u64, ApiError> {
    let processing = &state.config.processing;
    let lag =
        state.processor.catch_up_for_read(processing.read_catch_up_events, processing.catch_up_timeout_ms).await?;
    let _ = READ_LAG.try_with(|slot| slot.set(Some(slot.get().unwrap_or(0).max(lag))));
    Ok(lag)
}

/// The user's sequence as processing kept it, with the user's events processing has not
/// folded yet observed on top (when `lag` says there are some): read-your-writes for the
/// predictions without waiting for the backlog.
pub async fn with_own_tail(
    state: &AppState,
    user_key: &str,
    mut sequence: UserSequence,
    lag: u64,
) -> Result<UserSequence, ApiError> {
    if lag == 0 {
        return Ok(sequence);
    }
    let watermark = state.store.processing_watermark(crate::tracking::processing::SEQUENCES).await?;
    // The events after the watermark are `lag` at most: cheaper to read than a long history.
    let scan_arrivals = i64::try_from(lag).unwrap_or(i64::MAX) < sequence.n_actions;
    let tail = state.store.user_events_after_seq(user_key, watermark, OWN_TAIL, scan_arrivals).await?;
    let config = state.processor.config();
    for event in &tail {
        let actor = serde_json::from_str::<Map<String, Value>>(&event.properties)
            .ok()
            .and_then(|properties| properties.get("actor").and_then(Value::as_str).map(str::to_owned));
        sequence.observe(&event.event_type, event.timestamp_us, actor.as_deref(), config);
    }
    Ok(sequence)
}
