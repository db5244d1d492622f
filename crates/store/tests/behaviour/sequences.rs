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
