//! Processed batches of sequence counts (applied once, under the watermark) and the counts,
//! totals and user numbers read back.

use super::*;

pub(super) async fn reads_events_in_arrival_order(db: &TestDb) {
    assert_eq!(db.store.max_event_seq().await.unwrap(), 0);
    // Arrival order is not time order: the second event happened first.
    db.store.commit_events(vec![event(1, "u", 50), event(2, "v", 10)].into(), granting()).await.unwrap();
    db.store.commit_events(vec![event(3, "u", 60)].into(), granting()).await.unwrap();
    let all = db.store.events_in_arrival_order(0, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.event_id.clone()).collect::<Vec<_>>(),
        vec![event(1, "", 0).event_id, event(2, "", 0).event_id, event(3, "", 0).event_id]
    );
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(all[1].user_key, "key-v");
    assert_eq!(db.store.max_event_seq().await.unwrap(), all[2].seq);
    let rest = db.store.events_in_arrival_order(all[0].seq, 1).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].seq, all[1].seq);
}

pub(super) fn delta(scope: &str, context: &str, next: &str, count: i64) -> SequenceCount {
    SequenceCount { scope: scope.into(), context: context.into(), next: next.into(), count }
}

pub(super) fn processed(expected: i64, new: i64, deltas: Vec<SequenceCount>) -> SequenceBatch {
    SequenceBatch {
        processor: "sequences".into(),
        expected_watermark: expected,
        new_watermark: new,
        deltas,
        states: vec![SequenceStateRecord {
            user_key: "key-u".into(),
            recent: format!("a{new}"),
            last_us: Some(new),
            previous_us: None,
            n_actions: new,
        }],
        profiles: vec![ProfileStateRecord {
            user_key: "key-u".into(),
            state: format!("{{\"n\": {new}}}"),
            updated_at_us: new,
        }],
        day_counts: Vec::new(),
        active_days: Vec::new(),
        user_days: Vec::new(),
        now_us: 1,
    }
}

pub(super) async fn applies_a_processed_batch_only_once(db: &TestDb) {
    db.store.create_account(account("u", Some("u"), None, Role::User)).await.unwrap();
    assert_eq!(db.store.processing_watermark("sequences").await.unwrap(), 0);
    assert!(
        db.store
            .commit_sequence_batch(processed(
                0,
                5,
                // `key-gone` names no stored user (erased while the batch was computed): left out.
                vec![delta("", "a", "b", 2), delta("key-u", "a", "b", 1), delta("key-gone", "a", "b", 1)],
            ))
            .await
            .unwrap()
    );
    assert!(
        !db.store.commit_sequence_batch(processed(0, 5, vec![delta("", "a", "b", 2)])).await.unwrap(),
        "already processed"
    );
    assert!(
        db.store
            .commit_sequence_batch(processed(5, 9, vec![delta("", "a", "b", 3), delta("", "a", "c", 1)]))
            .await
            .unwrap()
    );
    assert_eq!(db.store.processing_watermark("sequences").await.unwrap(), 9);
    let mut counts = db
        .store
        .sequence_counts(&[(String::new(), "a".into()), ("key-u".into(), "a".into()), ("key-gone".into(), "a".into())])
        .await
        .unwrap();
    counts.sort_by(|x, y| (&x.scope, &x.next).cmp(&(&y.scope, &y.next)));
    assert_eq!(counts, vec![delta("", "a", "b", 5), delta("", "a", "c", 1), delta("key-u", "a", "b", 1)]);
    let states = db.store.sequence_states(&["key-u".into(), "key-nobody".into()]).await.unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!((states[0].recent.as_str(), states[0].n_actions), ("a9", 9), "the state is replaced, not added");
    let profiles = db.store.profile_states(&["key-u".into(), "key-nobody".into()]).await.unwrap();
    assert_eq!(profiles.len(), 1);
    assert_eq!(profiles[0].state, "{\"n\": 9}");
    let all = db.store.all_profile_states("", 10).await.unwrap();
    assert_eq!(all.len(), 1);
    assert!(db.store.all_profile_states("key-u", 10).await.unwrap().is_empty(), "after the last key");
    assert_eq!(db.store.count_profile_states().await.unwrap(), 1, "one user has a profile");

    // Two processors racing for the same stretch: exactly one wins.
    let mut racers = Vec::new();
    for _ in 0..4 {
        let store = Arc::clone(&db.store);
        racers.push(tokio::spawn(async move {
            store.commit_sequence_batch(processed(9, 12, vec![delta("", "x", "y", 1)])).await.unwrap()
        }));
    }
    let mut winners = 0;
    for racer in racers {
        winners += usize::from(racer.await.unwrap());
    }
    assert_eq!(winners, 1);
    let counts = db.store.sequence_counts(&[(String::new(), "x".into())]).await.unwrap();
    assert_eq!(counts, vec![delta("", "x", "y", 1)]);
}

pub(super) async fn answers_counts_totals_and_user_numbers(db: &TestDb) {
    db.store.create_account(account("alice", Some("alice"), None, Role::User)).await.unwrap();
    db.store.commit_events(vec![event(1, "u", 0)].into(), granting()).await.unwrap();
    assert_eq!(db.store.count_users().await.unwrap(), UserCounts { users: 2, accounts: 1 });
    let mut batch = processed(
        0,
        1,
        vec![
            delta("key-u", "", "click", 3),
            delta("key-u", "", "view", 1),
            delta("key-u", "click", "view", 1),
            delta("", "", "click", 3),
        ],
    );
    batch.states[0].n_actions = 4;
    assert!(db.store.commit_sequence_batch(batch).await.unwrap());
    let action_counts = db.store.user_action_counts().await.unwrap();
    assert_eq!(
        action_counts,
        vec![delta("key-u", "", "click", 3), delta("key-u", "", "view", 1)],
        "only users' order-0 counts"
    );
    assert_eq!(
        db.store.user_totals().await.unwrap(),
        vec![UserTotal { user_id: "u".into(), user_key: "key-u".into(), username: None, n_actions: 4 }]
    );
}

/// What processing would add to the daily activity for `events`: per day and type, and per
/// user and period.
fn activity_of(events: &[NewEvent]) -> (Vec<DailyTypeCount>, Vec<ActiveDays>) {
    let mut counts: std::collections::BTreeMap<(i64, String), i64> = std::collections::BTreeMap::new();
    let mut days: std::collections::BTreeMap<(String, i64), i64> = std::collections::BTreeMap::new();
    for event in events {
        *counts.entry((day_number(event.timestamp_us) * DAY_US, event.event_type.clone())).or_default() += 1;
        let (period, bit) = ActiveDays::of(event.timestamp_us);
        *days.entry((event.user_key.clone(), period)).or_default() |= bit;
    }
    (
        counts
            .into_iter()
            .map(|((day_us, event_type), events)| DailyTypeCount { day_us, event_type, events })
            .collect(),
        days.into_iter().map(|((user_key, period), days)| ActiveDays { user_key, period, days }).collect(),
    )
}

/// Daily counts, daily active users and distinct users over windows of days, kept from
/// processed batches: a user counted once per day however many batches see them, windows
/// across two stored periods, and erasure taking out what the user's processed events added.
pub(super) async fn keeps_daily_activity_of_processed_batches(db: &TestDb) {
    let at = |day: i64, minute: i64| 1_700_006_400_000_000 + day * DAY_US + minute * MINUTE;
    assert_eq!(at(0, 0) % DAY_US, 0, "day 0 starts at midnight UTC");
    assert_eq!(ActiveDays::of(at(3, 0)).1, 1 << 31, "day 3 is a period's last day, day 4 the next one's first");
    let mut events = Vec::new();
    for (n, (user, event_type, day, minute)) in [
        ("a", "view", 0, 1),
        ("a", "view", 0, 2),
        ("b", "view", 0, 3),
        ("a", "buy", 0, 4),
        ("b", "view", 1, 0),
        ("c", "view", 4, 0),
        ("a", "view", 5, 0),
    ]
    .into_iter()
    .enumerate()
    {
        let mut e = event(n as u32, user, 0);
        e.event_type = event_type.to_owned();
        e.timestamp_us = at(day, minute);
        events.push(e);
    }
    db.store.commit_events(events.clone().into(), granting()).await.unwrap();
    let seqs: Vec<i64> = db.store.events_in_arrival_order(0, 100).await.unwrap().iter().map(|e| e.seq).collect();
    // Two batches, as processing makes them; "a" is active on day 0 in both.
    let mut watermark = 0;
    for (from, to) in [(0, 3), (3, 7)] {
        let (day_counts, active_days) = activity_of(&events[from..to]);
        let mut batch = processed(watermark, seqs[to - 1], Vec::new());
        (batch.states, batch.profiles) = (Vec::new(), Vec::new());
        (batch.day_counts, batch.active_days) = (day_counts, active_days);
        assert!(db.store.commit_sequence_batch(batch.clone()).await.unwrap());
        assert!(!db.store.commit_sequence_batch(batch).await.unwrap(), "a batch applies once");
        watermark = seqs[to - 1];
    }
    let day = |d: i64| at(d, 0);
    let counts = |from: i64, to: i64| {
        let store = db.store.clone();
        async move {
            let counts = store.daily_type_counts(day(from), day(to)).await.unwrap();
            counts.into_iter().map(|c| ((c.day_us - day(0)) / DAY_US, c.event_type, c.events)).collect::<Vec<_>>()
        }
    };
    let per_day = |from: i64, to: i64| {
        let store = db.store.clone();
        async move {
            let days = store.daily_active_users(day(from), day(to)).await.unwrap();
            days.into_iter().map(|d| ((d.day_us - day(0)) / DAY_US, d.users)).collect::<Vec<_>>()
        }
    };
    let windows = [(0, 6), (0, 1), (1, 2), (3, 5), (6, 7), (-30, 0)];
    let distinct = || {
        let store = db.store.clone();
        let windows: Vec<DayWindow> =
            windows.iter().map(|&(from, to)| DayWindow { from_us: day(from), to_us: day(to) }).collect();
        async move { store.active_users(&windows).await.unwrap() }
    };
    let view = |d: i64, n: i64| (d, "view".to_owned(), n);
    assert_eq!(counts(0, 4).await, [(0, "buy".to_owned(), 1), view(0, 3), view(1, 1)], "day 4 is outside the range");
    assert_eq!(per_day(0, 10).await, [(0, 2), (1, 1), (4, 1), (5, 1)], "a is counted once on day 0");
    assert_eq!(distinct().await, [3, 2, 1, 1, 0, 0]);
    assert_eq!(db.store.active_users(&[]).await.unwrap(), Vec::<i64>::new());

    // An event of "a" committed but not processed yet: not counted, and not taken out either.
    let mut late = event(20, "a", 0);
    late.event_type = "view".to_owned();
    late.timestamp_us = at(0, 30);
    db.store.commit_events(vec![late].into(), granting()).await.unwrap();
    let erasure = Erasure {
        user_id: "a".to_owned(),
        user_key: "key-a".to_owned(),
        tombstone: "tomb-a".to_owned(),
        scrub: vec!["a".to_owned()],
        replacement: "erased-user".to_owned(),
        now_us: 99,
    };
    db.store.erase_user(erasure.clone()).await.unwrap();
    assert_eq!(counts(0, 6).await, [view(0, 1), view(1, 1), view(4, 1)], "a's processed events are taken out");
    assert_eq!(per_day(0, 10).await, [(0, 1), (1, 1), (4, 1)]);
    assert_eq!(distinct().await, [2, 1, 1, 1, 0, 0]);
    db.store.erase_user(erasure).await.unwrap();
    assert_eq!(counts(0, 6).await, [view(0, 1), view(1, 1), view(4, 1)], "erasing again takes nothing out twice");

    db.store
        .anonymize_user(Anonymization {
            user_id: "b".to_owned(),
            user_key: "key-b".to_owned(),
            new_user_id: "anonymous-b".to_owned(),
            new_user_key: "key-anonymous-b".to_owned(),
            scrub: vec!["b".to_owned()],
            now_us: 99,
        })
        .await
        .unwrap();
    assert_eq!(distinct().await, [2, 1, 1, 1, 0, 0], "an anonymised user's days stay theirs");
}
