//! Erasure and anonymisation: nothing that names the user or their pseudonym is left.

use super::records::{assignment, attendance_event, registration, run};
use super::*;

pub(super) async fn footprint_of(db: &TestDb, user: &str, other: &str) {
    db.store
        .create_account(account(user, Some(&format!("{user}-name")), Some(&format!("{user}@mail")), Role::User))
        .await
        .unwrap();
    for who in [user, other] {
        db.store
            .append_consent(ConsentRecord {
                user_id: who.to_owned(),
                consent: Consent::GRANT_ALL,
                source: "test".to_owned(),
                recorded_at_us: 1,
            })
            .await
            .unwrap();
    }
    db.store.update_profile(user, &format!("enc-profile-of-{user}"), user, 3).await.unwrap();
    let upgrade = GrantChange {
        role: None,
        tier: Some(Tier::Premium),
        new_generation: 8,
        changed_by: user.to_owned(),
        now_us: 3,
    };
    assert!(db.store.update_grants(user, upgrade).await.unwrap());
    let mfa = MfaRecord {
        user_id: user.to_owned(),
        secret_enc: format!("enc-secret-of-{user}"),
        active: true,
        last_step: 1,
        recovery_hashes: vec![format!("recovery-of-{user}")],
        created_at_us: 3,
    };
    db.store.put_mfa(mfa).await.unwrap();
    db.store.put_mfa_code(user, &format!("code-of-{user}"), 99).await.unwrap();
    let message = OutboxMessage {
        id: 0,
        user_id: user.to_owned(),
        channel: "email".to_owned(),
        recipient_enc: format!("enc({user}@mail)"),
        subject: "Your sign-in code".to_owned(),
        body_enc: format!("enc(code for {user})"),
        created_at_us: 3,
    };
    db.store.append_outbox(message).await.unwrap();
    let login = LoginRecord {
        user_id: user.to_owned(),
        at_us: 3,
        network: "192.0.2.0".to_owned(),
        device: format!("device-of-{user}"),
        hour: 9,
        outcome: "success".to_owned(),
        score: 0.0,
        reasons: vec![format!("first login of {user}")],
    };
    db.store.record_login(login).await.unwrap();
    // Failed logins, counted under the account's pseudonym.
    let login = LoginPair { login_key: format!("key-{user}"), network: "192.0.2.0".to_owned() };
    db.store.count_login_attempt(&login, 3).await.unwrap();
    db.store.upsert_attendance_event(attendance_event("class-1", 10)).await.unwrap();
    db.store.upsert_registration(registration("class-1", user, Some(true))).await.unwrap();
    let mut batch = vec![event(1, user, 0), event(2, user, 1), event(3, other, 2)];
    batch[0].message_id = Some("msg-1".to_owned());
    db.store.commit_events(batch.into(), granting()).await.unwrap();
    // The user (say, an admin) changed another user's declared profile.
    db.store.update_profile(other, "enc-profile-of-other", user, 4).await.unwrap();
    let state = |key: &str| SequenceStateRecord {
        user_key: key.to_owned(),
        recent: "a".to_owned(),
        last_us: Some(1),
        previous_us: None,
        n_actions: 2,
    };
    let key = format!("key-{user}");
    let batch = SequenceBatch {
        processor: "sequences".to_owned(),
        expected_watermark: 0,
        new_watermark: 3,
        deltas: vec![delta("", "a", "b", 2), delta(&key, "a", "b", 2), delta(&format!("key-{other}"), "a", "c", 1)],
        states: vec![state(&key), state(&format!("key-{other}"))],
        profiles: vec![ProfileStateRecord {
            user_key: key.clone(),
            state: "{\"events\": 2}".to_owned(),
            updated_at_us: 5,
        }],
        day_counts: vec![DailyTypeCount { day_us: 0, event_type: "page_view".to_owned(), events: 3 }],
        active_days: [&key, &format!("key-{other}")]
            .into_iter()
            .map(|user_key| ActiveDays { user_key: user_key.clone(), period: 0, days: 1 })
            .collect(),
        user_days: vec![UserDay {
            user_key: key.clone(),
            day: 0,
            events: 3,
            sessions: 1,
            session_seconds: 60.0,
            amount: 9.5,
            first_seen_us: None,
        }],
        now_us: 5,
    };
    assert!(db.store.commit_sequence_batch(batch).await.unwrap());
    let usage = RequestUsage { caller_key: key.clone(), hour_us: 0, requests: 3, limited: 1 };
    db.store.add_request_usage(vec![usage]).await.unwrap();
    db.store
        .save_cluster_run(run("r1", 4), vec![assignment(&key, 0, 0.1), assignment(&format!("key-{other}"), 1, 0.2)])
        .await
        .unwrap();
    for (actor, subject) in [(Some(user), Some(user)), (Some("admin"), Some(user)), (Some(other), None)] {
        db.store
            .record_audit(AuditEntry {
                at_us: 7,
                action: "consent.change".to_owned(),
                actor: actor.map(str::to_owned),
                subject: subject.map(str::to_owned),
                outcome: "success".to_owned(),
                detail: format!(r#"{{"username": "{user}-name"}}"#),
            })
            .await
            .unwrap();
    }
    // Another user whose id merely starts with this one's: scrubbing must leave it whole.
    db.store
        .record_audit(AuditEntry {
            at_us: 8,
            action: "login".to_owned(),
            actor: Some(other.to_owned()),
            subject: None,
            outcome: "success".to_owned(),
            detail: format!(r#"{{"peer": "{user}0"}}"#),
        })
        .await
        .unwrap();
}

/// Rows naming the user, leaving out the audit entry about the user whose id extends theirs.
async fn rows_naming(db: &TestDb, user: &str) -> Vec<(String, String)> {
    let longer = format!("{user}0");
    rows_mentioning(db, user).await.into_iter().filter(|(_, row)| !row.contains(&longer)).collect()
}

/// The detail of that audit entry, which must come out of erasure unchanged.
async fn peer_detail(db: &TestDb) -> Option<String> {
    db.store.audit_log(20).await.unwrap().into_iter().find(|e| e.action == "login").map(|e| e.detail)
}

pub(super) async fn rows_mentioning(db: &TestDb, needle: &str) -> Vec<(String, String)> {
    every_row(&db.location).await.unwrap().into_iter().filter(|(_, row)| row.contains(needle)).collect()
}

/// The erasure of `user_id` as the service asks for it (its key, tombstone and scrubbed name
/// derived from the id).
fn erasure(user_id: &str, now_us: i64) -> Erasure {
    Erasure {
        user_id: user_id.to_owned(),
        user_key: format!("key-{user_id}"),
        tombstone: format!("tomb-{user_id}"),
        scrub: vec![user_id.to_owned()],
        replacement: "erased-user".to_owned(),
        now_us,
    }
}

pub(super) async fn erases_every_trace_of_a_user(db: &TestDb) {
    footprint_of(db, "erase-me-4242", "keep-me-1717").await;
    assert!(!rows_naming(db, "erase-me-4242").await.is_empty(), "the fixture is found before");
    let change = db
        .store
        .erase_user(Erasure {
            user_id: "erase-me-4242".to_owned(),
            user_key: "key-erase-me-4242".to_owned(),
            tombstone: "tomb-1".to_owned(),
            scrub: vec!["erase-me-4242".to_owned(), "erase-me-4242-name".to_owned()],
            replacement: "erased-user".to_owned(),
            now_us: 99,
        })
        .await
        .unwrap();
    assert_eq!(
        change,
        IdentityChange { account: true, events: 2, consents: 1, derived_rows: 6, audit_entries: 3 },
        "the state, the user's own counts, the profile, the cluster assignment, the active days and the day's activity; three audit entries name the user"
    );
    let left = rows_naming(db, "erase-me-4242").await;
    assert!(left.is_empty(), "found after erasure: {left:?}");
    assert_eq!(peer_detail(db).await.as_deref(), Some(r#"{"peer": "erase-me-42420"}"#));
    let versions = db.store.profile_versions("keep-me-1717").await.unwrap();
    assert_eq!(versions.iter().map(|v| v.changed_by.as_str()).collect::<Vec<_>>(), ["erased-user"]);
    assert!(db.store.registrations(&["class-1".into()]).await.unwrap().is_empty());
    assert!(db.store.user("erase-me-4242").await.unwrap().is_none());
    assert!(db.store.consent_history("erase-me-4242").await.unwrap().is_empty());
    // The other user and the shared counts are untouched.
    assert_eq!(db.store.events(all_events(Some("key-keep-me-1717"))).await.unwrap().len(), 1);
    assert_eq!(db.store.consent_history("keep-me-1717").await.unwrap().len(), 1);
    assert_eq!(db.store.sequence_counts(&[(String::new(), "a".into())]).await.unwrap(), vec![delta("", "a", "b", 2)]);
    assert_eq!(db.store.sequence_states(&["key-keep-me-1717".into()]).await.unwrap().len(), 1);
    assert_eq!(
        db.store.audit_log(10).await.unwrap().iter().filter(|e| e.actor.as_deref() == Some("keep-me-1717")).count(),
        2,
        "the other user's two entries keep their actor"
    );

    assert_eq!(db.store.erased_among(&["tomb-1".into(), "tomb-2".into()]).await.unwrap(), ["tomb-1"]);
    db.store.clear_tombstone("tomb-1").await.unwrap();
    assert!(db.store.erased_among(&["tomb-1".into()]).await.unwrap().is_empty());
}

pub(super) async fn anonymizes_a_user_and_keeps_their_events(db: &TestDb) {
    footprint_of(db, "hide-me-5151", "keep-me-1717").await;
    let change = db
        .store
        .anonymize_user(Anonymization {
            user_id: "hide-me-5151".to_owned(),
            user_key: "key-hide-me-5151".to_owned(),
            new_user_id: "anonymous-x1".to_owned(),
            new_user_key: "key-anonymous-x1".to_owned(),
            scrub: vec!["hide-me-5151".to_owned(), "hide-me-5151-name".to_owned()],
            now_us: 99,
        })
        .await
        .unwrap();
    assert_eq!((change.account, change.events, change.consents, change.derived_rows), (true, 2, 1, 6));
    let days = db.store.user_days("key-anonymous-x1", 0).await.unwrap();
    assert_eq!(days.iter().map(|d| (d.day, d.events)).collect::<Vec<_>>(), [(0, 3)], "the activity moved");
    assert!(db.store.request_usage("key-hide-me-5151", 0).await.unwrap().is_empty(), "an account's usage goes");
    assert_eq!(db.store.profile_states(&["key-anonymous-x1".into()]).await.unwrap().len(), 1);
    let left = rows_naming(db, "hide-me-5151").await;
    assert!(left.is_empty(), "found after anonymisation: {left:?}");
    assert_eq!(peer_detail(db).await.as_deref(), Some(r#"{"peer": "hide-me-51510"}"#));
    let versions = db.store.profile_versions("keep-me-1717").await.unwrap();
    assert_eq!(versions.iter().map(|v| v.changed_by.as_str()).collect::<Vec<_>>(), ["anonymous-x1"]);
    let registrations = db.store.registrations(&["class-1".into()]).await.unwrap();
    assert_eq!(registrations.iter().map(|r| r.user_id.as_str()).collect::<Vec<_>>(), ["anonymous-x1"]);
    let moved = db.store.events(all_events(Some("key-anonymous-x1"))).await.unwrap();
    assert_eq!(moved.len(), 2);
    assert!(moved.iter().all(|event| event.user_id == "anonymous-x1"));
    let counts = db.store.sequence_counts(&[("key-anonymous-x1".into(), "a".into())]).await.unwrap();
    assert_eq!(counts, vec![delta("key-anonymous-x1", "a", "b", 2)]);
    assert_eq!(db.store.count_users().await.unwrap().users, 2, "the anonymous user still counts");
}

/// The token generation is the account's: none for a tracked-only user, gone with erasure and
/// anonymisation, and a new account under the same id has the one it was created with.
pub(super) async fn ends_token_generations_with_the_account(db: &TestDb) {
    db.store.create_account(account("gen-user", Some("gen-user"), None, Role::User)).await.unwrap();
    assert_eq!(db.store.token_generation("gen-user").await.unwrap(), Some(7));
    assert_eq!(db.store.user("gen-user").await.unwrap().unwrap().token_generation, 7);
    db.store.commit_events(vec![event(1, "tracked-only", 0)].into(), granting()).await.unwrap();
    assert!(db.store.user("tracked-only").await.unwrap().is_some());
    assert_eq!(db.store.token_generation("tracked-only").await.unwrap(), None, "no account, no tokens");
    assert_eq!(db.store.token_generation("nobody").await.unwrap(), None);

    // Renewed (tokens revoked): only accounts have one to renew.
    assert!(db.store.renew_token_generation("gen-user", 70).await.unwrap());
    assert_eq!(db.store.token_generation("gen-user").await.unwrap(), Some(70));
    assert!(!db.store.renew_token_generation("tracked-only", 71).await.unwrap(), "no account");
    assert_eq!(db.store.token_generation("tracked-only").await.unwrap(), None);
    assert!(!db.store.renew_token_generation("nobody", 72).await.unwrap());
    db.store.erase_user(erasure("gen-user", 50)).await.unwrap();
    assert_eq!(db.store.token_generation("gen-user").await.unwrap(), None, "erased");
    assert!(!db.store.renew_token_generation("gen-user", 73).await.unwrap(), "an erased account stays without tokens");
    let again = NewAccount { token_generation: 8, ..account("gen-user", Some("gen-user"), None, Role::User) };
    db.store.create_account(again).await.unwrap();
    assert_eq!(db.store.token_generation("gen-user").await.unwrap(), Some(8), "the new account's own");

    // A tracked user granted an account takes the generation given with it.
    let granted = NewAccount { token_generation: 9, ..account("tracked-only", Some("tracked"), None, Role::User) };
    db.store.create_account(granted).await.unwrap();
    assert_eq!(db.store.token_generation("tracked-only").await.unwrap(), Some(9));
    db.store
        .anonymize_user(Anonymization {
            user_id: "tracked-only".to_owned(),
            user_key: "key-tracked-only".to_owned(),
            new_user_id: "anonymous-g1".to_owned(),
            new_user_key: "key-anonymous-g1".to_owned(),
            scrub: vec!["tracked-only".to_owned()],
            now_us: 60,
        })
        .await
        .unwrap();
    assert_eq!(db.store.token_generation("tracked-only").await.unwrap(), None, "anonymised");
    assert_eq!(db.store.token_generation("anonymous-g1").await.unwrap(), None, "the new identity has no account");
}

fn link(anonymous: &str, user: &str, at_us: i64) -> IdentityLink {
    IdentityLink {
        anonymous_key: format!("key-{anonymous}"),
        anonymous_id: anonymous.to_owned(),
        user_id: user.to_owned(),
        linked_at_us: at_us,
    }
}

pub(super) async fn links_identities_and_forgets_moved_events(db: &TestDb) {
    let events = vec![event(1, "anon-1", 0), event(2, "anon-1", 1), event(3, "ada", 2), event(4, "anon-1", 3)];
    db.store.commit_events(events.into(), granting()).await.unwrap();
    let known = db.store.user_ids_of(&["key-ada".to_owned(), "key-nobody".to_owned()]).await.unwrap();
    assert_eq!(known, [("key-ada".to_owned(), "ada".to_owned())]);
    db.store.link_identity(link("anon-1", "ada", 10)).await.unwrap();
    let keys = ["key-anon-1".to_owned(), "key-nobody".to_owned()];
    assert_eq!(db.store.identity_links(&keys).await.unwrap(), vec![link("anon-1", "ada", 10)]);
    // The latest link wins.
    db.store.link_identity(link("anon-1", "bob", 20)).await.unwrap();
    assert_eq!(db.store.identity_links(&keys).await.unwrap(), vec![link("anon-1", "bob", 20)]);
    assert!(db.store.identity_links(&[]).await.unwrap().is_empty());

    // Forgetting up to a seq leaves the anonymous id's later events and everyone else's.
    let anonymous = db.store.events(all_events(Some("key-anon-1"))).await.unwrap();
    let second = anonymous.iter().find(|event| event.event_id.ends_with("2")).unwrap().seq;
    assert_eq!(db.store.forget_moved_events("key-anon-1", second, Vec::new()).await.unwrap(), 2);
    let left: Vec<String> =
        db.store.events(all_events(Some("key-anon-1"))).await.unwrap().into_iter().map(|e| e.event_id).collect();
    assert_eq!(left, [event(4, "anon-1", 3).event_id]);
    assert_eq!(db.store.events(all_events(Some("key-ada"))).await.unwrap().len(), 1);

    // The links go with an erased user.
    db.store.erase_user(erasure("bob", 30)).await.unwrap();
    assert!(db.store.identity_links(&keys).await.unwrap().is_empty());
}

fn hook(id: &str, from_seq: i64) -> WebhookRecord {
    WebhookRecord {
        webhook_id: id.to_owned(),
        url: "https://receiver.example/hooks".to_owned(),
        kinds: vec!["event".to_owned()],
        event_types: vec!["purchase".to_owned()],
        secret_enc: "enc(secret)".to_owned(),
        from_seq,
        churn_threshold: None,
        created_by: "admin".to_owned(),
        created_at_us: 10,
    }
}

fn delivery(webhook_id: &str, user: Option<&str>, at_us: i64) -> NewDelivery {
    NewDelivery {
        webhook_id: webhook_id.to_owned(),
        kind: "event".to_owned(),
        user_id: user.map(str::to_owned),
        payload: format!(r#"{{"user": {user:?}}}"#),
        created_at_us: at_us,
    }
}

pub(super) async fn keeps_webhooks_and_their_outbox(db: &TestDb) {
    assert_eq!(db.store.webhook_watermark().await.unwrap(), None);
    db.store.create_webhook(hook("wh_1", 5)).await.unwrap();
    db.store.create_webhook(hook("wh_2", 9)).await.unwrap();
    assert_eq!(db.store.webhooks().await.unwrap(), vec![hook("wh_1", 5), hook("wh_2", 9)]);
    assert_eq!(db.store.webhook_watermark().await.unwrap(), Some(5), "dispatch starts at the first webhook");

    // The watermark moves with the deliveries, once.
    let queued =
        vec![delivery("wh_1", Some("ada"), 100), delivery("wh_1", None, 100), delivery("wh_2", Some("bob"), 100)];
    assert!(db.store.queue_deliveries(Some((5, 12)), queued.clone()).await.unwrap());
    assert!(!db.store.queue_deliveries(Some((5, 12)), queued).await.unwrap(), "another node moved it");
    assert_eq!(db.store.webhook_watermark().await.unwrap(), Some(12));

    // Claimed once while leased; due again after a pending attempt's delay.
    let claimed = db.store.claim_deliveries(100, 200, 2).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let rest = db.store.claim_deliveries(150, 250, 10).await.unwrap();
    assert_eq!(rest.len(), 1, "the leased ones are not taken again");
    let first = claimed[0].delivery_id;
    let attempt = |n: i64, code: Option<i64>| DeliveryAttempt {
        delivery_id: first,
        attempt: n,
        at_us: 160 + n,
        status_code: code,
        error: code.is_none_or(|code| code >= 300).then(|| "refused".to_owned()),
        duration_ms: 3,
    };
    let pending = DeliveryOutcome { status: "pending".to_owned(), next_attempt_us: 300 };
    db.store.record_attempt(attempt(1, None), pending).await.unwrap();
    // At 299 the third one's lease has passed (it is due again), the first is not due yet.
    let early = db.store.claim_deliveries(299, 400, 10).await.unwrap();
    assert!(early.iter().all(|d| d.delivery_id != first), "not due before its retry");
    let due: Vec<i64> = db.store.claim_deliveries(300, 400, 10).await.unwrap().iter().map(|d| d.delivery_id).collect();
    assert_eq!(due, [first]);
    let delivered = DeliveryOutcome { status: "delivered".to_owned(), next_attempt_us: 305 };
    db.store.record_attempt(attempt(2, Some(200)), delivered).await.unwrap();
    assert!(db.store.claim_deliveries(10_000, 10_100, 10).await.unwrap().iter().all(|d| d.delivery_id != first));

    let listed = db.store.deliveries(DeliveriesOf::Webhook("wh_1".into()), 10).await.unwrap();
    assert_eq!(listed.len(), 2);
    let done = listed.iter().find(|d| d.delivery_id == first).unwrap();
    assert_eq!((done.status.as_str(), done.attempts, done.done_at_us), ("delivered", 2, Some(162)));
    assert_eq!(done.log, vec![attempt(1, None), attempt(2, Some(200))]);

    // A user's deliveries, for their privacy export: ada's one, not bob's nor the one without a user.
    let adas = db.store.deliveries(DeliveriesOf::User("ada".into()), 10).await.unwrap();
    assert_eq!(adas.len(), 1);
    assert_eq!((adas[0].webhook_id.as_str(), adas[0].user_id.as_deref()), ("wh_1", Some("ada")));
    // Erasure takes the user's deliveries; deleting a webhook takes its own.
    db.store.erase_user(erasure("ada", 500)).await.unwrap();
    assert_eq!(db.store.deliveries(DeliveriesOf::Webhook("wh_1".into()), 10).await.unwrap().len(), 1);
    assert!(db.store.deliveries(DeliveriesOf::User("ada".into()), 10).await.unwrap().is_empty());
    assert!(db.store.delete_webhook("wh_2").await.unwrap());
    assert!(!db.store.delete_webhook("wh_2").await.unwrap());
    assert!(db.store.deliveries(DeliveriesOf::Webhook("wh_2".into()), 10).await.unwrap().is_empty());
}

fn mark(webhook_id: &str, subject: &str, state: &str, user: Option<&str>) -> WebhookMark {
    WebhookMark {
        webhook_id: webhook_id.to_owned(),
        subject: subject.to_owned(),
        state: state.to_owned(),
        user_id: user.map(str::to_owned),
        at_us: 50,
    }
}

pub(super) async fn marks_what_each_webhook_was_told_once(db: &TestDb) {
    let churn = WebhookRecord { churn_threshold: Some(0.6), ..hook("wh_c", 0) };
    db.store.create_webhook(churn.clone()).await.unwrap();
    db.store.create_webhook(hook("wh_o", 0)).await.unwrap();
    assert_eq!(db.store.webhooks().await.unwrap(), vec![churn, hook("wh_o", 0)], "the threshold is kept");
    let told = |subject: &str, state: &str, user: Option<&str>| {
        (mark("wh_c", subject, state, user), Some(delivery("wh_c", user, 60)))
    };
    // New subjects are stored and announced; one without a delivery is only stored.
    let first = vec![
        told("churn:key-ada", "above", Some("ada")),
        (mark("wh_c", "churn:key-bob", "below", Some("bob")), None),
        (mark("wh_o", "anomaly:1", "found", None), Some(delivery("wh_o", None, 60))),
    ];
    assert_eq!(db.store.mark_and_queue(first.clone()).await.unwrap(), 2);
    // The same marks again (another node, the next round): nothing new is queued.
    assert_eq!(db.store.mark_and_queue(first).await.unwrap(), 0);
    assert_eq!(db.store.mark_and_queue(Vec::new()).await.unwrap(), 0);
    let marks = db.store.webhook_marks("wh_c").await.unwrap();
    assert_eq!(marks.get("churn:key-ada").map(String::as_str), Some("above"));
    assert_eq!(marks.get("churn:key-bob").map(String::as_str), Some("below"));
    assert_eq!(marks.len(), 2);
    // A changed state is announced once.
    let crossing = vec![told("churn:key-bob", "above", Some("bob")), told("churn:key-ada", "above", Some("ada"))];
    assert_eq!(db.store.mark_and_queue(crossing.clone()).await.unwrap(), 1);
    assert_eq!(db.store.mark_and_queue(crossing).await.unwrap(), 0);
    assert_eq!(db.store.deliveries(DeliveriesOf::Webhook("wh_c".into()), 10).await.unwrap().len(), 2);
    // Erasure takes the user's marks; deleting a webhook takes its own.
    db.store.erase_user(erasure("bob", 70)).await.unwrap();
    let marks = db.store.webhook_marks("wh_c").await.unwrap();
    assert_eq!(marks.keys().collect::<Vec<_>>(), ["churn:key-ada"]);
    assert!(db.store.delete_webhook("wh_o").await.unwrap());
    assert!(db.store.webhook_marks("wh_o").await.unwrap().is_empty());
}
