//! The profile state against hand-computed histories, and incremental against recomputed.

use proptest::prelude::*;

use super::*;

/// Monday 2024-01-01 00:00 UTC.
const MONDAY: i64 = 1_704_067_200_000_000;
const MINUTE: i64 = 60_000_000;

fn event(event_type: &str, minute: i64, category: Option<&str>) -> ProfileEvent {
    ProfileEvent {
        event_type: event_type.to_owned(),
        timestamp_us: MONDAY + minute * MINUTE,
        category: category.map(str::to_owned),
        feature: None,
        item: None,
    }
}

fn build(events: &[ProfileEvent], config: &ProfileConfig) -> ProfileState {
    let mut state = ProfileState::default();
    events.iter().for_each(|event| state.observe(event, config));
    state
}

#[test]
fn features_of_a_hand_computed_history() {
    let config = ProfileConfig::default();
    // Session 1 (Monday 09:00–09:20): view, click, view. Session 2 (Tuesday 18:00): purchase.
    let events = [
        event("page_view", 9 * 60, Some("shoes")),
        event("click", 9 * 60 + 10, Some("shoes")),
        event("page_view", 9 * 60 + 20, Some("hats")),
        event("purchase", 24 * 60 + 18 * 60, Some("shoes")),
    ];
    let state = build(&events, &config);
    // "now" = Wednesday 00:00: 3 calendar days spanned, 2 of them active.
    let features = state.features(MONDAY + 2 * 24 * 60 * MINUTE);
    assert_eq!((features.events, features.sessions, features.active_days), (4, 2, 2));
    assert_eq!(features.events_per_session, 2.0);
    assert_eq!(features.mean_session_seconds, 600.0, "(1 200 s + 0 s) / 2");
    assert_eq!(features.max_session_seconds, 1_200.0);
    assert!((features.active_day_ratio - 2.0 / 3.0).abs() < 1e-12);
    assert!((features.recency_days - 0.25).abs() < 1e-12, "6 hours");
    assert!((features.tenure_days - 15.0 / 24.0 - 1.0).abs() < 1e-12, "Monday 09:00 to Wednesday 00:00");
    assert_eq!(features.events_per_week, 4.0, "under a week of tenure counts as one week");
    assert_eq!(features.hour_of_day[9], 0.75);
    assert_eq!(features.hour_of_day[18], 0.25);
    assert_eq!(features.day_of_week[0], 0.75, "Monday");
    assert_eq!(features.day_of_week[1], 0.25, "Tuesday");
    assert_eq!(features.categories["shoes"], 0.75);
    // 100 × (0.30·2/3 + 0.30·e^(−0.25/14) + 0.25·(1 − e^(−2/5)) + 0.15·(1 − e^(−3/3))).
    let expected = 100.0
        * (0.30 * 2.0 / 3.0
            + 0.30 * (-0.25f64 / 14.0).exp()
            + 0.25 * (1.0 - (-0.4f64).exp())
            + 0.15 * (1.0 - (-1.0f64).exp()));
    assert!((features.engagement_score - expected).abs() < 1e-9);
    assert_eq!(state.sessions[0].first_action, "page_view");
    assert_eq!(state.sessions[0].last_action, "page_view");
    assert_eq!(state.sessions[1].first_action, "purchase");
}

#[test]
fn preferences_decay_with_their_half_life() {
    let config = ProfileConfig::default();
    // A purchase of shoes 14 days before now (weight 8 → 4), two views of hats now (2).
    let events = [
        event("purchase", 0, Some("shoes")),
        event("page_view", 14 * 24 * 60, Some("hats")),
        event("page_view", 14 * 24 * 60, Some("hats")),
    ];
    let state = build(&events, &config);
    let preferences = state.preferences(MONDAY + 14 * 24 * 60 * MINUTE, &config, 10);
    assert_eq!(preferences.categories[0].name, "shoes");
    assert!((preferences.categories[0].raw_score - 4.0).abs() < 1e-9);
    assert_eq!(preferences.categories[0].score, 1.0);
    assert!((preferences.categories[1].score - 0.5).abs() < 1e-9, "hats: 2 / 4");
    assert_eq!(preferences.categories[1].count, 2);
}

#[test]
fn a_late_event_bridging_two_sessions_merges_them() {
    let config = ProfileConfig::default();
    let mut state = build(&[event("a", 0, None), event("b", 50, None)], &config);
    assert_eq!(state.sessions.len(), 2);
    state.observe(&event("c", 25, None), &config);
    assert_eq!(state.sessions.len(), 1);
    assert_eq!(
        (state.sessions[0].events, state.sessions[0].first_action.as_str(), state.sessions[0].last_action.as_str()),
        (3, "a", "b")
    );
}

fn arbitrary_events() -> impl Strategy<Value = Vec<ProfileEvent>> {
    let one = (0usize..4, 0i64..(40 * 24 * 60), 0usize..4, 0usize..3).prop_map(|(kind, minute, category, item)| {
        let types = ["page_view", "click", "purchase", "search"];
        let categories = [None, Some("shoes"), Some("hats"), Some("bags")];
        let items = [None, Some("sku-1"), Some("sku-2")];
        ProfileEvent {
            event_type: types[kind].to_owned(),
            timestamp_us: MONDAY + minute * MINUTE,
            category: categories[category].map(str::to_owned),
            feature: items[item].map(|_| "search_box".to_owned()),
            item: items[item].map(str::to_owned),
        }
    });
    prop::collection::vec(one, 1..120)
}

proptest! {
    /// Incremental (events in arrival order, late ones included) equals a full recompute
    /// (events in time order).
    #[test]
    fn incremental_equals_recompute(events in arbitrary_events(), seed in any::<u64>()) {
        let config = ProfileConfig { session_gap_secs: 1_800, kept_sessions: usize::MAX, ..ProfileConfig::default() };
        let mut arrival = events.clone();
        crate::rng::SplitMix64::new(seed).shuffle(&mut arrival);
        let mut sorted = events;
        sorted.sort_by(|a, b| (a.timestamp_us, &a.event_type).cmp(&(b.timestamp_us, &b.event_type)));
        let incremental = build(&arrival, &config);
        let recomputed = build(&sorted, &config);
        prop_assert_eq!(&incremental.sessions, &recomputed.sessions);
        prop_assert_eq!(&incremental.active_days, &recomputed.active_days);
        prop_assert_eq!(incremental.hours, recomputed.hours);
        let now = recomputed.last_us.unwrap_or(MONDAY) + DAY_US;
        let (a, b) = (incremental.features(now), recomputed.features(now));
        prop_assert_eq!(&a, &b);
        let (pa, pb) = (incremental.preferences(now, &config, 10), recomputed.preferences(now, &config, 10));
        prop_assert_eq!(pa.categories.len(), pb.categories.len());
        for (x, y) in pa.categories.iter().chain(&pa.items).zip(pb.categories.iter().chain(&pb.items)) {
            prop_assert_eq!((&x.name, x.count, x.last_seen_us), (&y.name, y.count, y.last_seen_us));
            prop_assert!((x.raw_score - y.raw_score).abs() <= 1e-9 * y.raw_score.abs().max(1.0));
        }
    }

    /// Sessions are the runs of events less than the gap apart, whatever the order.
    #[test]
    fn sessions_are_runs_under_the_gap(events in arbitrary_events()) {
        let config = ProfileConfig { kept_sessions: usize::MAX, ..ProfileConfig::default() };
        let state = build(&events, &config);
        let mut times: Vec<i64> = events.iter().map(|e| e.timestamp_us).collect();
        times.sort_unstable();
        let runs = 1 + times.windows(2).filter(|pair| pair[1] - pair[0] >= 1_800_000_000).count();
        prop_assert_eq!(state.sessions.len(), runs);
        prop_assert_eq!(state.sessions.iter().map(|s| s.events).sum::<u64>(), events.len() as u64);
    }

    /// In time order, counting the sessions past the kept ones changes none of the features.
    #[test]
    fn counted_sessions_give_the_same_features(events in arbitrary_events(), kept in 1usize..8) {
        let mut sorted = events;
        sorted.sort_by(|a, b| (a.timestamp_us, &a.event_type).cmp(&(b.timestamp_us, &b.event_type)));
        let bounded = build(&sorted, &ProfileConfig { kept_sessions: kept, ..ProfileConfig::default() });
        let whole = build(&sorted, &ProfileConfig { kept_sessions: usize::MAX, ..ProfileConfig::default() });
        prop_assert!(bounded.sessions.len() <= kept);
        prop_assert_eq!(&bounded.sessions[..], &whole.sessions[whole.sessions.len() - bounded.sessions.len()..]);
        let now = whole.last_us.unwrap_or(MONDAY) + DAY_US;
        let (a, b) = (bounded.features(now), whole.features(now));
        prop_assert_eq!(a.sessions, b.sessions);
        prop_assert!((a.mean_session_seconds - b.mean_session_seconds).abs() < 1e-6);
        prop_assert_eq!(a.max_session_seconds, b.max_session_seconds);
        prop_assert_eq!(a.events_per_session, b.events_per_session);
    }
}

#[test]
fn sessions_past_the_kept_ones_are_counted_and_a_much_later_arrival_counts_alone() {
    let config = ProfileConfig { kept_sessions: 3, ..ProfileConfig::default() };
    // Five daily sessions at 09:00 of 0, 5, 10, 15 and 20 minutes (two events each).
    let mut events = Vec::new();
    for day in 0..5 {
        events.push(event("page_view", day * 24 * 60 + 9 * 60, None));
        events.push(event("click", day * 24 * 60 + 9 * 60 + 5 * day, None));
    }
    let mut state = build(&events, &config);
    assert_eq!(state.sessions.len(), 3);
    assert_eq!(state.sessions[0].start_us, MONDAY + (2 * 24 * 60 + 9 * 60) * MINUTE, "the latest three");
    assert_eq!(
        state.earlier_sessions,
        SessionTotals { count: 2, seconds: 300.0, longest_seconds: 300.0 },
        "days 0 and 1: 0 s and 300 s"
    );
    let features = state.features(MONDAY + 5 * 24 * 60 * MINUTE);
    assert_eq!(features.sessions, 5);
    assert_eq!(features.mean_session_seconds, (0.0 + 300.0 + 600.0 + 900.0 + 1_200.0) / 5.0);
    assert_eq!(features.max_session_seconds, 1_200.0);
    // A late event joining a kept session still joins it.
    state.observe(&event("search", 2 * 24 * 60 + 9 * 60 + 7, None), &config);
    assert_eq!((state.sessions.len(), state.sessions[0].events), (3, 3));
    // One from day 0, before every kept session: counted as a session of its own.
    state.observe(&event("search", 9 * 60 + 5, None), &config);
    assert_eq!(state.earlier_sessions.count, 3);
    assert_eq!(state.features(MONDAY + 5 * 24 * 60 * MINUTE).sessions, 6);
    // A state stored before sessions were counted reads with none counted.
    let old = r#"{"events":1,"events_by_type":{},"first_us":null,"last_us":null,"hours":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],"weekdays":[0,0,0,0,0,0,0],"active_days":[],"sessions":[],"categories":{},"features":{},"category_evidence":{},"item_evidence":{}}"#;
    let read: ProfileState = serde_json::from_str(old).unwrap();
    assert_eq!(read.earlier_sessions, SessionTotals::default());
}
