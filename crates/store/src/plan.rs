//! How a batch of events is judged and turned into writes. Both backends load the state of
//! the batch's users, call [`plan_batch`], and write what it returns in one transaction, so
//! the rules (consent gating, idempotency, sessions) live in one place.

use std::collections::{BTreeMap, HashMap, HashSet};

use footprint_analytics::Consent;
use footprint_analytics::session::{SessionState, assign_session, observe_given_session};

use crate::model::{CommitOptions, ConsentRecord, EventOutcome, NewEvent};

/// Where a user stands before the batch.
#[derive(Debug, Clone, Default)]
pub(crate) struct UserState {
    /// The latest recorded consent, if any.
    pub consent: Option<Consent>,
    pub session: Option<SessionState>,
}

/// A user row to insert or move forward: counters add up, first/last seen widen.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UserUpsert {
    pub user_id: String,
    pub user_key: String,
    pub first_seen_us: i64,
    pub last_seen_us: i64,
    pub n_events: i64,
    /// The user's current session after the batch.
    pub session_id: Option<String>,
    pub now_us: i64,
}

/// A session row to insert or widen.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SessionUpsert {
    pub user_key: String,
    pub session_id: String,
    pub started_us: i64,
    pub last_us: i64,
    pub n_events: i64,
}

#[derive(Debug, Default)]
pub(crate) struct BatchPlan {
    pub outcomes: Vec<EventOutcome>,
    pub consents: Vec<ConsentRecord>,
    /// Events to insert: index in the batch and the session assigned.
    pub inserts: Vec<(usize, String)>,
    pub users: Vec<UserUpsert>,
    pub sessions: Vec<SessionUpsert>,
}

/// Judges every event of `batch` in order. `states` holds the users already known (absent
/// = new user); `existing_messages` the `(user_key, message_id)` pairs already stored.
pub(crate) fn plan_batch(
    batch: &[NewEvent],
    mut states: HashMap<String, UserState>,
    existing_messages: &HashSet<(String, String)>,
    options: &CommitOptions,
) -> BatchPlan {
    let mut plan = BatchPlan { outcomes: Vec::with_capacity(batch.len()), ..BatchPlan::default() };
    let mut seen_messages: HashSet<(&str, &str)> = HashSet::new();
    let mut users: BTreeMap<&str, UserUpsert> = BTreeMap::new();
    let mut sessions: BTreeMap<(&str, String), SessionUpsert> = BTreeMap::new();

    for (index, event) in batch.iter().enumerate() {
        let state = states.entry(event.user_id.clone()).or_default();
        if let Some(given) = event.consent
            && state.consent != Some(given)
        {
            state.consent = Some(given);
            plan.consents.push(ConsentRecord {
                user_id: event.user_id.clone(),
                consent: given,
                source: "event_context".to_owned(),
                recorded_at_us: event.received_us,
            });
        }
        let consent = state.consent.unwrap_or(options.consent_default);
        if !consent.analytics {
            plan.outcomes.push(EventOutcome::NotCollected);
            continue;
        }
        if let Some(message_id) = &event.message_id {
            let key = (event.user_key.as_str(), message_id.as_str());
            let stored_before = existing_messages.contains(&(event.user_key.clone(), message_id.clone()));
            if stored_before || !seen_messages.insert(key) {
                plan.outcomes.push(EventOutcome::Duplicate);
                continue;
            }
        }

        let session_id = match &event.session_id {
            Some(given) => {
                observe_given_session(&mut state.session, event.timestamp_us, given);
                given.clone()
            }
            None => assign_session(&mut state.session, event.timestamp_us, options.session_gap_us, &event.event_id),
        };

        let user = users.entry(event.user_id.as_str()).or_insert_with(|| UserUpsert {
            user_id: event.user_id.clone(),
            user_key: event.user_key.clone(),
            first_seen_us: event.timestamp_us,
            last_seen_us: event.timestamp_us,
            n_events: 0,
            session_id: None,
            now_us: event.received_us,
        });
        user.first_seen_us = user.first_seen_us.min(event.timestamp_us);
        user.last_seen_us = user.last_seen_us.max(event.timestamp_us);
        user.n_events += 1;
        user.session_id = state.session.as_ref().map(|s| s.session_id.clone());

        let session = sessions.entry((event.user_key.as_str(), session_id.clone())).or_insert_with(|| SessionUpsert {
            user_key: event.user_key.clone(),
            session_id: session_id.clone(),
            started_us: event.timestamp_us,
            last_us: event.timestamp_us,
            n_events: 0,
        });
        session.started_us = session.started_us.min(event.timestamp_us);
        session.last_us = session.last_us.max(event.timestamp_us);
        session.n_events += 1;

        plan.outcomes.push(EventOutcome::Accepted { event_id: event.event_id.clone(), session_id: session_id.clone() });
        plan.inserts.push((index, session_id));
    }
    plan.users = users.into_values().collect();
    plan.sessions = sessions.into_values().collect();
    debug_assert_eq!(plan.outcomes.len(), batch.len());
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000_000;

    fn options(default: Consent) -> CommitOptions {
        CommitOptions { session_gap_us: 30 * MINUTE, consent_default: default }
    }

    fn event(n: u32, user: &str, minute: i64) -> NewEvent {
        NewEvent {
            event_id: format!("e{n}"),
            user_id: user.to_owned(),
            user_key: format!("k-{user}"),
            message_id: None,
            session_id: None,
            event_type: "click".to_owned(),
            properties: "{}".to_owned(),
            context: "{}".to_owned(),
            timestamp_us: minute * MINUTE,
            received_us: 0,
            consent: None,
        }
    }

    #[test]
    fn without_consent_nothing_is_planned() {
        let batch = vec![event(1, "u", 0), event(2, "v", 0)];
        let plan = plan_batch(&batch, HashMap::new(), &HashSet::new(), &options(Consent::DENY_ALL));
        assert_eq!(plan.outcomes, vec![EventOutcome::NotCollected, EventOutcome::NotCollected]);
        assert!(plan.inserts.is_empty() && plan.users.is_empty() && plan.sessions.is_empty());
    }

    #[test]
    fn a_consent_in_the_context_applies_from_that_event_on_and_is_recorded_once() {
        let mut second = event(2, "u", 1);
        second.consent = Some(Consent::GRANT_ALL);
        let mut third = event(3, "u", 2);
        third.consent = Some(Consent::GRANT_ALL);
        let batch = vec![event(1, "u", 0), second, third];
        let plan = plan_batch(&batch, HashMap::new(), &HashSet::new(), &options(Consent::DENY_ALL));
        assert_eq!(plan.outcomes[0], EventOutcome::NotCollected);
        assert!(matches!(plan.outcomes[1], EventOutcome::Accepted { .. }));
        assert!(matches!(plan.outcomes[2], EventOutcome::Accepted { .. }));
        assert_eq!(plan.consents.len(), 1, "a repeated identical consent is not a change");
    }

    #[test]
    fn a_recorded_refusal_beats_a_granting_default() {
        let states = HashMap::from([(
            "u".to_owned(),
            UserState { consent: Some(Consent { analytics: false, ..Consent::GRANT_ALL }), session: None },
        )]);
        let plan = plan_batch(&[event(1, "u", 0)], states, &HashSet::new(), &options(Consent::GRANT_ALL));
        assert_eq!(plan.outcomes, vec![EventOutcome::NotCollected]);
    }

    #[test]
    fn duplicates_are_caught_against_the_store_and_within_the_batch() {
        let mut first = event(1, "u", 0);
        first.message_id = Some("m1".into());
        let mut again = event(2, "u", 1);
        again.message_id = Some("m1".into());
        let mut stored = event(3, "u", 2);
        stored.message_id = Some("m0".into());
        let mut other_user = event(4, "v", 0);
        other_user.message_id = Some("m1".into());
        let existing = HashSet::from([("k-u".to_owned(), "m0".to_owned())]);
        let plan =
            plan_batch(&[first, again, stored, other_user], HashMap::new(), &existing, &options(Consent::GRANT_ALL));
        assert!(matches!(plan.outcomes[0], EventOutcome::Accepted { .. }));
        assert_eq!(plan.outcomes[1], EventOutcome::Duplicate);
        assert_eq!(plan.outcomes[2], EventOutcome::Duplicate);
        assert!(matches!(plan.outcomes[3], EventOutcome::Accepted { .. }), "message ids are per user");
        assert_eq!(plan.inserts.len(), 2);
    }

    #[test]
    fn sessions_split_on_gaps_and_counters_add_up() {
        let batch = vec![event(1, "u", 0), event(2, "u", 10), event(3, "u", 100), event(4, "u", 101)];
        let plan = plan_batch(&batch, HashMap::new(), &HashSet::new(), &options(Consent::GRANT_ALL));
        let sessions: Vec<&str> = plan.inserts.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(sessions, vec!["e1", "e1", "e3", "e3"]);
        assert_eq!(plan.sessions.len(), 2);
        assert_eq!(plan.sessions[0].n_events, 2);
        assert_eq!(plan.sessions[1].started_us, 100 * MINUTE);
        assert_eq!(plan.users.len(), 1);
        let user = &plan.users[0];
        assert_eq!((user.n_events, user.first_seen_us, user.last_seen_us), (4, 0, 101 * MINUTE));
        assert_eq!(user.session_id.as_deref(), Some("e3"));
    }

    #[test]
    fn a_known_user_continues_their_current_session() {
        let states = HashMap::from([(
            "u".to_owned(),
            UserState {
                consent: Some(Consent::GRANT_ALL),
                session: Some(SessionState { session_id: "s-old".into(), last_event_us: 0 }),
            },
        )]);
        let plan = plan_batch(&[event(1, "u", 5)], states, &HashSet::new(), &options(Consent::DENY_ALL));
        assert_eq!(plan.inserts, vec![(0, "s-old".to_owned())]);
    }
}
