//! Seed 004's attendance data over HTTP: events, registrations, check-ins and imports.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, body, error_code};

fn yoga(id: Option<&str>) -> Value {
    let mut event = json!({"name": "Yoga du mardi", "type": "Class", "start": "2026-03-10T18:00:00Z", "duration_minutes": 60,
        "location": "Lyon", "capacity": 20, "price": 12.5, "instructor": "Inès", "organization_id": "org-1",
        "weather": {"condition": "rain", "temperature_c": 9}});
    if let Some(id) = id {
        event["id"] = json!(id);
    }
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_registrations_and_check_ins() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token.clone();
    let created = app.post_json("/api/v1/attendance/events", Some(&admin), &yoga(Some("yoga-1"))).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created = body(created).await;
    assert_eq!(created["type"], "class");
    assert_eq!(created["weather"]["condition"], "rain");
    let again = app.post_json("/api/v1/attendance/events", Some(&admin), &yoga(Some("yoga-1"))).await;
    assert_eq!(error_code(again, StatusCode::CONFLICT).await, "CONFLICT");
    let generated = body(app.post_json("/api/v1/attendance/events", Some(&admin), &yoga(None)).await).await;
    assert!(!generated["id"].as_str().unwrap().is_empty());

    let register = |user: &str| {
        let registration = json!({"user_id": user, "registered_at": "2026-03-01T09:00:00Z"});
        let (app, admin) = (&app, admin.clone());
        async move { app.post_json("/api/v1/attendance/events/yoga-1/registrations", Some(&admin), &registration).await }
    };
    assert_eq!(register("ana").await.status(), StatusCode::CREATED);
    assert_eq!(register("bob").await.status(), StatusCode::CREATED);
    assert_eq!(register("ana").await.status(), StatusCode::OK, "registering again replaces");
    let missing_event = app
        .post_json(
            "/api/v1/attendance/events/nope/registrations",
            Some(&admin),
            &json!({"user_id": "ana", "registered_at": "2026-03-01T09:00:00Z"}),
        )
        .await;
    assert_eq!(error_code(missing_event, StatusCode::NOT_FOUND).await, "NOT_FOUND");
    let check_in = app
        .client
        .put(app.url("/api/v1/attendance/events/yoga-1/registrations/ana"))
        .bearer_auth(&admin)
        .json(&json!({"attended": true, "checked_in_at": "2026-03-10T17:58:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(check_in.status(), StatusCode::OK);
    assert_eq!(body(check_in).await["attended"], true);
    let not_registered = app
        .client
        .put(app.url("/api/v1/attendance/events/yoga-1/registrations/carl"))
        .bearer_auth(&admin)
        .json(&json!({"attended": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(not_registered, StatusCode::NOT_FOUND).await, "NOT_FOUND");

    let event = body(app.get("/api/v1/attendance/events/yoga-1", Some(&admin)).await).await;
    let registrations = event["registrations"].as_array().unwrap();
    assert_eq!(registrations.len(), 2);
    assert_eq!(registrations[0]["user_id"], "ana");
    assert_eq!(registrations[0]["checked_in_at"], "2026-03-10T17:58:00Z");
    assert_eq!(registrations[1]["attended"], Value::Null, "not known yet");

    let mut moved = yoga(None);
    moved["start"] = json!("2026-03-11T18:00:00Z");
    let replaced = app
        .client
        .put(app.url("/api/v1/attendance/events/yoga-1"))
        .bearer_auth(&admin)
        .json(&moved)
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), StatusCode::OK);
    assert_eq!(body(replaced).await["start"], "2026-03-11T18:00:00Z");
    let list = body(app.get("/api/v1/attendance/events?limit=1", Some(&admin)).await).await;
    assert_eq!(list["events"].as_array().unwrap().len(), 1);
    let next = list["next_cursor"].as_str().unwrap();
    let rest = body(app.get(&format!("/api/v1/attendance/events?limit=1&cursor={next}"), Some(&admin)).await).await;
    assert_ne!(rest["events"][0]["id"], list["events"][0]["id"]);

    for (field, value) in [("duration_minutes", json!(0)), ("start", json!("mardi")), ("price", json!(-1))] {
        let mut bad = yoga(Some("bad"));
        bad[field] = value;
        let response = app.post_json("/api/v1/attendance/events", Some(&admin), &bad).await;
        assert_eq!(error_code(response, StatusCode::UNPROCESSABLE_ENTITY).await, "VALIDATION_ERROR", "{field}");
    }
    let deleted =
        app.client.delete(app.url("/api/v1/attendance/events/yoga-1")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = app.get("/api/v1/attendance/events/yoga-1", Some(&admin)).await;
    assert_eq!(error_code(gone, StatusCode::NOT_FOUND).await, "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_keeps_good_lines_and_reports_bad_ones() {
    let app = TestApp::spawn().await;
    let lines = [
        json!({"id": "w1", "name": "Atelier", "type": "workshop", "start": "2026-02-03T10:00:00Z", "duration_minutes": 90,
               "registrations": [{"user_id": "ana", "registered_at": "2026-01-20T08:00:00Z", "attended": true},
                                 {"user_id": "bob", "registered_at": "2026-01-21T08:00:00Z", "attended": false}]})
        .to_string(),
        "{not json".to_owned(),
        // A misspelt field is refused, not ignored.
        json!({"id": "w9", "name": "Atelier", "type": "workshop", "start": "2026-02-03T10:00:00Z", "duration_minutes": 90, "capacty": 3})
            .to_string(),
        json!({"id": "w2", "name": "Atelier", "type": "workshop", "start": "hier", "duration_minutes": 90}).to_string(),
        String::new(),
        json!({"id": "w3", "name": "Atelier", "type": "workshop", "start": "2026-02-10T10:00:00Z", "duration_minutes": 90,
               "registrations": [{"user_id": "ana", "registered_at": "2026-02-01T08:00:00Z"}]})
        .to_string(),
        // The same user twice on one event is reported, not merged.
        json!({"id": "w4", "name": "Atelier", "type": "workshop", "start": "2026-02-17T10:00:00Z", "duration_minutes": 90,
               "registrations": [{"user_id": "ana", "registered_at": "2026-02-01T08:00:00Z", "attended": true},
                                 {"user_id": "bob", "registered_at": "2026-02-01T09:00:00Z"},
                                 {"user_id": "ana", "registered_at": "2026-02-02T08:00:00Z", "attended": false}]})
        .to_string(),
    ];
    let response = app
        .client
        .post(app.url("/api/v1/attendance/import"))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/x-ndjson")
        .body(lines.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let report = body(response).await;
    assert_eq!(report["lines"], 6);
    assert_eq!(report["events_imported"], 2);
    assert_eq!(report["registrations_imported"], 3);
    let rejected: Vec<u64> =
        report["rejected"].as_array().unwrap().iter().map(|r| r["line"].as_u64().unwrap()).collect();
    assert_eq!(rejected, [2, 3, 4, 7]);
    assert!(report["rejected"][1]["reason"].as_str().unwrap().contains("capacty"), "{report}");
    assert!(report["rejected"][2]["reason"].as_str().unwrap().contains("start"));
    let twice = report["rejected"][3]["reason"].as_str().unwrap();
    assert!(twice.contains("\"ana\" appears twice (items 1 and 3)"), "{twice}");
    let missing = app.get("/api/v1/attendance/events/w4", Some(&app.admin_token)).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND, "a refused line stores nothing");
    let w1 = body(app.get("/api/v1/attendance/events/w1", Some(&app.admin_token)).await).await;
    assert_eq!(w1["registrations"][1]["attended"], false);

    // A history bigger than the general 1 MiB body limit: 400 events of 40 registrations.
    let big: Vec<String> = (0..400)
        .map(|i| {
            let registrations: Vec<Value> = (0..40)
                .map(|u| json!({"user_id": format!("member-{u:04}"), "registered_at": "2026-01-01T08:00:00Z", "attended": (i + u) % 3 != 0}))
                .collect();
            json!({"id": format!("big-{i}"), "name": "Séance", "type": "class", "start": "2026-03-01T18:00:00Z",
                   "duration_minutes": 60, "registrations": registrations})
            .to_string()
        })
        .collect();
    let text = big.join("\n");
    assert!(text.len() > 1024 * 1024, "{} bytes", text.len());
    let response = app
        .client
        .post(app.url("/api/v1/attendance/import"))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/x-ndjson")
        .body(text)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let report = body(response).await;
    assert_eq!(
        (report["events_imported"].as_u64(), report["registrations_imported"].as_u64()),
        (Some(400), Some(16_000))
    );
}

/// Posts `lines` to the import with `mode` in the query when given.
async fn import(app: &TestApp, mode: Option<&str>, lines: &[Value]) -> reqwest::Response {
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    let mut request = app.client.post(app.url("/api/v1/attendance/import"));
    if let Some(mode) = mode {
        request = request.query(&[("mode", mode)]);
    }
    request
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/x-ndjson")
        .body(text.join("\n"))
        .send()
        .await
        .unwrap()
}

/// A line whose event exists is refused with the reason by default; `mode=upsert` replaces the
/// event, keeps its creation time and says how many stored registrations stay attached.
async fn import_says_what_it_does_with_existing_events(app: &TestApp) {
    let registration = |user: &str| json!({"user_id": user, "registered_at": "2026-03-01T08:00:00Z", "attended": true});
    let first = json!({"id": "yoga-1", "name": "Yoga", "type": "class", "start": "2026-03-10T18:00:00Z",
        "duration_minutes": 60, "registrations": [registration("ana"), registration("bob")]});
    let created = body(import(app, None, std::slice::from_ref(&first)).await).await;
    assert_eq!((created["events_created"].as_u64(), created["mode"].as_str()), (Some(1), Some("insert")), "{created}");
    let before = body(app.get("/api/v1/attendance/events/yoga-1", Some(&app.admin_token)).await).await;

    // The same id again, moved to another day, with one more registrant.
    let moved = json!({"id": "yoga-1", "name": "Yoga (moved)", "type": "class", "start": "2026-03-12T18:00:00Z",
        "duration_minutes": 60, "registrations": [registration("bob"), registration("cleo")]});
    let refused = body(import(app, None, std::slice::from_ref(&moved)).await).await;
    assert_eq!((refused["events_imported"].as_u64(), refused["registrations_imported"].as_u64()), (Some(0), Some(0)));
    let reason = refused["rejected"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("yoga-1 exists") && reason.contains("mode=upsert"), "{reason}");
    let unchanged = body(app.get("/api/v1/attendance/events/yoga-1", Some(&app.admin_token)).await).await;
    assert_eq!(unchanged, before, "the stored event and its registrations are untouched");

    let replaced = body(import(app, Some("upsert"), std::slice::from_ref(&moved)).await).await;
    assert_eq!(replaced["mode"], "upsert");
    assert_eq!(
        (replaced["events_replaced"].as_u64(), replaced["events_created"].as_u64()),
        (Some(1), Some(0)),
        "{replaced}"
    );
    assert_eq!(replaced["registrations_imported"], 2);
    assert_eq!(replaced["registrations_kept"], 1, "ana was not in the line and stays attached: {replaced}");
    let after = body(app.get("/api/v1/attendance/events/yoga-1", Some(&app.admin_token)).await).await;
    assert_eq!((after["name"].as_str(), after["start"].as_str()), (Some("Yoga (moved)"), Some("2026-03-12T18:00:00Z")));
    assert_eq!(after["created_at"], before["created_at"]);
    let users: Vec<&str> =
        after["registrations"].as_array().unwrap().iter().map(|r| r["user_id"].as_str().unwrap()).collect();
    assert_eq!(users.len(), 3, "{users:?}");

    let bad = import(app, Some("merge"), std::slice::from_ref(&moved)).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad = body(bad).await;
    assert!(bad["error"]["message"].as_str().unwrap().starts_with("mode: insert"), "{bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_refuses_existing_events_unless_upsert_on_sqlite() {
    let app = TestApp::spawn().await;
    import_says_what_it_does_with_existing_events(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_refuses_existing_events_unless_upsert_on_postgres() {
    let app = TestApp::spawn_postgres_with(|_| {}).await;
    import_says_what_it_does_with_existing_events(&app).await;
    app.stop().await;
}

/// The import carries the events' time zones and the registrations' typed attributes; the
/// factor analysis reads days in the events' own time and reports the attributes, naming the
/// reminder with its measured effect. Bad zones and attribute values are refused with the reason.
async fn attributes_and_time_zones_reach_the_factors(app: &TestApp) {
    let mut lines = Vec::new();
    // Ten Tuesdays 02:00 UTC, which are Mondays 21:00 or 22:00 in New York.
    let first_tuesday = 1_772_503_200_000_000i64; // 2026-03-03T02:00:00Z
    for week in 0..10i64 {
        let start = first_tuesday + week * 7 * 86_400_000_000;
        let registrations: Vec<Value> = (0..8)
            .map(|n| {
                let reminded = n % 2 == 0;
                // Reminded: 3 in 4 come; not reminded: 1 in 4.
                let came = if reminded { n % 8 != 6 } else { n % 8 == 1 };
                json!({"user_id": format!("member-{n}"), "registered_at": "2026-02-01T08:00:00Z", "attended": came,
                       "attributes": {"reminder_sent": reminded, "age": 20 + n * 5, "channel": if n < 4 { "email" } else { "phone" }}})
            })
            .collect();
        lines.push(json!({"id": format!("ny-{week}"), "name": "Evening class", "type": "class",
            "start": footprint::kernel::clock::rfc3339(start), "duration_minutes": 60, "timezone": "America/New_York",
            "registrations": registrations}));
    }
    lines.push(
        json!({"id": "mars", "name": "x", "type": "class", "start": "2026-03-03T02:00:00Z", "duration_minutes": 60,
        "timezone": "Mars/Olympus_Mons"}),
    );
    lines.push(json!({"id": "nested", "name": "x", "type": "class", "start": "2026-03-03T02:00:00Z", "duration_minutes": 60,
        "registrations": [{"user_id": "ana", "registered_at": "2026-02-01T08:00:00Z", "attributes": {"group": {"a": 1}}}]}));
    let report = body(import(app, None, &lines).await).await;
    assert_eq!(report["events_imported"], 10, "{report}");
    let reasons: Vec<&str> =
        report["rejected"].as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert!(reasons[0].contains("Mars/Olympus_Mons") && reasons[0].contains("IANA"), "{reasons:?}");
    assert!(reasons[1].contains("attributes.group"), "{reasons:?}");

    let stored = body(app.get("/api/v1/attendance/events/ny-0", Some(&app.admin_token)).await).await;
    assert_eq!(stored["timezone"], "America/New_York");
    assert_eq!(stored["registrations"][0]["attributes"], json!({"reminder_sent": true, "age": 20, "channel": "email"}));

    let analysis = body(app.post_json("/api/ml/analyze-factors", Some(&app.admin_token), &json!({})).await).await;
    let data = &analysis["data"];
    let factor = |name: &str| data["factors"].as_array().unwrap().iter().find(|f| f["name"] == name).cloned();
    // Days in New York time: every class is on a Monday evening there.
    let days = factor("day_of_week").unwrap();
    assert_eq!(days["values"].as_object().unwrap().keys().collect::<Vec<_>>(), ["monday"], "{days}");
    let slots = factor("time_of_day").unwrap();
    assert!(
        slots["timeSlots"]
            .as_object()
            .unwrap_or_else(|| panic!("{slots}"))
            .keys()
            .all(|slot| slot.starts_with("21:00")),
        "{slots}"
    );
    // The attributes, each in its kind: the reminder's rates by level, the age by quartile.
    let reminder = factor("reminder_sent").expect("the attribute is a factor");
    assert_eq!(reminder["values"], json!({"yes": 0.75, "no": 0.25}), "{reminder}");
    assert_eq!(reminder["sampleSize"], 80);
    assert!(factor("age").unwrap()["ranges"].is_object());
    assert!(factor("channel").unwrap()["values"].is_object());
    let advice: Vec<&str> = data["recommendations"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert!(
        advice.iter().any(|line| line
            .starts_with("Send the reminder_sent: 75% of the registrations with it came, against 25% without")),
        "{advice:?}"
    );
    // Asking for one attribute by its name; an unknown name lists the attributes present.
    let one =
        body(app.post_json("/api/ml/analyze-factors", Some(&app.admin_token), &json!({"factors": ["channel"]})).await)
            .await;
    assert_eq!(one["data"]["factors"].as_array().unwrap().len(), 1);
    let unknown =
        app.post_json("/api/ml/analyze-factors", Some(&app.admin_token), &json!({"factors": ["shoe_size"]})).await;
    let unknown = body(unknown).await;
    assert!(unknown["error"]["message"].as_str().unwrap().contains("reminder_sent"), "{unknown}");

    // A model trained on these registrations uses the attribute, also when a prediction gives it.
    let train = json!({"trainingData": {"minDataPoints": 50}, "hyperparameters": {"family": "logistic"}});
    let started = body(app.post_json("/api/ml/models/train", Some(&app.admin_token), &train).await).await;
    let id = started["data"]["id"].as_str().unwrap_or_else(|| panic!("{started}")).to_owned();
    let mut model = Value::Null;
    for _ in 0..300 {
        model = body(app.get(&format!("/api/ml/models/{id}"), Some(&app.admin_token)).await).await["data"].clone();
        if model["status"] != "training" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(model["status"], "ready", "{model}");
    let next = json!({"id": "ny-next", "name": "Evening class", "type": "class", "start": "2026-05-12T01:00:00Z",
        "duration_minutes": 60, "timezone": "America/New_York"});
    assert_eq!(
        app.post_json("/api/v1/attendance/events", Some(&app.admin_token), &next).await.status(),
        StatusCode::CREATED
    );
    let predict = |reminded: Value| {
        json!({"eventId": "ny-next", "participants": [{"userId": "newcomer", "registrationDate": "2026-05-01T08:00:00Z",
            "attributes": {"reminder_sent": reminded}}]})
    };
    let probability = |answer: &Value| answer["data"]["individual"][0]["attendanceProbability"].as_f64().unwrap();
    let reminded =
        body(app.post_json("/api/ml/predict-attendance", Some(&app.admin_token), &predict(json!(true))).await).await;
    let forgotten =
        body(app.post_json("/api/ml/predict-attendance", Some(&app.admin_token), &predict(json!(false))).await).await;
    assert!(probability(&reminded) > probability(&forgotten) + 0.2, "{reminded} {forgotten}");
    let odd = app.post_json("/api/ml/predict-attendance", Some(&app.admin_token), &predict(json!({"a": 1}))).await;
    assert_eq!(error_code(odd, StatusCode::BAD_REQUEST).await, "INVALID_PARAMETERS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_and_time_zones_reach_the_factors_on_sqlite() {
    let app = TestApp::spawn().await;
    attributes_and_time_zones_reach_the_factors(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_and_time_zones_reach_the_factors_on_postgres() {
    let app = TestApp::spawn_postgres_with(|_| {}).await;
    attributes_and_time_zones_reach_the_factors(&app).await;
    app.stop().await;
}

/// An organisation declares once its time zone and its attributes' kinds: its events take the
/// zone, and registrations' values are converted to the declared kinds or refused.
async fn organisations_declare_zones_and_kinds(app: &TestApp) {
    let admin = &app.admin_token;
    let put = |body: Value| async move {
        app.client
            .put(app.url("/api/v1/attendance/organizations/club"))
            .bearer_auth(admin)
            .json(&body)
            .send()
            .await
            .unwrap()
    };
    let declared = put(json!({"timezone": "Asia/Tokyo", "attributes": {"group": "categorical", "reminded": "boolean", "age": "numeric"}})).await;
    assert_eq!(declared.status(), StatusCode::OK);
    let declared = body(declared).await;
    assert_eq!(declared["timezone"], "Asia/Tokyo");
    assert_eq!(declared["attributes"]["reminded"], "boolean");
    let colour = put(json!({"attributes": {"x": "colour"}})).await;
    let message = body(colour).await["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("attributes.x: numeric, categorical or boolean"), "{message}");
    assert!(body(put(json!({"timezone": "Tokyo"})).await).await["error"]["message"].as_str().unwrap().contains("IANA"));
    let shown = body(app.get("/api/v1/attendance/organizations/club", Some(admin)).await).await;
    assert_eq!(shown["timezone"], "Asia/Tokyo", "a refused declaration changes nothing");
    let none = app.get("/api/v1/attendance/organizations/nobody", Some(admin)).await;
    assert_eq!(error_code(none, StatusCode::NOT_FOUND).await, "NOT_FOUND");

    // The event takes the organisation's zone; an event saying its own keeps it.
    let event = json!({"id": "club-1", "name": "Judo", "type": "class", "start": "2026-03-10T09:00:00Z",
        "duration_minutes": 60, "organization_id": "club"});
    let created = body(app.post_json("/api/v1/attendance/events", Some(admin), &event).await).await;
    assert_eq!(created["timezone"], "Asia/Tokyo", "{created}");
    let own = json!({"id": "club-2", "name": "Judo", "type": "class", "start": "2026-03-10T09:00:00Z",
        "duration_minutes": 60, "organization_id": "club", "timezone": "Europe/Paris"});
    assert_eq!(
        body(app.post_json("/api/v1/attendance/events", Some(admin), &own).await).await["timezone"],
        "Europe/Paris"
    );

    // Values converted to the declared kinds; an undeclared one kept as sent.
    let registration = json!({"user_id": "ana", "registered_at": "2026-03-01T08:00:00Z",
        "attributes": {"group": 3, "reminded": "yes", "age": "41", "belt": "green"}});
    let stored =
        body(app.post_json("/api/v1/attendance/events/club-1/registrations", Some(admin), &registration).await).await;
    assert_eq!(stored["attributes"], json!({"group": "3", "reminded": true, "age": 41.0, "belt": "green"}), "{stored}");
    let old = json!({"user_id": "bob", "registered_at": "2026-03-01T08:00:00Z", "attributes": {"age": "old"}});
    let refused = app.post_json("/api/v1/attendance/events/club-1/registrations", Some(admin), &old).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let message = body(refused).await["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("attributes.age of bob") && message.contains("a number"), "{message}");
    // The same in an import: the line is refused with the reason.
    let line = json!({"id": "club-3", "name": "Judo", "type": "class", "start": "2026-03-17T09:00:00Z",
        "duration_minutes": 60, "organization_id": "club",
        "registrations": [{"user_id": "ana", "registered_at": "2026-03-01T08:00:00Z", "attributes": {"reminded": "maybe"}}]});
    let report = body(import(app, None, &[line]).await).await;
    assert_eq!(report["events_imported"], 0);
    assert!(report["rejected"][0]["reason"].as_str().unwrap().contains("attributes.reminded of ana"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organisations_declare_zones_and_kinds_on_sqlite() {
    let app = TestApp::spawn().await;
    organisations_declare_zones_and_kinds(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organisations_declare_zones_and_kinds_on_postgres() {
    let app = TestApp::spawn_postgres_with(|_| {}).await;
    organisations_declare_zones_and_kinds(&app).await;
    app.stop().await;
}
