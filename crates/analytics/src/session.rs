//! Sessions: consecutive events of one user whose gaps are under a threshold.

/// Where a user's current session stands: its id and the latest event time seen in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionState {
    pub session_id: String,
    pub last_event_us: i64,
}

/// Whether an event at `timestamp_us` belongs to the session whose latest event was at
/// `last_event_us`. Events may arrive out of order (imports, retries), so the gap is
/// measured in both directions: an event slightly older than the latest one still
/// belongs to the same session.
pub fn continues_session(last_event_us: i64, timestamp_us: i64, gap_us: i64) -> bool {
    debug_assert!(gap_us > 0);
    timestamp_us.abs_diff(last_event_us) < gap_us.unsigned_abs()
}

/// Assigns a session to an event without a client-given session id and moves the user's
/// state forward. A new session takes the id proposed by the caller (the id of the event
/// that opens it). The state only follows events at or after the latest one, so a late,
/// old event that starts its own session does not hijack the current one.
pub fn assign_session(
    state: &mut Option<SessionState>,
    timestamp_us: i64,
    gap_us: i64,
    new_session_id: &str,
) -> String {
    match state {
        Some(current) if continues_session(current.last_event_us, timestamp_us, gap_us) => {
            current.last_event_us = current.last_event_us.max(timestamp_us);
            current.session_id.clone()
        }
        Some(current) if timestamp_us < current.last_event_us => new_session_id.to_owned(),
        _ => {
            *state = Some(SessionState { session_id: new_session_id.to_owned(), last_event_us: timestamp_us });
            new_session_id.to_owned()
        }
    }
}

/// Records an event whose session the client chose: it becomes the current session when
/// the event is the user's latest.
pub fn observe_given_session(state: &mut Option<SessionState>, timestamp_us: i64, session_id: &str) {
    let is_latest = state.as_ref().is_none_or(|current| timestamp_us >= current.last_event_us);
    if is_latest {
        *state = Some(SessionState { session_id: session_id.to_owned(), last_event_us: timestamp_us });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000_000;
    const GAP: i64 = 30 * MINUTE;

    #[test]
    fn a_gap_under_thirty_minutes_continues_the_session() {
        let mut state = None;
        assert_eq!(assign_session(&mut state, 0, GAP, "s1"), "s1");
        assert_eq!(assign_session(&mut state, 29 * MINUTE, GAP, "s2"), "s1");
        assert_eq!(
            assign_session(&mut state, 58 * MINUTE, GAP, "s3"),
            "s1",
            "the gap is measured from the latest event"
        );
        assert_eq!(assign_session(&mut state, 88 * MINUTE, GAP, "s4"), "s4", "exactly 30 minutes starts a new session");
        assert_eq!(state.unwrap().session_id, "s4");
    }

    #[test]
    fn a_late_old_event_gets_its_own_session_without_moving_the_current_one() {
        let mut state = Some(SessionState { session_id: "now".into(), last_event_us: 1000 * MINUTE });
        assert_eq!(assign_session(&mut state, 10 * MINUTE, GAP, "old"), "old");
        assert_eq!(state.as_ref().unwrap().session_id, "now");
        assert_eq!(assign_session(&mut state, 990 * MINUTE, GAP, "x"), "now", "slightly older events still belong");
        assert_eq!(state.unwrap().last_event_us, 1000 * MINUTE);
    }

    #[test]
    fn a_given_session_becomes_current_only_for_the_latest_event() {
        let mut state = Some(SessionState { session_id: "a".into(), last_event_us: 100 });
        observe_given_session(&mut state, 50, "old");
        assert_eq!(state.as_ref().unwrap().session_id, "a");
        observe_given_session(&mut state, 200, "b");
        assert_eq!(state.unwrap(), SessionState { session_id: "b".into(), last_event_us: 200 });
    }
}
