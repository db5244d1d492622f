//! Seed 001's metrics over a window of days: the raw match events of the window, plus the
//! daily aggregates that retention folded from expired ones.

use footprint_analytics::matching::MatchStats;
use serde::Serialize;

use crate::app::state::AppState;
use crate::kernel::error::ApiError;
use crate::kernel::time::DAY_US;
use crate::tracking::schema::{AGGREGATE_KIND, MATCH_FEEDBACK, feedback_of, matches_in, read_events};

/// The window of a metrics request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    pub days: u32,
    pub from: i64,
    pub to: i64,
}

pub fn window(state: &AppState, days: Option<u32>) -> Result<Window, ApiError> {
    let days = days.unwrap_or(30);
    if !(1..=3650).contains(&days) {
        return Err(ApiError::InvalidParameters("days: must be from 1 to 3650".to_owned()));
    }
    let to = state.clock.now_us();
    Ok(Window { days, from: to - i64::from(days) * DAY_US, to })
}

/// Statistics of the window: raw events, plus the aggregates of whole days in it that
/// retention folded from expired events.
pub async fn stats(state: &AppState, window: Window) -> Result<MatchStats, ApiError> {
    let mut stats = MatchStats::default();
    for (row, decision) in matches_in(state, Some(window.from), None).await? {
        stats.add_match(&row.proposal, decision.as_ref());
    }
    for event in read_events(state, MATCH_FEEDBACK, Some(window.from), None).await? {
        if let Some(feedback) = feedback_of(&event) {
            stats.add_feedback(&feedback);
        }
    }
    let first_day = footprint_analytics::time::day_start(window.from);
    let first_whole_day = if first_day == window.from { first_day } else { first_day + DAY_US };
    for aggregate in state.store.metric_aggregates(AGGREGATE_KIND, first_whole_day).await? {
        let folded: MatchStats = serde_json::from_str(&aggregate.stats).map_err(ApiError::internal)?;
        stats.merge(&folded);
    }
    Ok(stats)
}
