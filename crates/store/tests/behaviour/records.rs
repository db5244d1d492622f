//! Retention, the model registry, profile versions, segmentation runs and attendance records.

use super::*;

pub(super) fn typed(mut event: NewEvent, event_type: &str) -> NewEvent {
    event.event_type = event_type.to_owned();
    event
}

pub(super) async fn expires_exactly_the_selected_events_and_keeps_their_aggregates(db: &TestDb) {
    // minutes 0..6: page views at 0, 1, 2; matches at 3, 4; a click at 5.
    let batch: Vec<NewEvent> = vec![
        event(1, "ana", 0),
        event(2, "ana", 1),
        event(3, "bob", 2),
        typed(event(4, "ana", 3), "match_proposed"),
        typed(event(5, "bob", 4), "match_decision"),
        typed(event(6, "bob", 5), "click"),
    ];
    db.store.commit_events(batch.into(), granting()).await.unwrap();
    let at = |minute: i64| 1_700_000_000_000_000 + minute * MINUTE;
    let max_seq = db.store.max_event_seq().await.unwrap();

    // Everything but match events before minute 2 (only page views 1 and 2), nothing folded.
    let deleted = db
        .store
        .expire_events(EventExpiry {
            types: TypeSelector::AllExcept(vec!["match_proposed".to_owned(), "match_decision".to_owned()]),
            before_us: at(2),
            up_to_seq: max_seq,
            aggregates: Vec::new(),
        })
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    // Match events before minute 4 among those that had arrived: only the proposal; its aggregate stays.
    let aggregate = MetricAggregate {
        kind: "match".to_owned(),
        day_us: at(0),
        stats: r#"{"proposed":1}"#.to_owned(),
        created_at_us: 9,
    };
    let deleted = db
        .store
        .expire_events(EventExpiry {
            types: TypeSelector::Only(vec!["match_proposed".to_owned(), "match_decision".to_owned()]),
            before_us: at(5),
            up_to_seq: max_seq - 2,
            aggregates: vec![aggregate.clone()],
        })
        .await
        .unwrap();
    assert_eq!(deleted, 1, "the decision arrived after up_to_seq");
    let left: Vec<String> =
        db.store.events(all_events(None)).await.unwrap().into_iter().map(|event| event.properties).collect();
    assert_eq!(left.len(), 3);
    for n in [3, 5, 6] {
        assert!(left.iter().any(|properties| properties.contains(&format!(r#""n": {n}"#))), "event {n} kept");
    }
    assert_eq!(db.store.metric_aggregates("match", at(0)).await.unwrap(), vec![aggregate]);
    assert!(db.store.metric_aggregates("match", at(1)).await.unwrap().is_empty());
    assert!(db.store.metric_aggregates("other", 0).await.unwrap().is_empty());
}

pub(super) fn model(id: &str, name: &str, status: &str, created_at_us: i64) -> ModelRecord {
    ModelRecord {
        hyperparameters: r#"{"l2":1.0}"#.to_owned(),
        ..ModelRecord::registered(id, name, "logistic_regression", status, created_at_us)
    }
}

pub(super) async fn numbers_model_versions_and_filters_the_registry(db: &TestDb) {
    let first = db.store.create_model(model("m1", "match_optimizer", "ready", 1)).await.unwrap();
    let second = db.store.create_model(model("m2", "match_optimizer", "training", 2)).await.unwrap();
    let other = db.store.create_model(model("m3", "attendance", "ready", 3)).await.unwrap();
    assert_eq!((first.version, second.version, other.version), (1, 2, 1));
    assert!(matches!(db.store.create_model(model("m1", "x", "ready", 4)).await, Err(StoreError::Conflict(_))));

    let trained = ModelRecord {
        status: "ready".to_owned(),
        metrics: r#"{"accuracy":0.9}"#.to_owned(),
        rows_used: 120,
        trained_at_us: Some(5),
        ..second.clone()
    };
    db.store.update_model(trained.clone()).await.unwrap();
    assert_eq!(db.store.model("m2").await.unwrap(), Some(trained));
    assert_eq!(db.store.model("nope").await.unwrap(), None);
    assert!(matches!(db.store.update_model(model("nope", "x", "ready", 1)).await, Err(StoreError::NotFound)));

    let ids = |models: Vec<ModelRecord>| models.into_iter().map(|m| m.model_id).collect::<Vec<_>>();
    assert_eq!(ids(db.store.models(ModelFilter::default()).await.unwrap()), ["m3", "m2", "m1"]);
    let optimizer = ModelFilter { name: Some("match_optimizer".to_owned()), ..ModelFilter::default() };
    assert_eq!(ids(db.store.models(optimizer).await.unwrap()), ["m2", "m1"]);
    let ready = ModelFilter {
        status: Some("ready".to_owned()),
        model_type: Some("logistic_regression".to_owned()),
        ..ModelFilter::default()
    };
    assert_eq!(ids(db.store.models(ready).await.unwrap()), ["m3", "m2", "m1"]);
}

pub(super) async fn logs_ml_calls_and_counts_a_models_predictions(db: &TestDb) {
    db.store.create_model(model("m1", "attendance_predictor", "ready", 1)).await.unwrap();
    let hour = 3_600_000_000;
    let call =
        |at_us: i64, operation: &str, model_id: Option<&str>, predictions: i64, duration_us: i64, outcome: &str| {
            MlCall {
                at_us,
                operation: operation.to_owned(),
                model_id: model_id.map(str::to_owned),
                predictions,
                duration_us,
                outcome: outcome.to_owned(),
            }
        };
    for c in [
        call(10 * hour + 5, "predict-attendance", Some("m1"), 12, 300, "ok"),
        call(10 * hour + 9, "predict-attendance", Some("m1"), 8, 500, "ok"),
        call(10 * hour + 20, "predict-attendance", None, 0, 40, "MODEL_NOT_FOUND"),
        call(11 * hour, "batch-predict", Some("m1"), 30, 900, "ok"),
        call(2 * hour, "insights", None, 0, 70, "ok"),
    ] {
        db.store.record_ml_call(c).await.unwrap();
    }
    assert_eq!(db.store.model("m1").await.unwrap().unwrap().predictions, 50);
    let buckets = db.store.ml_call_buckets(10 * hour).await.unwrap();
    let bucket = |hour_us: i64,
                  operation: &str,
                  model_id: Option<&str>,
                  outcome: &str,
                  calls: i64,
                  predictions: i64,
                  total: i64,
                  max: i64| MlCallBucket {
        hour_us,
        operation: operation.to_owned(),
        model_id: model_id.map(str::to_owned),
        outcome: outcome.to_owned(),
        calls,
        predictions,
        total_duration_us: total,
        max_duration_us: max,
    };
    let expected = vec![
        bucket(10 * hour, "predict-attendance", None, "MODEL_NOT_FOUND", 1, 0, 40, 40),
        bucket(10 * hour, "predict-attendance", Some("m1"), "ok", 2, 20, 800, 500),
        bucket(11 * hour, "batch-predict", Some("m1"), "ok", 1, 30, 900, 900),
    ];
    assert_eq!(buckets, expected, "in the documented order on both backends");
    assert_eq!(db.store.expire_ml_calls(10 * hour + 9).await.unwrap(), 2);
    assert_eq!(db.store.ml_call_buckets(0).await.unwrap().iter().map(|b| b.calls).sum::<i64>(), 3);
}

/// A user with an account, consents, events, derived rows and audit entries, beside `other`.
pub(super) async fn keeps_every_version_of_a_profile(db: &TestDb) {
    db.store.create_account(account("ana", Some("ana"), None, Role::User)).await.unwrap();
    assert_eq!(db.store.update_profile("ana", "enc-1", "ana", 10).await.unwrap(), 1);
    assert_eq!(db.store.update_profile("ana", "enc-2", "admin", 20).await.unwrap(), 2);
    assert_eq!(db.store.user("ana").await.unwrap().unwrap().profile_enc.as_deref(), Some("enc-2"));
    let versions = db.store.profile_versions("ana").await.unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(
        (versions[1].version, versions[1].profile_enc.as_str(), versions[1].changed_by.as_str()),
        (2, "enc-2", "admin")
    );
    assert!(matches!(db.store.update_profile("nobody", "x", "admin", 1).await, Err(StoreError::NotFound)));
}

pub(super) fn assignment(user_key: &str, cluster: i64, distance: f64) -> ClusterAssignment {
    ClusterAssignment { user_key: user_key.to_owned(), cluster, distance, x: distance, y: -distance, placed: false }
}

pub(super) fn run(run_id: &str, at: i64) -> ClusterRun {
    ClusterRun {
        run_id: run_id.to_owned(),
        created_at_us: at,
        k: 2,
        silhouette: 0.5,
        n_users: 3,
        model: "{}".to_owned(),
    }
}

pub(super) async fn keeps_cluster_runs_and_the_latest_assignments(db: &TestDb) {
    let first = vec![assignment("key-a", 0, 0.5), assignment("key-b", 0, 0.1), assignment("key-c", 1, 0.3)];
    db.store.save_cluster_run(run("r1", 1), first).await.unwrap();
    assert_eq!(db.store.cluster_assignment("r1", "key-a").await.unwrap(), Some(assignment("key-a", 0, 0.5)));
    let members = db.store.cluster_members("r1", 0, 10).await.unwrap();
    assert_eq!(members.iter().map(|m| m.user_key.as_str()).collect::<Vec<_>>(), ["key-b", "key-a"], "nearest first");
    db.store.save_cluster_run(run("r2", 2), vec![assignment("key-a", 1, 0.2)]).await.unwrap();
    assert_eq!(db.store.cluster_assignment("r1", "key-a").await.unwrap(), None, "older assignments go");
    let runs = db.store.cluster_runs(10).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), ["r2", "r1"], "every run's summary stays");
    assert_eq!(runs[1], run("r1", 1));
}

/// A user who arrived after a run is placed in it once; a run saved since is not given the row.
pub(super) async fn places_a_newcomer_in_the_latest_run_only(db: &TestDb) {
    db.store.save_cluster_run(run("r1", 1), vec![assignment("key-a", 0, 0.5)]).await.unwrap();
    let newcomer = ClusterAssignment { placed: true, ..assignment("key-new", 1, 0.7) };
    assert!(db.store.place_in_cluster_run("r1", newcomer.clone()).await.unwrap());
    assert_eq!(db.store.cluster_assignment("r1", "key-new").await.unwrap(), Some(newcomer.clone()));
    assert!(!db.store.place_in_cluster_run("r1", assignment("key-new", 0, 0.1)).await.unwrap(), "placed once");
    assert!(!db.store.place_in_cluster_run("r1", assignment("key-a", 1, 0.1)).await.unwrap(), "in the run");
    assert_eq!(db.store.cluster_assignment("r1", "key-a").await.unwrap(), Some(assignment("key-a", 0, 0.5)));
    let members = db.store.cluster_members("r1", 1, 10).await.unwrap();
    assert_eq!(members, std::slice::from_ref(&newcomer), "a placed user is a member, and says it was placed");

    db.store.save_cluster_run(run("r2", 2), vec![assignment("key-a", 1, 0.2)]).await.unwrap();
    assert!(
        !db.store.place_in_cluster_run("r1", assignment("key-late", 0, 0.1)).await.unwrap(),
        "no longer the latest"
    );
    assert_eq!(db.store.cluster_assignment("r1", "key-late").await.unwrap(), None);
    assert_eq!(db.store.cluster_assignment("r1", "key-new").await.unwrap(), None, "placements go with their run");
    assert!(db.store.place_in_cluster_run("r2", newcomer.clone()).await.unwrap());
}

pub(super) fn attendance_event(id: &str, start_us: i64) -> AttendanceEvent {
    AttendanceEvent {
        event_id: id.to_owned(),
        organization_id: Some("org-1".to_owned()),
        name: format!("Yoga {id}"),
        event_type: "class".to_owned(),
        start_us,
        duration_minutes: 60,
        location: Some("Lyon".to_owned()),
        capacity: Some(20),
        price: Some(12.5),
        instructor: None,
        weather: Some(r#"{"rain": true}"#.to_owned()),
        created_at_us: 1,
        updated_at_us: 1,
        timezone: Some("Europe/Paris".to_owned()),
    }
}

pub(super) fn registration(event: &str, user: &str, attended: Option<bool>) -> Registration {
    Registration {
        event_id: event.to_owned(),
        user_id: user.to_owned(),
        registered_at_us: 5,
        attended,
        checked_in_at_us: None,
        attributes: Some(format!(r#"{{"reminder_sent":true,"group":"{user}"}}"#)),
    }
}

pub(super) async fn keeps_attendance_events_and_registrations(db: &TestDb) {
    // An organisation's declarations: none, then stored, then replaced.
    assert_eq!(db.store.attendance_organization("org-1").await.unwrap(), None);
    let declared = AttendanceOrganization {
        organization_id: "org-1".to_owned(),
        timezone: Some("Europe/Paris".to_owned()),
        attributes: r#"{"age":"numeric"}"#.to_owned(),
        updated_at_us: 3,
    };
    db.store.put_attendance_organization(declared.clone()).await.unwrap();
    assert_eq!(db.store.attendance_organization("org-1").await.unwrap().as_ref(), Some(&declared));
    let replaced = AttendanceOrganization { timezone: None, updated_at_us: 4, ..declared };
    db.store.put_attendance_organization(replaced.clone()).await.unwrap();
    assert_eq!(db.store.attendance_organization("org-1").await.unwrap(), Some(replaced));
    assert_eq!(db.store.attendance_organization("org-2").await.unwrap(), None);

    assert!(db.store.upsert_attendance_event(attendance_event("e1", 100)).await.unwrap(), "created");
    assert!(db.store.upsert_attendance_event(attendance_event("e2", 200)).await.unwrap());
    let renamed = AttendanceEvent {
        name: "Pilates".to_owned(),
        created_at_us: 9,
        updated_at_us: 9,
        ..attendance_event("e1", 100)
    };
    assert!(!db.store.upsert_attendance_event(renamed).await.unwrap(), "replaced");
    let stored = db.store.attendance_event("e1").await.unwrap().unwrap();
    assert_eq!(
        (stored.name.as_str(), stored.created_at_us, stored.updated_at_us),
        ("Pilates", 1, 9),
        "creation time kept"
    );
    assert_eq!(stored.price, Some(12.5));
    assert_eq!(stored.timezone.as_deref(), Some("Europe/Paris"));

    let page = |after: Option<(i64, String)>| AttendanceQuery { after, limit: 1, ..AttendanceQuery::default() };
    let first = db.store.attendance_events(page(None)).await.unwrap();
    assert_eq!(first[0].event_id, "e1");
    let second = db.store.attendance_events(page(Some((100, "e1".to_owned())))).await.unwrap();
    assert_eq!(second[0].event_id, "e2");
    let window = AttendanceQuery { from_us: Some(150), limit: 10, ..AttendanceQuery::default() };
    assert_eq!(db.store.attendance_events(window).await.unwrap().len(), 1);

    assert!(db.store.upsert_registration(registration("e1", "ana", None)).await.unwrap());
    assert!(db.store.upsert_registration(registration("e1", "bob", Some(false))).await.unwrap());
    assert!(db.store.upsert_registration(registration("e2", "ana", None)).await.unwrap());
    assert!(matches!(db.store.upsert_registration(registration("nope", "ana", None)).await, Err(StoreError::NotFound)));
    assert!(db.store.set_attended("e1", "ana", true, Some(150)).await.unwrap());
    assert!(!db.store.set_attended("e1", "carl", true, None).await.unwrap(), "not registered");
    let registrations = db.store.registrations(&["e1".into(), "e2".into()]).await.unwrap();
    assert_eq!(registrations.len(), 3);
    // A check-in keeps the registration's attributes.
    assert_eq!(
        registrations[0],
        Registration { attended: Some(true), checked_in_at_us: Some(150), ..registration("e1", "ana", None) }
    );
    assert!(registrations[0].attributes.as_deref().unwrap().contains("reminder_sent"));
    let anas = db.store.user_registrations("ana").await.unwrap();
    assert_eq!(anas.iter().map(|r| r.event_id.as_str()).collect::<Vec<_>>(), ["e1", "e2"], "in event order");
    assert!(db.store.user_registrations("nobody").await.unwrap().is_empty());
    // Histories count known outcomes of events that started before the time asked.
    assert!(db.store.set_attended("e2", "ana", false, None).await.unwrap());
    let history = |user: &str, registrations: i64, attended: i64| AttendanceHistory {
        user_id: user.to_owned(),
        registrations,
        attended,
    };
    let users = ["bob".to_owned(), "ana".to_owned(), "zoe".to_owned(), "ana".to_owned()];
    assert_eq!(db.store.attendance_histories(&users, 150).await.unwrap(), [history("ana", 1, 1), history("bob", 1, 0)]);
    assert_eq!(db.store.attendance_histories(&users, 201).await.unwrap(), [history("ana", 2, 1), history("bob", 1, 0)]);
    assert_eq!(db.store.attendance_histories(&users, 100).await.unwrap(), [], "e1 starts at 100: not before");
    assert!(db.store.delete_attendance_event("e1").await.unwrap());
    assert!(!db.store.delete_attendance_event("e1").await.unwrap());
    assert_eq!(db.store.registrations(&["e1".into()]).await.unwrap(), Vec::new(), "registrations go with the event");
}
