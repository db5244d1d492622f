//! How a batch of events is judged. Both backends load the state of the batch's users, call
//! [`plan_batch`], write what it returns in one transaction, and mark as duplicates the events
//! whose `(user_key, message_id)` the insert found already stored.
//!
//! Each user's events are judged in time order (ties in arrival order), whatever order they
//! arrived in; outcomes come back in arrival order. The plan only appends: events, consent
//! records, and a row for each user seen for the first time.

use std::collections::{HashMap, HashSet};

use footprint_analytics::Consent;
use footprint_analytics::session::{SessionState, continues_session};

use crate::model::{CommitOptions, ConsentRecord, EventOutcome, NewEvent};

/// The latest recorded consent and when it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordedConsent {
    pub consent: Consent,
    pub recorded_at_us: i64,
}

/// Where a user stands before the batch.
#[derive(Debug, Clone, Default)]
pub(crate) struct UserState {
    /// False for a user the store has never seen an event of (an account created before its
    /// first event is not known yet: that event sets when it was first seen).
    pub known: bool,
    pub consent: Option<RecordedConsent>,
    /// The user's latest stored event.
    pub latest: Option<SessionState>,
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
    /// One per event, in arrival order.
    pub outcomes: Vec<EventOutcome>,
    pub consents: Vec<ConsentRecord>,
    /// Events to insert, in arrival order: index in the batch and the session assigned.
    pub inserts: Vec<(usize, String)>,
    pub new_users: Vec<NewUser>,
}

/// Events of a known user older than that user's latest stored event need the stored event
/// just before them to be given a session: their indexes in the batch.
pub(crate) fn needing_predecessor(batch: &[NewEvent], states: &HashMap<&str, UserState>) -> Vec<usize> {
    let mut indexes = Vec::new();
    for (index, event) in batch.iter().enumerate() {
        let latest = states.get(event.user_id.as_str()).and_then(|state| state.latest.as_ref());
        if event.session_id.is_none() && latest.is_some_and(|latest| event.timestamp_us < latest.last_event_us) {
            indexes.push(index);
        }
    }
    indexes
}

/// Judges every event of `batch`. `states` holds the state of the batch's users, and is left
/// as the batch leaves them (known, consent; `latest` untouched); `predecessors` the stored
/// event at or before each event listed by [`needing_predecessor`].
pub(crate) fn plan_batch<'a>(
    batch: &'a [NewEvent],
    states: &mut HashMap<&'a str, UserState>,
    predecessors: &HashMap<usize, SessionState>,
    options: &CommitOptions,
) -> BatchPlan {
    let mut order: Vec<usize> = (0..batch.len()).collect();
    order.sort_by(|&a, &b| {
        (&batch[a].user_id, batch[a].timestamp_us, a).cmp(&(&batch[b].user_id, batch[b].timestamp_us, b))
    });

    let mut outcomes = vec![EventOutcome::NotCollected; batch.len()];
    let mut sessions: Vec<Option<String>> = vec![None; batch.len()];
    let mut consents = Vec::new();
    let mut new_users = Vec::new();
    let mut seen_messages: HashSet<(&'a str, &'a str)> = HashSet::new();
    // The last accepted event of each user in this batch, in time order.
    let mut batch_latest: HashMap<&'a str, SessionState> = HashMap::new();

    for index in order {
        let event = &batch[index];
        let state = states.entry(event.user_id.as_str()).or_default();
        if let Some(message_id) = &event.message_id
            && !seen_messages.insert((event.user_key.as_str(), message_id.as_str()))
        {
            outcomes[index] = EventOutcome::Duplicate;
            continue;
        }
        // A consent carried by an event counts only if it is newer than the recorded one: a
        // retried or long-queued event must not undo a later withdrawal.
        if let Some(given) = event.consent {
            let newer = state.consent.is_none_or(|recorded| event.timestamp_us > recorded.recorded_at_us);
            if newer {
                if state.consent.map(|recorded| recorded.consent) != Some(given) {
                    consents.push(ConsentRecord {
                        user_id: event.user_id.clone(),
                        consent: given,
                        source: "event_context".to_owned(),
                        recorded_at_us: event.timestamp_us,
                    });
                }
                state.consent = Some(RecordedConsent { consent: given, recorded_at_us: event.timestamp_us });
            }
        }
        let consent = state.consent.map_or(options.consent_default, |recorded| recorded.consent);
        if !consent.analytics {
            continue;
        }

        let session_id = match &event.session_id {
            Some(given) => given.clone(),
            None => {
                let stored = match &state.latest {
                    Some(latest) if latest.last_event_us <= event.timestamp_us => Some(latest),
                    _ => predecessors.get(&index),
                };
                let in_batch = batch_latest.get(event.user_id.as_str());
                let previous = [stored, in_batch].into_iter().flatten().max_by_key(|candidate| candidate.last_event_us);
                // A late event just before the user's latest stored one belongs to its session
                // too: every gap between them is shorter than their distance.
                let after = state.latest.as_ref().filter(|latest| latest.last_event_us > event.timestamp_us);
                [previous, after]
                    .into_iter()
                    .flatten()
                    .find(|candidate| {
                        continues_session(candidate.last_event_us, event.timestamp_us, options.session_gap_us)
                    })
                    .map_or_else(|| event.event_id.clone(), |candidate| candidate.session_id.clone())
            }
        };
        batch_latest.insert(
            event.user_id.as_str(),
            SessionState { session_id: session_id.clone(), last_event_us: event.timestamp_us },
        );
        if !state.known {
            state.known = true;
            new_users.push(NewUser {
                user_id: event.user_id.clone(),
                user_key: event.user_key.clone(),
                first_seen_us: event.timestamp_us,
                now_us: event.received_us,
            });
        }
        outcomes[index] = EventOutcome::Accepted { event_id: event.event_id.clone(), session_id: session_id.clone() };
        sessions[index] = Some(session_id);
    }

    let inserts = sessions.into_iter().enumerate().filter_map(|(index, session)| Some((index, session?))).collect();
    BatchPlan { outcomes, consents, inserts, new_users }
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

    fn plan(batch: &[NewEvent], default: Consent) -> BatchPlan {
        plan_batch(batch, &mut HashMap::new(), &HashMap::new(), &options(default))
    }

    fn sessions(plan: &BatchPlan) -> Vec<&str> {
        plan.inserts.iter().map(|(_, s)| s.as_str()).collect()
    }

    #[test]
    fn without_consent_nothing_is_planned() {
        let plan = plan(&[event(1, "u", 0), event(2, "v", 0)], Consent::DENY_ALL);
        assert_eq!(plan.outcomes, vec![EventOutcome::NotCollected, EventOutcome::NotCollected]);
        assert!(plan.inserts.is_empty() && plan.new_users.is_empty());
    }

    #[test]
    fn a_consent_in_the_context_applies_from_that_event_on_and_is_recorded_once() {
        let mut second = event(2, "u", 1);
        second.consent = Some(Consent::GRANT_ALL);
        let mut third = event(3, "u", 2);
        third.consent = Some(Consent::GRANT_ALL);
        let plan = plan(&[event(1, "u", 0), second, third], Consent::DENY_ALL);
        assert_eq!(plan.outcomes[0], EventOutcome::NotCollected);
        assert!(matches!(plan.outcomes[1], EventOutcome::Accepted { .. }));
        assert!(matches!(plan.outcomes[2], EventOutcome::Accepted { .. }));
        assert_eq!(plan.consents.len(), 1, "a repeated identical consent is not a change");
        assert_eq!(plan.consents[0].recorded_at_us, MINUTE, "recorded at the time the event says it was given");
    }

    #[test]
    fn an_old_event_cannot_undo_a_later_withdrawal_nor_a_later_grant() {
        let withdrawn = RecordedConsent { consent: Consent::DENY_ALL, recorded_at_us: 50 * MINUTE };
        let states = HashMap::from([("u", UserState { known: true, consent: Some(withdrawn), latest: None })]);
        let mut stale = event(1, "u", 10);
        stale.consent = Some(Consent::GRANT_ALL);
        let plan =
            plan_batch(std::slice::from_ref(&stale), &mut { states }, &HashMap::new(), &options(Consent::GRANT_ALL));
        assert_eq!(plan.outcomes, vec![EventOutcome::NotCollected]);
        assert!(plan.consents.is_empty());

        let granted = RecordedConsent { consent: Consent::GRANT_ALL, recorded_at_us: 50 * MINUTE };
        let states = HashMap::from([("u", UserState { known: true, consent: Some(granted), latest: None })]);
        let mut stale = event(2, "u", 10);
        stale.consent = Some(Consent::DENY_ALL);
        let plan =
            plan_batch(std::slice::from_ref(&stale), &mut { states }, &HashMap::new(), &options(Consent::DENY_ALL));
        assert!(matches!(plan.outcomes[0], EventOutcome::Accepted { .. }));
        assert!(plan.consents.is_empty());
    }

    #[test]
    fn a_recorded_refusal_beats_a_granting_default() {
        let refused =
            RecordedConsent { consent: Consent { analytics: false, ..Consent::GRANT_ALL }, recorded_at_us: 0 };
        let states = HashMap::from([("u", UserState { known: true, consent: Some(refused), latest: None })]);
        let plan = plan_batch(&[event(1, "u", 1)], &mut { states }, &HashMap::new(), &options(Consent::GRANT_ALL));
        assert_eq!(plan.outcomes, vec![EventOutcome::NotCollected]);
    }

    #[test]
    fn a_message_id_repeated_in_the_batch_is_a_duplicate_and_cannot_change_consent() {
        let mut first = event(1, "u", 0);
        first.message_id = Some("m1".into());
        let mut again = event(2, "u", 1);
        again.message_id = Some("m1".into());
        again.consent = Some(Consent::DENY_ALL);
        let mut other_user = event(3, "v", 0);
        other_user.message_id = Some("m1".into());
        let plan = plan(&[first, again, other_user], Consent::GRANT_ALL);
        assert!(matches!(plan.outcomes[0], EventOutcome::Accepted { .. }));
        assert_eq!(plan.outcomes[1], EventOutcome::Duplicate);
        assert!(matches!(plan.outcomes[2], EventOutcome::Accepted { .. }), "message ids are per user");
        assert!(plan.consents.is_empty());
    }

    #[test]
    fn sessions_split_on_gaps_and_new_users_are_created_once() {
        let plan =
            plan(&[event(1, "u", 0), event(2, "u", 10), event(3, "u", 100), event(4, "u", 101)], Consent::GRANT_ALL);
        assert_eq!(sessions(&plan), vec!["e1", "e1", "e3", "e3"]);
        assert_eq!(
            plan.new_users,
            vec![NewUser { user_id: "u".into(), user_key: "k-u".into(), first_seen_us: 0, now_us: 0 }]
        );
    }

    #[test]
    fn sessions_do_not_depend_on_arrival_order() {
        let plan = plan(&[event(1, "u", 50), event(2, "u", 0), event(3, "u", 25)], Consent::GRANT_ALL);
        assert_eq!(sessions(&plan), vec!["e2", "e2", "e2"], "0, 25 and 50 minutes are one session");
        assert_eq!(plan.inserts.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![0, 1, 2], "stored in arrival order");
        assert_eq!(plan.new_users[0].first_seen_us, 0);
    }

    #[test]
    fn a_known_user_continues_their_latest_session() {
        let latest = SessionState { session_id: "s-old".into(), last_event_us: 0 };
        let state = UserState { known: true, consent: None, latest: Some(latest) };
        let plan = plan_batch(
            &[event(1, "u", 5)],
            &mut HashMap::from([("u", state)]),
            &HashMap::new(),
            &options(Consent::GRANT_ALL),
        );
        assert_eq!(plan.inserts, vec![(0, "s-old".to_owned())]);
        assert!(plan.new_users.is_empty());
    }

    #[test]
    fn a_late_event_joins_the_stored_session_just_before_it() {
        let latest = SessionState { session_id: "s-now".into(), last_event_us: 200 * MINUTE };
        let states = HashMap::from([("u", UserState { known: true, consent: None, latest: Some(latest) })]);
        let batch = [event(1, "u", 95), event(2, "u", 10)];
        assert_eq!(needing_predecessor(&batch, &states), vec![0, 1]);
        let predecessors =
            HashMap::from([(0, SessionState { session_id: "s-morning".into(), last_event_us: 80 * MINUTE })]);
        let plan = plan_batch(&batch, &mut { states }, &predecessors, &options(Consent::GRANT_ALL));
        assert_eq!(
            sessions(&plan),
            vec!["s-morning", "e2"],
            "15 minutes after a stored event; nothing stored before 10"
        );
    }

    #[test]
    fn a_late_event_just_before_the_latest_joins_its_session() {
        // A batch sent before an identification but stored after it: its events are earlier
        // than the identify event, within the gap, with nothing stored before them.
        let latest = SessionState { session_id: "s-identified".into(), last_event_us: 20 * MINUTE };
        let states = HashMap::from([("u", UserState { known: true, consent: None, latest: Some(latest) })]);
        let batch = [event(1, "u", 18), event(2, "u", 19), event(3, "u", 1)];
        let plan = plan_batch(&batch, &mut { states }, &HashMap::new(), &options(Consent::GRANT_ALL));
        assert_eq!(sessions(&plan), vec!["s-identified", "s-identified", "s-identified"]);
        let latest = SessionState { session_id: "s-later".into(), last_event_us: 60 * MINUTE };
        let states = HashMap::from([("u", UserState { known: true, consent: None, latest: Some(latest) })]);
        let plan = plan_batch(&[event(4, "u", 10)], &mut { states }, &HashMap::new(), &options(Consent::GRANT_ALL));
        assert_eq!(sessions(&plan), vec!["e4"], "50 minutes before the latest event is another visit");
    }

    #[test]
    fn a_given_session_is_kept_and_continued() {
        let mut given = event(1, "u", 0);
        given.session_id = Some("app-7".into());
        let plan = plan(&[given, event(2, "u", 5)], Consent::GRANT_ALL);
        assert_eq!(sessions(&plan), vec!["app-7", "app-7"]);
    }
}
