//! How a batch of events is judged. Both backends load the state of the batch's users, call
//! [`plan_batch`], and write what it returns in one transaction, so the rules (consent
//! gating, idempotency, sessions) live in one place.
//!
//! The plan only appends: events, consent records, and a row for each user seen for the
//! first time. Nothing is updated per event, so a commit dirties few pages.

use std::collections::{HashMap, HashSet};

use footprint_analytics::Consent;
use footprint_analytics::session::{SessionState, assign_session, observe_given_session};

use crate::model::{CommitOptions, ConsentRecord, EventOutcome, NewEvent};

/// Where a user stands before the batch.
#[derive(Debug, Clone, Default)]
pub(crate) struct UserState {
    /// False for a user the store has never seen.
    pub known: bool,
    /// The latest recorded consent, if any.
    pub consent: Option<Consent>,
    /// The session of the user's latest stored event.
    pub session: Option<SessionState>,
}

/// A user seen for the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewUser {
    pub user_id: String,
    pub user_key: String,
    pub first_seen_us: i64,
    pub now_us: i64,
}

#[derive(Debug, Default)]
pub(crate) struct BatchPlan {
    pub outcomes: Vec<EventOutcome>,
    pub consents: Vec<ConsentRecord>,
    /// Events to insert: index in the batch and the session assigned.
    pub inserts: Vec<(usize, String)>,
    pub new_users: Vec<NewUser>,
}

/// Judges every event of `batch` in order. `states` holds the state of every user of the
/// batch; `existing_messages` the `(user_key, message_id)` pairs already stored.
pub(crate) fn plan_batch<'a>(
    batch: &'a [NewEvent],
    mut states: HashMap<&'a str, UserState>,
    existing_messages: &HashSet<(&'a str, &'a str)>,
    options: &CommitOptions,
) -> BatchPlan {
    let mut plan = BatchPlan { outcomes: Vec::with_capacity(batch.len()), ..BatchPlan::default() };
    let mut seen_messages: HashSet<(&'a str, &'a str)> = HashSet::new();

    for (index, event) in batch.iter().enumerate() {
        let state = states.entry(event.user_id.as_str()).or_default();
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
            if existing_messages.contains(&key) || !seen_messages.insert(key) {
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
        if !state.known {
            state.known = true;
            plan.new_users.push(NewUser {
                user_id: event.user_id.clone(),
                user_key: event.user_key.clone(),
                first_seen_us: event.timestamp_us,
                now_us: event.received_us,
            });
        }
        plan.outcomes.push(EventOutcome::Accepted { event_id: event.event_id.clone(), session_id: session_id.clone() });
        plan.inserts.push((index, session_id));
    }
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
        assert!(plan.inserts.is_empty() && plan.new_users.is_empty());
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
        let refused = Consent { analytics: false, ..Consent::GRANT_ALL };
        let states = HashMap::from([("u", UserState { known: true, consent: Some(refused), session: None })]);
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
        let existing = HashSet::from([("k-u", "m0")]);
        let batch = [first, again, stored, other_user];
        let plan = plan_batch(&batch, HashMap::new(), &existing, &options(Consent::GRANT_ALL));
        assert!(matches!(plan.outcomes[0], EventOutcome::Accepted { .. }));
        assert_eq!(plan.outcomes[1], EventOutcome::Duplicate);
        assert_eq!(plan.outcomes[2], EventOutcome::Duplicate);
        assert!(matches!(plan.outcomes[3], EventOutcome::Accepted { .. }), "message ids are per user");
        assert_eq!(plan.inserts.len(), 2);
    }

    #[test]
    fn sessions_split_on_gaps_and_new_users_are_created_once() {
        let batch = vec![event(1, "u", 0), event(2, "u", 10), event(3, "u", 100), event(4, "u", 101)];
        let plan = plan_batch(&batch, HashMap::new(), &HashSet::new(), &options(Consent::GRANT_ALL));
        let sessions: Vec<&str> = plan.inserts.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(sessions, vec!["e1", "e1", "e3", "e3"]);
        assert_eq!(
            plan.new_users,
            vec![NewUser { user_id: "u".into(), user_key: "k-u".into(), first_seen_us: 0, now_us: 0 }]
        );
    }

    #[test]
    fn a_known_user_continues_their_current_session_and_is_not_created_again() {
        let state = UserState {
            known: true,
            consent: Some(Consent::GRANT_ALL),
            session: Some(SessionState { session_id: "s-old".into(), last_event_us: 0 }),
        };
        let plan = plan_batch(
            &[event(1, "u", 5)],
            HashMap::from([("u", state)]),
            &HashSet::new(),
            &options(Consent::DENY_ALL),
        );
        assert_eq!(plan.inserts, vec![(0, "s-old".to_owned())]);
        assert!(plan.new_users.is_empty());
    }
}
