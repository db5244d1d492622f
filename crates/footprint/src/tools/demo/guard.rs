//! The demo adds to an empty store only: a store with tracked events, tracked users or
//! attendance events is refused (without `--force`), so demo data never mixes with real data.

use footprint_store::AttendanceQuery;

use crate::app::state::AppState;

/// What the store holds that the demo would mix with, in words; `None` when it is empty
/// (accounts without events, such as the configured admin, do not count).
pub async fn existing_data(state: &AppState) -> anyhow::Result<Option<String>> {
    let store = &state.store;
    let last_event_seq = store.max_event_seq().await?;
    let counts = store.count_users().await?;
    let tracked_only = counts.users - counts.accounts;
    let attendance = store.attendance_events(AttendanceQuery { limit: 1, ..AttendanceQuery::default() }).await?;
    if last_event_seq == 0 && tracked_only <= 0 && attendance.is_empty() {
        return Ok(None);
    }
    let mut held = Vec::new();
    if last_event_seq > 0 {
        held.push("tracked events".to_owned());
    }
    if counts.users > 0 {
        held.push(format!("{} users", counts.users));
    }
    if !attendance.is_empty() {
        held.push("attendance events".to_owned());
    }
    Ok(Some(held.join(", ")))
}

/// The refusal, saying what to do.
pub fn refusal(held: &str, backend: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the {backend} store already holds data ({held}): footprint demo loads into an empty store so that \
         generated data never mixes with real data; point it at an empty store (FOOTPRINT_DATA_DIR or \
         DATABASE_URL), or pass --force to add the demo data anyway (a repeated demo's events are stored once)"
    )
}
