//! Sessions: consecutive events of one user whose gaps are under a threshold.

/// A session as far as the next event needs to know: its id and its latest event time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionState {
    pub session_id: String,
    pub last_event_us: i64,
}

/// Whether an event at `timestamp_us` continues a session whose event at `previous_us`
/// precedes it: the gap is under `gap_us`. Measured in both directions, so that an event
/// slightly older than the session's latest still belongs to it.
pub fn continues_session(previous_us: i64, timestamp_us: i64, gap_us: i64) -> bool {
    debug_assert!(gap_us > 0);
    timestamp_us.abs_diff(previous_us) < gap_us.unsigned_abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000_000;

    #[test]
    fn a_gap_under_the_threshold_continues_the_session() {
        assert!(continues_session(0, 29 * MINUTE, 30 * MINUTE));
        assert!(!continues_session(0, 30 * MINUTE, 30 * MINUTE), "exactly 30 minutes starts a new session");
        assert!(continues_session(10 * MINUTE, 0, 30 * MINUTE));
        assert!(continues_session(i64::MAX, i64::MAX - 1, 30 * MINUTE), "no overflow at the extremes");
    }
}
