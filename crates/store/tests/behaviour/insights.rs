//! Seed 003's insights and automation: users' activity per day, callers' requests per hour, and
//! the automation runs with their lease.

use super::*;

fn day_of(user_key: &str, day: i64, events: i64, sessions: i64, seconds: f64, amount: f64) -> UserDay {
    UserDay {
        user_key: user_key.to_owned(),
        day,
        events,
        sessions,
        session_seconds: seconds,
        amount,
        first_seen_us: None,
    }
}

pub(super) async fn keeps_each_users_activity_per_day(db: &TestDb) {
    let events: Vec<NewEvent> = ["a", "b", "c"].iter().enumerate().map(|(n, user)| event(n as u32, user, 0)).collect();
    db.store.commit_events(events.into(), granting()).await.unwrap();
    let seqs: Vec<i64> = db.store.events_in_arrival_order(0, 10).await.unwrap().iter().map(|e| e.seq).collect();
    // Two batches add up on a day they share; a row for a user not stored is left out.
    let mut first = processed(0, seqs[1], Vec::new());
    (first.states, first.profiles) = (Vec::new(), Vec::new());
    first.user_days = vec![
        day_of("key-a", 10, 2, 1, 30.0, 5.0),
        day_of("key-b", 11, 1, 1, 0.0, 0.0),
        day_of("key-ghost", 10, 9, 9, 9.0, 9.0),
    ];
    assert!(db.store.commit_sequence_batch(first).await.unwrap());
    let mut second = processed(seqs[1], seqs[2], Vec::new());
    (second.states, second.profiles) = (Vec::new(), Vec::new());
    second.user_days = vec![
        day_of("key-a", 10, 1, 0, 12.5, 2.5),
        day_of("key-a", 12, 1, 1, 0.0, 0.0),
        day_of("key-c", 9, 4, 2, 1.0, 0.0),
    ];
    assert!(db.store.commit_sequence_batch(second.clone()).await.unwrap());
    assert!(!db.store.commit_sequence_batch(second).await.unwrap(), "a batch's days count once");

    let a = db.store.user_days("key-a", 0).await.unwrap();
    let summary: Vec<(i64, i64, i64, f64, f64)> =
        a.iter().map(|d| (d.day, d.events, d.sessions, d.session_seconds, d.amount)).collect();
    assert_eq!(summary, [(10, 3, 1, 42.5, 7.5), (12, 1, 1, 0.0, 0.0)]);
    assert!(
        a.iter().all(|d| d.first_seen_us == Some(event(0, "a", 0).timestamp_us)),
        "with when the user was first seen"
    );
    assert_eq!(db.store.user_days("key-a", 11).await.unwrap().len(), 1, "from a day on");
    assert!(db.store.user_days("key-ghost", 0).await.unwrap().is_empty());

    // Every user's days, in pages of two rows, in (user, day) order.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = db.store.user_days_after(after.clone(), 0, 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|d| (d.user_key.clone(), d.day));
        seen.extend(page.into_iter().map(|d| (d.user_key, d.day)));
    }
    let expected: Vec<(String, i64)> = [("key-a", 10), ("key-a", 12), ("key-b", 11), ("key-c", 9)]
        .iter()
        .map(|(k, d)| ((*k).to_owned(), *d))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(db.store.user_days_after(None, 11, 10).await.unwrap().len(), 2, "days before 11 are left out");
}

pub(super) async fn counts_requests_per_caller_and_hour(db: &TestDb) {
    const HOUR: i64 = 3_600_000_000;
    db.store.commit_events(vec![event(1, "u1", 0)].into(), granting()).await.unwrap();
    let usage = |caller: &str, hour: i64, requests: i64, limited: i64| RequestUsage {
        caller_key: caller.to_owned(),
        hour_us: hour * HOUR,
        requests,
        limited,
    };
    db.store
        .add_request_usage(vec![
            usage("key-u1", 1, 10, 0),
            usage("key-u1", 2, 100, 3),
            usage("key:k1", 2, 5, 0),
            usage("key-gone", 2, 7, 0),
        ])
        .await
        .unwrap();
    db.store.add_request_usage(vec![usage("key-u1", 2, 20, 1)]).await.unwrap();
    db.store.add_request_usage(Vec::new()).await.unwrap();
    let hours: Vec<(i64, i64, i64)> = db
        .store
        .request_usage("key-u1", 0)
        .await
        .unwrap()
        .iter()
        .map(|u| (u.hour_us / HOUR, u.requests, u.limited))
        .collect();
    assert_eq!(hours, [(1, 10, 0), (2, 120, 4)]);
    assert!(db.store.request_usage("key-gone", 0).await.unwrap().is_empty(), "a user no longer stored is left out");
    let mut callers = db.store.usage_by_caller(0).await.unwrap();
    callers.sort_by(|a, b| a.caller_key.cmp(&b.caller_key));
    assert_eq!(
        callers,
        [
            CallerUsage { caller_key: "key-u1".into(), requests: 130, limited: 4, peak_hour: 120, active_hours: 2 },
            CallerUsage { caller_key: "key:k1".into(), requests: 5, limited: 0, peak_hour: 5, active_hours: 1 },
        ]
    );
    let later = db.store.usage_by_caller(2 * HOUR).await.unwrap();
    assert_eq!(later.iter().find(|c| c.caller_key == "key-u1").unwrap().requests, 120, "from an hour on");
    assert_eq!(db.store.expire_request_usage(2 * HOUR).await.unwrap(), 1);
    assert_eq!(db.store.request_usage("key-u1", 0).await.unwrap().len(), 1);
}

fn run(run_id: &str, job: &str, slot: Option<i64>, node: &str, at: i64) -> AutomationRun {
    AutomationRun {
        run_id: run_id.to_owned(),
        job: job.to_owned(),
        slot_us: slot,
        trigger: if slot.is_some() { "schedule" } else { "cli" }.to_owned(),
        node: node.to_owned(),
        started_at_us: at,
        finished_at_us: None,
        status: "running".to_owned(),
        counts: "{}".to_owned(),
        report: None,
        error: None,
    }
}

pub(super) async fn runs_a_scheduled_job_once_per_slot(db: &TestDb) {
    // Two nodes race for the same slot: one wins.
    let (one, two) = tokio::join!(
        db.store.claim_run(run("r1", "analytics", Some(100), "node-1", 100), 0),
        db.store.claim_run(run("r2", "analytics", Some(100), "node-2", 100), 0)
    );
    assert!(one.unwrap() ^ two.unwrap(), "exactly one node runs the slot");
    assert!(db.store.claim_run(run("r3", "analytics", Some(200), "node-2", 200), 0).await.unwrap(), "the next slot");
    assert!(db.store.claim_run(run("r4", "cleanup", Some(100), "node-2", 100), 0).await.unwrap(), "another job");
    assert!(db.store.claim_run(run("r5", "analytics", None, "cli", 150), 0).await.unwrap(), "runs by hand");
    assert!(db.store.claim_run(run("r6", "analytics", None, "cli", 160), 0).await.unwrap(), "as many as asked");

    // A node that died mid-run leaves its slot `running`: once stale, another node takes it over.
    assert!(!db.store.claim_run(run("r7", "analytics", Some(200), "node-1", 300), 150).await.unwrap(), "not stale yet");
    assert!(db.store.claim_run(run("r7", "analytics", Some(200), "node-1", 300), 250).await.unwrap());
    let taken = db.store.automation_run("r7").await.unwrap().unwrap();
    assert_eq!((taken.node.as_str(), taken.started_at_us, taken.slot_us), ("node-1", 300, Some(200)));
    assert!(db.store.automation_run("r3").await.unwrap().is_none(), "the dead run is replaced");

    // A finished run is never taken over.
    let mut done = db.store.automation_run("r4").await.unwrap().unwrap();
    done.status = "success".to_owned();
    done.finished_at_us = Some(120);
    done.counts = r#"{"removed": 3}"#.to_owned();
    done.report = Some(r#"{"users": 10}"#.to_owned());
    db.store.finish_run(done.clone()).await.unwrap();
    assert!(!db.store.claim_run(run("r8", "cleanup", Some(100), "node-1", 900), 1_000).await.unwrap());
    assert_eq!(db.store.automation_run("r4").await.unwrap().unwrap(), done);

    // At a node's start, runs left `running` by stopped nodes are recorded as failed.
    assert_eq!(db.store.fail_stale_runs(200, "interrupted", 1_000).await.unwrap(), 3, "r1 or r2, r5 and r6");
    let failed = db.store.automation_run("r5").await.unwrap().unwrap();
    assert_eq!(
        (failed.status.as_str(), failed.error.as_deref(), failed.finished_at_us),
        ("failed", Some("interrupted"), Some(1_000))
    );
    assert_eq!(db.store.automation_run("r7").await.unwrap().unwrap().status, "running", "a run started since stays");

    let all = db.store.automation_runs(None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        ["r7", "r6", "r5", "r4", if one_won(&all) { "r1" } else { "r2" }]
    );
    let analytics = db.store.automation_runs(Some("analytics".into()), 2).await.unwrap();
    assert_eq!(analytics.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), ["r7", "r6"]);
}

fn one_won(runs: &[AutomationRun]) -> bool {
    runs.iter().any(|r| r.run_id == "r1")
}

pub(super) async fn counts_the_retention_of_cohorts(db: &TestDb) {
    const DAY: i64 = DAY_US;
    // Day 19_723 is Monday 2024-01-01.
    let monday = 19_723;
    let mut events = Vec::new();
    for (n, (user, first)) in [("a", 0), ("b", 1), ("c", 8), ("d", 40)].into_iter().enumerate() {
        let mut e = event(n as u32, user, 0);
        e.timestamp_us = (monday + first) * DAY + 1;
        events.push(e);
    }
    db.store.commit_events(events.into(), granting()).await.unwrap();
    let seqs: Vec<i64> = db.store.events_in_arrival_order(0, 10).await.unwrap().iter().map(|e| e.seq).collect();
    let mut batch = processed(0, *seqs.last().unwrap(), Vec::new());
    (batch.states, batch.profiles) = (Vec::new(), Vec::new());
    // a: days 0, 2, 9; b: day 1, 15; c: day 8 (twice, a day each), 9; d: day 40.
    batch.user_days = [("a", 0), ("a", 2), ("a", 9), ("b", 1), ("b", 15), ("c", 8), ("c", 9), ("d", 40)]
        .iter()
        .map(|(user, day)| day_of(&format!("key-{user}"), monday + day, 1, 1, 0.0, 0.0))
        .collect();
    assert!(db.store.commit_sequence_batch(batch).await.unwrap());
    let from = monday * DAY;
    let weeks = db
        .store
        .retention(RetentionQuery {
            period: RetentionPeriod::Week,
            first_seen_from_us: from,
            first_seen_to_us: from + 35 * DAY,
        })
        .await
        .unwrap();
    let week = (monday + 3) / 7;
    let mut sizes = weeks.sizes.clone();
    sizes.sort_unstable();
    assert_eq!(sizes, [(week, 2), (week + 1, 1)], "d was first seen after the window");
    let mut cells = weeks.cells.clone();
    cells.sort_unstable();
    assert_eq!(cells, [(week, week, 2), (week, week + 1, 1), (week, week + 2, 1), (week + 1, week + 1, 1)]);
    let months = db
        .store
        .retention(RetentionQuery { period: RetentionPeriod::Month, first_seen_from_us: 0, first_seen_to_us: i64::MAX })
        .await
        .unwrap();
    let january = (2024 - 1970) * 12;
    let mut sizes = months.sizes.clone();
    sizes.sort_unstable();
    assert_eq!(sizes, [(january, 3), (january + 1, 1)], "day 40 is 2024-02-10");
    let days = db
        .store
        .retention(RetentionQuery { period: RetentionPeriod::Day, first_seen_from_us: 0, first_seen_to_us: i64::MAX })
        .await
        .unwrap();
    assert_eq!(days.cells.iter().filter(|(cohort, _, _)| *cohort == monday).count(), 3, "a's three days");
}

pub(super) async fn lists_the_users_whose_latest_consent_refuses_improvement(db: &TestDb) {
    let events: Vec<NewEvent> = ["a", "b", "c"].iter().enumerate().map(|(n, user)| event(n as u32, user, 0)).collect();
    db.store.commit_events(events.into(), granting()).await.unwrap();
    let consent = |user: &str, improvement: bool, at: i64| ConsentRecord {
        user_id: user.to_owned(),
        consent: Consent { analytics: true, preferences: true, improvement },
        source: "api".to_owned(),
        recorded_at_us: at,
    };
    // a refused then agreed; b agreed then refused; c never said.
    for record in [consent("a", false, 1), consent("a", true, 2), consent("b", true, 1), consent("b", false, 2)] {
        db.store.append_consent(record).await.unwrap();
    }
    assert_eq!(db.store.refusing_improvement().await.unwrap(), ["key-b"]);
}
