//! What the demo proposes and schedules, pure and deterministic for a seed: seed 001's match
//! proposals with their views, decisions and feedback (acceptance rises with the match score and
//! the location constraint, ratings with the score), and seed 004's weekly classes with
//! registrations and outcomes (`attendance::synthetic`'s planted effects, on the demo's users).

use std::collections::BTreeMap;

use footprint_analytics::attendance::{EventInfo, RegistrationInfo, synthetic};
use footprint_analytics::rng::SplitMix64;
use footprint_analytics::time::{DAY_US, WEEK_US};

use super::population::DemoUser;
use crate::tracking::schema::{MatchDecisionEvent, MatchFeedbackEvent, MatchProposedEvent, MatchViewedEvent};

/// Weeks of attendance history (about [`super::population::DAYS`] days).
pub const WEEKS: i64 = 9;
/// Registrants of the upcoming class have this id, so that a prediction has something to show.
pub const UPCOMING_EVENT: &str = "demo-class-next";

/// One proposal and what the user did with it, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchStory {
    pub proposed: MatchProposedEvent,
    pub viewed: Option<MatchViewedEvent>,
    pub decided: Option<MatchDecisionEvent>,
    pub feedback: Option<MatchFeedbackEvent>,
}

fn share(rng: &mut SplitMix64, mean: f64, spread: f64) -> f64 {
    let x = mean + (rng.next_f64() + rng.next_f64() + rng.next_f64() - 1.5) * spread;
    (x.clamp(0.0, 1.0) * 1000.0).round() / 1000.0
}

/// About one proposal per consenting user (none, one or two).
pub fn matches(users: &[DemoUser], seed: u64) -> Vec<MatchStory> {
    let mut rng = SplitMix64::new(seed ^ 0x006D_6174_6368_6573);
    let mut stories = Vec::new();
    for user in users.iter().filter(|user| user.consents) {
        let count = [0, 1, 1, 2][rng.below(4)];
        for n in 0..count {
            let match_id = format!("demo-match-{}-{n}", user.index);
            let score = share(&mut rng, 0.6, 0.5);
            let location = share(&mut rng, score, 0.6);
            let constraints = BTreeMap::from([
                ("location".to_owned(), location),
                ("preferences".to_owned(), share(&mut rng, score, 0.4)),
                ("skills".to_owned(), share(&mut rng, 0.6, 0.6)),
            ]);
            let session_id = Some(format!("demo-match-session-{}", user.index));
            let proposed = MatchProposedEvent {
                user_id: user.user_id.clone(),
                match_id: match_id.clone(),
                match_score: score,
                match_parameters: serde_json::Map::new(),
                alternatives_count: 1 + rng.below(9) as u32,
                constraint_satisfaction: constraints,
                session_id: session_id.clone(),
            };
            let mut story = MatchStory { proposed, viewed: None, decided: None, feedback: None };
            if rng.next_f64() < 0.85 {
                story.viewed = Some(MatchViewedEvent {
                    user_id: user.user_id.clone(),
                    match_id: match_id.clone(),
                    view_duration_seconds: (5.0 + rng.next_f64() * 120.0).round(),
                    view_complete: rng.next_f64() < 0.7,
                    session_id: session_id.clone(),
                });
                if rng.next_f64() < 0.9 {
                    let accept_chance = (0.1 + 0.7 * score + 0.3 * (location - 0.5)).clamp(0.02, 0.98);
                    let accepted = rng.next_f64() < accept_chance;
                    let reason = match (accepted, location < 0.4) {
                        (true, _) => "good_fit",
                        (false, true) => "too_far",
                        (false, false) => "not_interested",
                    };
                    story.decided = Some(MatchDecisionEvent {
                        user_id: user.user_id.clone(),
                        match_id: match_id.clone(),
                        decision: accepted,
                        decision_time_seconds: Some((3.0 + rng.next_f64() * 60.0).round()),
                        reasons: vec![reason.to_owned()],
                        session_id: session_id.clone(),
                    });
                    if accepted && rng.next_f64() < 0.6 {
                        let rating = (1.0 + 4.0 * score + (rng.next_f64() - 0.5) * 1.5).round().clamp(1.0, 5.0);
                        story.feedback = Some(MatchFeedbackEvent {
                            user_id: user.user_id.clone(),
                            match_id,
                            rating: rating as i64,
                            feedback_text: None,
                            specific_aspects: BTreeMap::from([
                                ("relevance".to_owned(), rating),
                                ("communication".to_owned(), (1 + rng.below(5)) as f64),
                            ]),
                            session_id,
                        });
                    }
                }
            }
            stories.push(story);
        }
    }
    stories
}

/// [`WEEKS`] weeks of three classes a week ending before `now_us`'s week, for up to 240 of the
/// consenting users (each registering to half the classes), and one class two days ahead with
/// half of them registered. Moved by whole weeks, so the planted Tuesday effect stays a Tuesday's.
pub fn classes(users: &[DemoUser], seed: u64, now_us: i64) -> (Vec<EventInfo>, Vec<RegistrationInfo>) {
    let members: Vec<&DemoUser> = users.iter().filter(|user| user.consents).take(240).collect();
    if members.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let (mut events, mut registrations) = synthetic::weekly_classes_of(WEEKS, members.len(), seed);
    let shift = ((now_us - synthetic::MONDAY) / WEEK_US - WEEKS) * WEEK_US;
    for event in &mut events {
        event.event_id = format!("demo-class-{}", event.event_id.trim_start_matches('e'));
        event.start_us += shift;
    }
    for registration in &mut registrations {
        registration.event_id = format!("demo-class-{}", registration.event_id.trim_start_matches('e'));
        registration.registered_at_us += shift;
        // The generator names its members u0, u1…: they become the demo's users.
        let member: usize = registration.user_id.trim_start_matches('u').parse().unwrap_or(0);
        registration.user_id = members[member.min(members.len() - 1)].user_id.clone();
    }
    let start = now_us + 2 * DAY_US;
    let Some(mut upcoming) = events.last().cloned() else { return (events, registrations) };
    upcoming.event_id = UPCOMING_EVENT.to_owned();
    upcoming.start_us = start;
    upcoming.bad_weather = None;
    upcoming.condition = None;
    events.push(upcoming);
    for member in members.iter().step_by(2) {
        registrations.push(RegistrationInfo {
            event_id: UPCOMING_EVENT.to_owned(),
            user_id: member.user_id.clone(),
            registered_at_us: now_us - DAY_US,
            attended: None,
            attributes: Default::default(),
        });
    }
    (events, registrations)
}
