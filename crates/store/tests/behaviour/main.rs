//! One behaviour suite for every backend: each test below runs against SQLite in a temp
//! directory and against PostgreSQL (`FOOTPRINT_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`) in a schema of its own.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;

use footprint_analytics::{Consent, Role, Tier};
use footprint_store::*;

mod insights;
mod privacy;
mod records;
mod security;
mod sequences;

use insights::*;
use privacy::*;
use records::*;
use security::*;
use sequences::*;

const MINUTE: i64 = 60_000_000;

/// A store opened for one test, removed afterwards.
struct TestDb {
    store: Arc<dyn Store>,
    location: StoreLocation,
    _dir: Option<tempfile::TempDir>,
    _schema: Option<ScratchSchema>,
}

fn postgres_base_url() -> String {
    std::env::var("FOOTPRINT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

impl TestDb {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let location = StoreLocation::Sqlite(dir.path().join("store.db"));
        let store = open(&location, &SqliteOptions::default(), &PostgresOptions::default()).await.expect("open sqlite");
        Self { store, location, _dir: Some(dir), _schema: None }
    }

    async fn postgres() -> Self {
        let base = postgres_base_url();
        let schema = ScratchSchema::create(&base, "fp_test").await.unwrap_or_else(|e| {
            panic!("PostgreSQL must be reachable at {base} for the behaviour suite (.ci/run starts it): {e}")
        });
        let location = StoreLocation::Postgres(schema.url());
        let store =
            open(&location, &SqliteOptions::default(), &PostgresOptions::default()).await.expect("open postgres");
        Self { store, location, _dir: None, _schema: Some(schema) }
    }

    async fn reopen(&self) -> Arc<dyn Store> {
        open(&self.location, &SqliteOptions::default(), &PostgresOptions::default()).await.expect("reopen")
    }
}

macro_rules! behaviour_suite {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let db = super::TestDb::sqlite().await;
                    super::$test(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let db = super::TestDb::postgres().await;
                    super::$test(&db).await;
                }
            )*
        }
    };
}

behaviour_suite!(
    answers_ping,
    keeps_the_first_generated_secret,
    creates_accounts_and_finds_them,
    refuses_taken_usernames_emails_and_second_accounts,
    grants_an_account_to_a_tracked_user,
    stores_api_keys_by_hash,
    keeps_the_whole_consent_history,
    collects_nothing_without_analytics_consent,
    stores_a_message_id_once,
    derives_sessions_and_user_activity,
    reads_events_with_filters_and_pages,
    survives_concurrent_batches_for_the_same_users,
    keeps_everything_across_a_reopen,
    keeps_an_audit_log,
    counts_login_attempts_per_login_and_network,
    gives_a_late_event_the_session_stored_before_it,
    ignores_a_consent_older_than_the_recorded_one,
    reads_events_in_arrival_order,
    applies_a_processed_batch_only_once,
    answers_counts_totals_and_user_numbers,
    expires_exactly_the_selected_events_and_keeps_their_aggregates,
    numbers_model_versions_and_filters_the_registry,
    logs_ml_calls_and_counts_a_models_predictions,
    keeps_every_version_of_a_profile,
    keeps_cluster_runs_and_the_latest_assignments,
    places_a_newcomer_in_the_latest_run_only,
    keeps_attendance_events_and_registrations,
    erases_every_trace_of_a_user,
    anonymizes_a_user_and_keeps_their_events,
    ends_token_generations_with_the_account,
    pages_users_and_finds_them_by_part_of_their_id_or_name,
    counts_each_users_latest_consent,
    changes_roles_and_tiers_and_keeps_the_tier_history,
    keeps_a_second_factor_and_accepts_each_step_once,
    keeps_the_outbox_and_one_time_codes,
    keeps_each_users_activity_per_day,
    counts_requests_per_caller_and_hour,
    runs_a_scheduled_job_once_per_slot,
    counts_the_retention_of_cohorts,
    lists_the_users_whose_latest_consent_refuses_improvement,
    keeps_logins_and_counts_failing_logins_per_network,
    keeps_daily_activity_of_processed_batches,
    links_identities_and_forgets_moved_events,
    keeps_webhooks_and_their_outbox,
    marks_what_each_webhook_was_told_once,
);

fn account(user_id: &str, username: Option<&str>, email_index: Option<&str>, role: Role) -> NewAccount {
    NewAccount {
        user_id: user_id.to_owned(),
        user_key: format!("key-{user_id}"),
        username: username.map(str::to_owned),
        email_enc: email_index.map(|e| format!("enc({e})")),
        email_index: email_index.map(str::to_owned),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        role,
        tier: Tier::Premium,
        profile_enc: None,
        token_generation: 7,
        now_us: 1_000,
    }
}

fn event(n: u32, user: &str, minute: i64) -> NewEvent {
    NewEvent {
        event_id: format!("01EVENT{n:019}"),
        user_id: user.to_owned(),
        user_key: format!("key-{user}"),
        message_id: None,
        session_id: None,
        event_type: "page_view".to_owned(),
        properties: format!(r#"{{"n": {n}, "page": "/p/{n}", "label": "é \"quoted\""}}"#),
        context: r#"{"ip": "10.0.0.0"}"#.to_owned(),
        timestamp_us: 1_700_000_000_000_000 + minute * MINUTE,
        received_us: 1_700_000_000_000_000 + minute * MINUTE + 5,
        consent: None,
    }
}

fn granting() -> CommitOptions {
    CommitOptions { session_gap_us: 30 * MINUTE, consent_default: Consent::GRANT_ALL }
}

fn all_events(user_key: Option<&str>) -> EventQuery {
    EventQuery { user_key: user_key.map(str::to_owned), limit: 1000, ..EventQuery::default() }
}

async fn answers_ping(db: &TestDb) {
    db.store.ping().await.expect("ping");
    assert!(["sqlite", "postgres"].contains(&db.store.backend()));
}

async fn keeps_the_first_generated_secret(db: &TestDb) {
    assert_eq!(db.store.secret("jwt_secret", "first".into()).await.unwrap(), "first");
    assert_eq!(db.store.secret("jwt_secret", "second".into()).await.unwrap(), "first");
    assert_eq!(db.store.secret("other", "x".into()).await.unwrap(), "x");
}

async fn creates_accounts_and_finds_them(db: &TestDb) {
    let created =
        db.store.create_account(account("alice", Some("alice"), Some("idx-alice"), Role::Admin)).await.unwrap();
    assert_eq!(created.user_id, "alice");
    assert_eq!(created.role, Role::Admin);
    assert_eq!(created.tier, Tier::Premium);
    assert!(created.has_account());
    assert_eq!(created.email_enc.as_deref(), Some("enc(idx-alice)"));
    assert_eq!(db.store.user("alice").await.unwrap(), Some(created.clone()));
    assert_eq!(db.store.user_by_username("alice").await.unwrap(), Some(created.clone()));
    assert_eq!(db.store.user_by_email_index("idx-alice").await.unwrap(), Some(created));
    assert_eq!(db.store.user("nobody").await.unwrap(), None);
    assert_eq!(db.store.count_admins().await.unwrap(), 1);
    db.store.create_account(account("bob", Some("bob"), None, Role::User)).await.unwrap();
    assert_eq!(db.store.count_admins().await.unwrap(), 1);
}

async fn refuses_taken_usernames_emails_and_second_accounts(db: &TestDb) {
    db.store.create_account(account("alice", Some("alice"), Some("idx-a"), Role::User)).await.unwrap();
    let conflict = |result: StoreResult<UserRecord>| match result {
        Err(StoreError::Conflict(message)) => message,
        other => panic!("expected a conflict, got {other:?}"),
    };
    let message = conflict(db.store.create_account(account("alice2", Some("alice"), None, Role::User)).await);
    assert!(message.contains("username alice"), "{message}");
    let message = conflict(db.store.create_account(account("carol", Some("carol"), Some("idx-a"), Role::User)).await);
    assert!(message.contains("email"), "{message}");
    let message = conflict(db.store.create_account(account("alice", Some("other"), None, Role::User)).await);
    assert!(message.contains("already has an account"), "{message}");
    assert!(db.store.user("carol").await.unwrap().is_none(), "a refused account leaves nothing behind");
}

async fn grants_an_account_to_a_tracked_user(db: &TestDb) {
    let outcomes = db.store.commit_events(vec![event(1, "tracked", 0)].into(), granting()).await.unwrap();
    assert!(matches!(outcomes[0], EventOutcome::Accepted { .. }));
    let tracked = db.store.user("tracked").await.unwrap().expect("created implicitly");
    assert!(!tracked.has_account());
    assert_eq!(tracked.first_seen_us, Some(event(1, "tracked", 0).timestamp_us));
    let granted = db.store.create_account(account("tracked", Some("tracked"), None, Role::User)).await.unwrap();
    assert!(granted.has_account());
    assert_eq!(granted.user_key, tracked.user_key, "the pseudonym survives");
    assert_eq!(granted.first_seen_us, tracked.first_seen_us);
    assert_eq!(db.store.user_activity(&granted.user_key).await.unwrap().n_events, 1, "the history survives");

    // An account made before its first event is first seen at that event, and only then.
    let early = db.store.create_account(account("early", Some("early"), None, Role::User)).await.unwrap();
    assert_eq!(early.first_seen_us, None);
    db.store.commit_events(vec![event(2, "early", 5), event(3, "early", 9)].into(), granting()).await.unwrap();
    db.store.commit_events(vec![event(4, "early", 20)].into(), granting()).await.unwrap();
    let seen = db.store.user("early").await.unwrap().unwrap();
    assert_eq!(seen.first_seen_us, Some(event(2, "early", 5).timestamp_us));
    assert!(seen.has_account(), "the account is kept");
}

async fn stores_api_keys_by_hash(db: &TestDb) {
    let key = ApiKeyRecord {
        key_id: "fp_abcd1234".into(),
        key_hash: "hash-1".into(),
        name: "web".into(),
        scopes: vec!["ingest".into()],
        tier: Tier::Enterprise,
        created_at_us: 42,
        revoked_at_us: None,
    };
    db.store.insert_api_key(key.clone()).await.unwrap();
    assert_eq!(db.store.api_key_by_hash("hash-1").await.unwrap(), Some(key));
    assert_eq!(db.store.api_key_by_hash("hash-2").await.unwrap(), None);
}

async fn keeps_the_whole_consent_history(db: &TestDb) {
    assert!(db.store.consent_history("u1").await.unwrap().is_empty());
    let first =
        ConsentRecord { user_id: "u1".into(), consent: Consent::GRANT_ALL, source: "api".into(), recorded_at_us: 1 };
    let second = ConsentRecord {
        consent: Consent { analytics: true, preferences: false, improvement: true },
        recorded_at_us: 2,
        ..first.clone()
    };
    db.store.append_consent(first.clone()).await.unwrap();
    db.store.append_consent(second.clone()).await.unwrap();
    assert_eq!(db.store.consent_history("u1").await.unwrap(), vec![first, second]);
}

async fn collects_nothing_without_analytics_consent(db: &TestDb) {
    let deny = CommitOptions { consent_default: Consent::DENY_ALL, ..granting() };
    let outcomes = db.store.commit_events(vec![event(1, "u", 0), event(2, "u", 1)].into(), deny).await.unwrap();
    assert_eq!(outcomes, vec![EventOutcome::NotCollected, EventOutcome::NotCollected]);
    assert!(db.store.events(all_events(None)).await.unwrap().is_empty());
    assert!(db.store.user("u").await.unwrap().is_none(), "no consent, no user row");

    // A consent carried by an event is recorded and applies from that event on.
    let mut consenting = event(3, "u", 2);
    consenting.consent = Some(Consent { analytics: true, preferences: false, improvement: false });
    let outcomes = db.store.commit_events(vec![consenting, event(4, "u", 3)].into(), deny).await.unwrap();
    assert!(outcomes.iter().all(|o| matches!(o, EventOutcome::Accepted { .. })), "{outcomes:?}");
    let history = db.store.consent_history("u").await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].source, "event_context");

    // A later refusal stops collection even under a granting default.
    db.store
        .append_consent(ConsentRecord {
            user_id: "u".into(),
            consent: Consent::DENY_ALL,
            source: "api".into(),
            recorded_at_us: 9,
        })
        .await
        .unwrap();
    let outcomes = db.store.commit_events(vec![event(5, "u", 4)].into(), granting()).await.unwrap();
    assert_eq!(outcomes, vec![EventOutcome::NotCollected]);
    assert_eq!(db.store.events(all_events(None)).await.unwrap().len(), 2);
}

async fn stores_a_message_id_once(db: &TestDb) {
    let with_message =
        |n, user: &str, message: &str| NewEvent { message_id: Some(message.to_owned()), ..event(n, user, 0) };
    let outcomes = db
        .store
        .commit_events(
            vec![with_message(1, "u", "m1"), with_message(2, "u", "m1"), with_message(3, "v", "m1")].into(),
            granting(),
        )
        .await
        .unwrap();
    assert!(matches!(outcomes[0], EventOutcome::Accepted { .. }));
    assert_eq!(outcomes[1], EventOutcome::Duplicate);
    assert!(matches!(outcomes[2], EventOutcome::Accepted { .. }), "message ids are scoped to a user");
    let outcomes = db
        .store
        .commit_events(vec![with_message(4, "u", "m1"), with_message(5, "u", "m2")].into(), granting())
        .await
        .unwrap();
    assert_eq!(outcomes[0], EventOutcome::Duplicate);
    assert!(matches!(outcomes[1], EventOutcome::Accepted { .. }));
    let stored = db.store.events(all_events(Some("key-u"))).await.unwrap();
    assert_eq!(
        stored.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(),
        vec![event(1, "u", 0).event_id, event(5, "u", 0).event_id]
    );
    assert_eq!(db.store.user_activity("key-u").await.unwrap().n_events, 2, "duplicates are not stored");
}

async fn derives_sessions_and_user_activity(db: &TestDb) {
    let batch = vec![event(1, "u", 0), event(2, "u", 20), event(3, "u", 45)];
    let outcomes = db.store.commit_events(batch.into(), granting()).await.unwrap();
    let sessions: Vec<String> = outcomes
        .iter()
        .map(|o| match o {
            EventOutcome::Accepted { session_id, .. } => session_id.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(sessions, vec![event(1, "u", 0).event_id; 3], "20 and 25 minute gaps stay in one session");
    // The next batch continues from the stored state: a 40-minute gap opens a session, then a given one is kept.
    let given = NewEvent { session_id: Some("client-session".into()), ..event(5, "u", 90) };
    let outcomes = db.store.commit_events(vec![event(4, "u", 85), given].into(), granting()).await.unwrap();
    assert_eq!(
        outcomes[0],
        EventOutcome::Accepted { event_id: event(4, "u", 0).event_id, session_id: event(4, "u", 0).event_id }
    );
    assert_eq!(
        outcomes[1],
        EventOutcome::Accepted { event_id: event(5, "u", 0).event_id, session_id: "client-session".into() }
    );
    let stored = db.store.sessions("key-u").await.unwrap();
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[0].n_events, 3);
    assert_eq!(stored[0].last_us - stored[0].started_us, 45 * MINUTE);
    let activity = db.store.user_activity("key-u").await.unwrap();
    assert_eq!(activity.n_events, 5);
    assert_eq!(activity.last_event_us.unwrap() - activity.first_event_us.unwrap(), 90 * MINUTE);
    assert_eq!(db.store.user("u").await.unwrap().unwrap().first_seen_us, activity.first_event_us);
    // The client's session became current, so the next nearby event continues it.
    let outcomes = db.store.commit_events(vec![event(6, "u", 95)].into(), granting()).await.unwrap();
    assert!(matches!(&outcomes[0], EventOutcome::Accepted { session_id, .. } if session_id == "client-session"));
}

async fn reads_events_with_filters_and_pages(db: &TestDb) {
    let mut batch: Vec<NewEvent> =
        (0..10).map(|n| event(n, if n % 2 == 0 { "even" } else { "odd" }, i64::from(n))).collect();
    batch[3].event_type = "click".into();
    db.store.commit_events(batch.into(), granting()).await.unwrap();

    let odd = db.store.events(all_events(Some("key-odd"))).await.unwrap();
    assert_eq!(odd.len(), 5);
    assert!(odd.iter().all(|e| e.user_id == "odd"));
    let first = &odd[0];
    let properties: serde_json::Value = serde_json::from_str(&first.properties).unwrap();
    assert_eq!(properties, serde_json::json!({"n": 1, "page": "/p/1", "label": "é \"quoted\""}));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&first.context).unwrap(),
        serde_json::json!({"ip": "10.0.0.0"})
    );

    let clicks = EventQuery { event_type: Some("click".into()), ..all_events(None) };
    assert_eq!(db.store.events(clicks).await.unwrap().len(), 1);
    let base = 1_700_000_000_000_000;
    let window = EventQuery { from_us: Some(base + 2 * MINUTE), to_us: Some(base + 5 * MINUTE), ..all_events(None) };
    let in_window: Vec<i64> =
        db.store.events(window).await.unwrap().iter().map(|e| (e.timestamp_us - base) / MINUTE).collect();
    assert_eq!(in_window, vec![2, 3, 4], "from is inclusive, to exclusive");

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = db.store.events(EventQuery { limit: 3, after, ..all_events(None) }).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(EventPosition { timestamp_us: last.timestamp_us, seq: last.seq });
        seen.extend(page.iter().map(|e| e.event_id.clone()));
    }
    let expected: Vec<String> = (0..10).map(|n| event(n, "", 0).event_id).collect();
    assert_eq!(seen, expected, "pages cover every event once, in time order");
}

async fn survives_concurrent_batches_for_the_same_users(db: &TestDb) {
    let mut tasks = Vec::new();
    for worker in 0..8u32 {
        let store = Arc::clone(&db.store);
        tasks.push(tokio::spawn(async move {
            let batch: Vec<NewEvent> = (0..50u32)
                .map(|n| NewEvent {
                    event_id: format!("01W{worker:02}N{n:020}"),
                    message_id: Some(format!("m{n}")),
                    ..event(n, &format!("user{}", n % 5), i64::from(n))
                })
                .collect();
            store.commit_events(batch.into(), granting()).await.unwrap()
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        accepted += task.await.unwrap().iter().filter(|o| matches!(o, EventOutcome::Accepted { .. })).count();
    }
    assert_eq!(accepted, 50, "each (user, message_id) is accepted by exactly one batch");
    let stored = db.store.events(all_events(None)).await.unwrap();
    let distinct: HashSet<_> = stored.iter().map(|e| (e.user_id.clone(), e.message_id.clone())).collect();
    assert_eq!((stored.len(), distinct.len()), (50, 50));
    let mut total = 0;
    for n in 0..5 {
        assert!(db.store.user(&format!("user{n}")).await.unwrap().is_some(), "each user is created once");
        total += db.store.user_activity(&format!("key-user{n}")).await.unwrap().n_events;
    }
    assert_eq!(total, 50);
}

async fn keeps_everything_across_a_reopen(db: &TestDb) {
    db.store.create_account(account("alice", Some("alice"), None, Role::Admin)).await.unwrap();
    db.store.commit_events(vec![event(1, "u", 0)].into(), granting()).await.unwrap();
    let secret = db.store.secret("k", "v".into()).await.unwrap();
    let reopened = db.reopen().await;
    assert!(reopened.user("alice").await.unwrap().is_some());
    assert_eq!(reopened.events(all_events(None)).await.unwrap().len(), 1);
    assert_eq!(reopened.secret("k", "other".into()).await.unwrap(), secret);
}

async fn keeps_an_audit_log(db: &TestDb) {
    for (n, action) in ["login", "user.create"].into_iter().enumerate() {
        db.store
            .record_audit(AuditEntry {
                at_us: n as i64,
                action: action.into(),
                actor: Some("alice".into()),
                subject: None,
                outcome: "success".into(),
                detail: "{}".into(),
            })
            .await
            .unwrap();
    }
    let log = db.store.audit_log(10).await.unwrap();
    assert_eq!(log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), vec!["user.create", "login"]);
}

async fn counts_login_attempts_per_login_and_network(db: &TestDb) {
    let pair = |login: &str, network: &str| LoginPair { login_key: login.to_owned(), network: network.to_owned() };
    let (here, elsewhere) = (pair("key-alice", "192.0.2.0"), pair("key-alice", "198.51.100.0"));
    let counted = |attempts, lockouts| LoginAttempt::Counted { attempts, lockouts };

    // Attempts are counted one by one, even when they race.
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (store, here) = (Arc::clone(&db.store), here.clone());
        tasks.push(tokio::spawn(async move { store.count_login_attempt(&here, 100).await.unwrap() }));
    }
    let mut numbers: Vec<i64> = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            LoginAttempt::Counted { attempts, lockouts: 0 } => numbers.push(attempts),
            other => panic!("not locked yet: {other:?}"),
        }
    }
    numbers.sort_unstable();
    assert_eq!(numbers, vec![1, 2, 3, 4, 5, 6]);

    // A lock holds back this login from this network only, and is taken once.
    assert!(db.store.lock_login(&here, 500, 100).await.unwrap());
    assert!(!db.store.lock_login(&here, 900, 101).await.unwrap(), "already locked");
    assert_eq!(db.store.count_login_attempt(&here, 499).await.unwrap(), LoginAttempt::Locked { until_us: 500 });
    assert_eq!(db.store.count_login_attempt(&elsewhere, 499).await.unwrap(), counted(1, 0));
    assert_eq!(db.store.count_login_attempt(&pair("key-bob", "192.0.2.0"), 499).await.unwrap(), counted(1, 0));
    // Once it has passed, attempts start over and the lock is remembered.
    assert_eq!(db.store.count_login_attempt(&here, 500).await.unwrap(), counted(1, 1));
    assert!(db.store.lock_login(&here, 1_000, 500).await.unwrap());
    assert_eq!(db.store.count_login_attempt(&here, 1_000).await.unwrap(), counted(1, 2));
    // A success forgets both.
    db.store.clear_login_attempts(&here).await.unwrap();
    assert_eq!(db.store.count_login_attempt(&here, 1_100).await.unwrap(), counted(1, 0));
    db.store.clear_login_attempts(&pair("nobody", "192.0.2.0")).await.unwrap();

    // Pairs quiet since before a time are forgotten.
    assert_eq!(db.store.expire_login_attempts(1_000).await.unwrap(), 2, "elsewhere and bob, last seen at 499");
    assert_eq!(db.store.count_login_attempt(&elsewhere, 1_200).await.unwrap(), counted(1, 0));
    assert_eq!(db.store.count_login_attempt(&here, 1_200).await.unwrap(), counted(2, 0), "kept");
}

async fn gives_a_late_event_the_session_stored_before_it(db: &TestDb) {
    let outcomes = db
        .store
        .commit_events(vec![event(1, "u", 0), event(2, "u", 20), event(3, "u", 200)].into(), granting())
        .await
        .unwrap();
    let session_of = |outcome: &EventOutcome| match outcome {
        EventOutcome::Accepted { session_id, .. } => session_id.clone(),
        other => panic!("{other:?}"),
    };
    let morning = session_of(&outcomes[0]);
    assert_eq!(session_of(&outcomes[1]), morning);
    assert_ne!(session_of(&outcomes[2]), morning);
    // 45 minutes is 25 after a stored event of the first session; 120 is far from everything.
    let late = db.store.commit_events(vec![event(4, "u", 45), event(5, "u", 120)].into(), granting()).await.unwrap();
    assert_eq!(session_of(&late[0]), morning);
    assert_eq!(session_of(&late[1]), event(5, "u", 0).event_id);
}

async fn ignores_a_consent_older_than_the_recorded_one(db: &TestDb) {
    let withdrawal = ConsentRecord {
        user_id: "u".into(),
        consent: Consent::DENY_ALL,
        source: "api".into(),
        recorded_at_us: event(0, "u", 60).timestamp_us,
    };
    db.store.append_consent(withdrawal).await.unwrap();
    let mut queued_offline = event(1, "u", 10);
    queued_offline.consent = Some(Consent::GRANT_ALL);
    let outcomes = db.store.commit_events(vec![queued_offline, event(2, "u", 70)].into(), granting()).await.unwrap();
    assert_eq!(outcomes, vec![EventOutcome::NotCollected, EventOutcome::NotCollected]);
    assert_eq!(db.store.consent_history("u").await.unwrap().len(), 1, "the stale consent was not recorded");
    let mut renewed = event(3, "u", 80);
    renewed.consent = Some(Consent::GRANT_ALL);
    let outcomes = db.store.commit_events(vec![renewed].into(), granting()).await.unwrap();
    assert!(matches!(outcomes[0], EventOutcome::Accepted { .. }), "a newer consent counts");
    let history = db.store.consent_history("u").await.unwrap();
    assert_eq!(history.last().unwrap().recorded_at_us, event(3, "u", 80).timestamp_us);
}

async fn pages_users_and_finds_them_by_part_of_their_id_or_name(db: &TestDb) {
    for (id, name) in [("u_03", Some("Carol")), ("u_01", Some("alice")), ("u%02", None), ("x_04", Some("dave"))] {
        db.store.create_account(account(id, name, None, Role::User)).await.unwrap();
    }
    db.store.commit_events(vec![event(1, "tracked-only", 0)].into(), granting()).await.unwrap();
    let page = |search: Option<&str>, after: Option<&str>, limit: u32| {
        let query = UserPageQuery { search: search.map(str::to_owned), after_user_id: after.map(str::to_owned), limit };
        let store = db.store.clone();
        async move { store.users_page(query).await.unwrap().into_iter().map(|u| u.user_id).collect::<Vec<_>>() }
    };
    assert_eq!(page(None, None, 10).await, ["tracked-only", "u%02", "u_01", "u_03", "x_04"]);
    assert_eq!(page(None, None, 2).await, ["tracked-only", "u%02"]);
    assert_eq!(page(None, Some("u%02"), 2).await, ["u_01", "u_03"], "the next page starts after the last id");
    assert_eq!(page(Some("CAROL"), None, 10).await, ["u_03"], "usernames match whatever their case");
    assert_eq!(page(Some("_0"), None, 10).await, ["u_01", "u_03", "x_04"], "_ is a character, not a wildcard");
    assert_eq!(page(Some("%"), None, 10).await, ["u%02"], "% is a character, not a wildcard");
    assert!(page(Some("zzz"), None, 10).await.is_empty());
}

async fn counts_each_users_latest_consent(db: &TestDb) {
    assert_eq!(db.store.consent_totals().await.unwrap(), ConsentTotals::default());
    let consent = |user: &str, analytics: bool, preferences: bool, at: i64| ConsentRecord {
        user_id: user.to_owned(),
        consent: Consent { analytics, preferences, improvement: false },
        source: "api".to_owned(),
        recorded_at_us: at,
    };
    for record in [consent("a", true, true, 1), consent("a", true, false, 2), consent("b", false, true, 3)] {
        db.store.append_consent(record).await.unwrap();
    }
    assert_eq!(
        db.store.consent_totals().await.unwrap(),
        ConsentTotals { users: 2, analytics: 1, preferences: 1, improvement: 0 },
        "only each user's latest consent counts"
    );
}
