//! `footprint export` / `footprint import` (the library functions the commands call): an export
//! imported into an empty store gives the same events, a second import stores nothing new, and
//! bad lines are reported with their numbers, on both stores.

use footprint::tracking::transfer::{ExportFilter, Storing, export_events, import_events};
use serde_json::{Value, json};

use crate::helpers::TestApp;

async fn granting(postgres: bool) -> TestApp {
    let grant = |config: &mut footprint::Config| {
        config.privacy.consent_default = footprint_analytics::ConsentDefault::Grant;
    };
    if postgres { TestApp::spawn_postgres_with(grant).await } else { TestApp::spawn_with(grant).await }
}

async fn export(app: &TestApp, filter: &ExportFilter) -> Vec<Value> {
    let mut out: Vec<u8> = Vec::new();
    let written = export_events(&app.state, filter, &mut out, &|_| {}).await.unwrap();
    let lines: Vec<Value> =
        String::from_utf8(out).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len() as u64, written);
    lines
}

async fn round_trip(postgres: bool) {
    let source = granting(postgres).await;
    let events: Vec<Value> = (0..30)
        .map(|n| {
            let mut event = json!({"user_id": format!("user-{}", n % 3), "type": if n % 4 == 0 { "click" } else { "page_view" },
                "timestamp": format!("2026-11-{:02}T10:{:02}:00Z", 1 + n / 10, n), "session_id": format!("s-{}", n % 5),
                "properties": {"page": format!("/p/{n}"), "n": n}, "context": {"ip": "203.0.113.77", "user_agent": "test"}});
            if n % 2 == 0 {
                event["message_id"] = json!(format!("m-{n}"));
            }
            event
        })
        .collect();
    let tracked = crate::helpers::body(source.track_batch(&source.admin_token, &events).await).await;
    assert_eq!(tracked["accepted"], 30, "{tracked}");
    let exported = export(&source, &ExportFilter::default()).await;
    assert_eq!(exported.len(), 30);
    assert_eq!(exported[0]["context"]["ip"], "203.0.113.0", "the IP stays truncated");
    // Filters: by type and by time.
    let clicks = export(&source, &ExportFilter { event_type: Some("click".into()), ..ExportFilter::default() }).await;
    assert_eq!(clicks.len(), 8);
    let from = footprint::kernel::clock::parse_rfc3339("2026-11-03T00:00:00Z").map(footprint::kernel::clock::to_us);
    assert_eq!(export(&source, &ExportFilter { from_us: from, ..ExportFilter::default() }).await.len(), 10);

    // Into an empty store: the same events.
    let target = granting(postgres).await;
    let text: String = exported.iter().map(|line| format!("{line}\n")).collect();
    let report = import_events(&target.state, &mut text.as_bytes(), Storing::BulkIfEmpty, &|_| {}).await.unwrap();
    assert_eq!((report.lines, report.imported, report.duplicates, report.rejected_count), (30, 30, 0, 0), "{report:?}");
    let imported = export(&target, &ExportFilter::default()).await;
    for (before, after) in exported.iter().zip(&imported) {
        for field in ["user_id", "type", "properties", "context", "timestamp", "session_id"] {
            assert_eq!(before[field], after[field], "{field}: {before} against {after}");
        }
        // An event without a message id keeps its identity through its event id.
        let identity = if before["message_id"].is_null() { &before["event_id"] } else { &before["message_id"] };
        assert_eq!(&after["message_id"], identity);
    }
    // A second import stores nothing new.
    let again = import_events(&target.state, &mut text.as_bytes(), Storing::Commits, &|_| {}).await.unwrap();
    assert_eq!((again.imported, again.duplicates), (0, 30), "{again:?}");
    assert_eq!(export(&target, &ExportFilter::default()).await.len(), 30);

    // Bad lines are reported with their numbers; the good ones are kept.
    let mixed = "{\"user_id\": \"zoe\", \"type\": \"login\"}\n\nnot json\n{\"type\": \"login\"}\n{\"user_id\": \"zoe\", \"type\": \"logout\", \"timestamp\": \"soon\"}\n";
    let report = import_events(&target.state, &mut mixed.as_bytes(), Storing::Commits, &|_| {}).await.unwrap();
    assert_eq!((report.lines, report.imported, report.rejected_count), (4, 1, 3), "{report:?}");
    let numbers: Vec<usize> = report.rejected.iter().map(|r| r.line).collect();
    assert_eq!(numbers, [3, 4, 5], "{report:?}");
    assert!(report.rejected[0].reason.starts_with("not JSON"));
    assert!(report.rejected[1].reason.contains("user_id"));
    assert!(report.rejected[2].reason.contains("timestamp"));
    source.stop().await;
    target.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_imported_into_an_empty_store_gives_the_same_events_on_sqlite() {
    round_trip(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_imported_into_an_empty_store_gives_the_same_events_on_postgres() {
    round_trip(true).await;
}

async fn over_http(postgres: bool) {
    let source = granting(postgres).await;
    let events: Vec<Value> = (0..12)
        .map(|n| {
            json!({"user_id": format!("web-{}", n % 4), "type": if n % 3 == 0 { "purchase" } else { "view" },
            "timestamp": format!("2026-11-0{}T09:{:02}:00Z", 1 + n / 6, n), "message_id": format!("h-{n}")})
        })
        .collect();
    let tracked = crate::helpers::body(source.track_batch(&source.admin_token, &events).await).await;
    assert_eq!(tracked["accepted"], 12, "{tracked}");

    let response = source.get("/api/v1/export", Some(&source.admin_token)).await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    assert_eq!(text.lines().count(), 12);
    let purchases =
        source.get("/api/v1/export?type=purchase&from=2026-11-02T00:00:00Z", Some(&source.admin_token)).await;
    assert_eq!(purchases.text().await.unwrap().lines().count(), 2);
    let bad = source.get("/api/v1/export?from=yesterday", Some(&source.admin_token)).await;
    assert_eq!(crate::helpers::error_code(bad, reqwest::StatusCode::BAD_REQUEST).await, "INVALID_PARAMETERS");

    // Into an empty store, gzipped; then the same again: duplicates only.
    let target = granting(postgres).await;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gzip, text.as_bytes()).unwrap();
    let gzip = gzip.finish().unwrap();
    let send = |body: Vec<u8>| {
        target
            .client
            .post(target.url("/api/v1/import"))
            .bearer_auth(&target.admin_token)
            .header("Content-Encoding", "gzip")
            .body(body)
            .send()
    };
    let report = crate::helpers::body(send(gzip.clone()).await.unwrap()).await;
    assert_eq!((report["lines"].as_u64(), report["imported"].as_u64()), (Some(12), Some(12)), "{report}");
    let again = crate::helpers::body(send(gzip).await.unwrap()).await;
    assert_eq!((again["imported"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(12)), "{again}");
    let imported = target.get("/api/v1/export", Some(&target.admin_token)).await.text().await.unwrap();
    let fields = |line: &str| {
        let event: Value = serde_json::from_str(line).unwrap();
        (event["user_id"].clone(), event["type"].clone(), event["timestamp"].clone(), event["message_id"].clone())
    };
    assert_eq!(text.lines().map(fields).collect::<Vec<_>>(), imported.lines().map(fields).collect::<Vec<_>>());

    // CSV: out with a header row, into another empty store, the same events; other columns
    // become properties; a bad cell is reported with its line.
    let csv = source.get("/api/v1/export?format=csv", Some(&source.admin_token)).await;
    assert_eq!(csv.headers()["content-type"], "text/csv");
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("event_id,user_id,session_id,type,timestamp,received_at,message_id,properties,context\n"));
    assert_eq!(csv.lines().count(), 13);
    let third = granting(postgres).await;
    let send_csv = |body: String| {
        third
            .client
            .post(third.url("/api/v1/import"))
            .bearer_auth(&third.admin_token)
            .header("Content-Type", "text/csv")
            .body(body)
            .send()
    };
    let report = crate::helpers::body(send_csv(csv).await.unwrap()).await;
    assert_eq!((report["lines"].as_u64(), report["imported"].as_u64()), (Some(12), Some(12)), "{report}");
    let from_csv = third.get("/api/v1/export", Some(&third.admin_token)).await.text().await.unwrap();
    assert_eq!(text.lines().map(fields).collect::<Vec<_>>(), from_csv.lines().map(fields).collect::<Vec<_>>());
    let handmade = "user_id,type,timestamp,plan,properties\nann,signup,2026-11-03T10:00:00Z,pro,\nbob,signup,2026-11-03T11:00:00Z,,{not json}\n";
    let report = crate::helpers::body(send_csv(handmade.to_owned()).await.unwrap()).await;
    assert_eq!((report["imported"].as_u64(), report["rejected"][0]["line"].as_u64()), (Some(1), Some(3)), "{report}");
    let ann = third.events_of("ann").await;
    assert_eq!(ann[0]["properties"], json!({"plan": "pro"}));
    let mixed = source.get("/api/v1/export?format=csv&consents=true", Some(&source.admin_token)).await;
    assert_eq!(mixed.status(), reqwest::StatusCode::BAD_REQUEST);

    // Admin only.
    let user = target.user_with_role("transfer-user", footprint_analytics::Role::Manager).await;
    for (method, path) in [("GET", "/api/v1/export"), ("POST", "/api/v1/import")] {
        let request = |token: Option<&str>| {
            let builder = target.client.request(method.parse().unwrap(), target.url(path)).body("");
            match token {
                Some(token) => builder.bearer_auth(token),
                None => builder,
            }
        };
        assert_eq!(request(None).send().await.unwrap().status(), reqwest::StatusCode::UNAUTHORIZED);
        assert_eq!(request(Some("bad.token.here")).send().await.unwrap().status(), reqwest::StatusCode::UNAUTHORIZED);
        assert_eq!(request(Some(&user)).send().await.unwrap().status(), reqwest::StatusCode::FORBIDDEN);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_import_over_http_round_trip_on_sqlite() {
    over_http(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_import_over_http_round_trip_on_postgres() {
    over_http(true).await;
}

/// Consent records travel with the events: into an instance whose default is deny, the events
/// of users who consented are kept, in the order the records were made.
async fn consents_travel(postgres: bool) {
    let spawn =
        || async move { if postgres { TestApp::spawn_postgres_with(|_| {}).await } else { TestApp::spawn().await } };
    let source = spawn().await;
    source.grant_consent("kept-1").await;
    source.grant_consent("changed-2").await;
    let tracked = source
        .track_batch(
            &source.admin_token,
            &[crate::helpers::event("kept-1", "view"), crate::helpers::event("changed-2", "view")],
        )
        .await;
    assert_eq!(crate::helpers::body(tracked).await["accepted"], 2);
    let withdraw = [("user_id", "changed-2"), ("analytics", "false")];
    source.post_query("/api/tracking/consent", Some(&source.admin_token), &withdraw).await;

    let text = source.get("/api/v1/export?consents=true", Some(&source.admin_token)).await.text().await.unwrap();
    let kinds: Vec<String> = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["kind"].as_str().unwrap_or("event").to_owned())
        .collect();
    assert_eq!(kinds, ["consent", "consent", "consent", "event", "event"], "consents first: {text}");

    let target = spawn().await;
    let import = |body: String| {
        target.client.post(target.url("/api/v1/import")).bearer_auth(&target.admin_token).body(body).send()
    };
    let report = crate::helpers::body(import(text.clone()).await.unwrap()).await;
    // changed-2's event comes after the withdrawal in the file: the consent it was stored under
    // is not the latest one, so the receiving instance refuses it, as its own ingestion would.
    assert_eq!(
        (report["consents"].as_u64(), report["imported"].as_u64(), report["not_collected"].as_u64()),
        (Some(3), Some(1), Some(1)),
        "{report}"
    );
    let standing =
        crate::helpers::body(target.get("/api/tracking/consent/changed-2", Some(&target.admin_token)).await).await;
    assert_eq!(standing["consent"]["analytics"], false, "{standing}");
    assert_eq!(standing["history"].as_array().unwrap().len(), 2, "{standing}");
    let yoga_before =
        crate::helpers::body(target.get("/api/v1/attendance/events/yoga-1", Some(&target.admin_token)).await).await;
    let again = crate::helpers::body(import(text).await.unwrap()).await;
    let yoga_after =
        crate::helpers::body(target.get("/api/v1/attendance/events/yoga-1", Some(&target.admin_token)).await).await;
    assert_eq!(yoga_after["updated_at"], yoga_before["updated_at"], "an unchanged line is not written again");
    assert_eq!((again["consents"].as_u64(), again["imported"].as_u64()), (Some(0), Some(0)), "{again}");
    assert_eq!(again["duplicates"].as_u64(), Some(4), "three consent records and one event: {again}");
    let bad = crate::helpers::body(
        import("{\"kind\": \"consent\", \"user_id\": \"x\", \"analytics\": \"yes\"}\n".to_owned()).await.unwrap(),
    )
    .await;
    assert!(bad["rejected"][0]["reason"].as_str().unwrap().starts_with("consent.analytics"), "{bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consents_travel_with_the_events_on_sqlite() {
    consents_travel(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consents_travel_with_the_events_on_postgres() {
    consents_travel(true).await;
}

/// The whole instance travels (`?all=true`): accounts log in on the importing instance with
/// their passwords and keep their role, tier, e-mail and profile; organisations' declarations
/// and attendance events with their registrations arrive as they were; a second import changes
/// nothing.
async fn everything_travels(postgres: bool) {
    let source = granting(postgres).await;
    let admin = Some(source.admin_token.as_str());
    let created = source
        .post_json(
            "/api/v1/users",
            admin,
            &json!({"username": "ines", "email": "ines@example.org", "password": "ines-password-1",
                "role": "manager", "tier": "premium", "profile": {"city": "Lyon"}}),
        )
        .await;
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    let declared = source
        .client
        .put(source.url("/api/v1/attendance/organizations/club"))
        .bearer_auth(&source.admin_token)
        .json(&json!({"timezone": "Europe/Paris", "attributes": {"age": "numeric", "reminder_sent": "boolean"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(declared.status(), reqwest::StatusCode::OK);
    let lines = [
        json!({"id": "yoga-1", "name": "Yoga", "type": "class", "start": "2026-11-02T18:00:00Z", "duration_minutes": 60,
            "organization_id": "club", "weather": "rainy", "capacity": 12,
            "registrations": [
                {"user_id": "ines", "registered_at": "2026-10-30T09:00:00Z", "attended": true,
                    "attributes": {"age": 34, "reminder_sent": true}},
                {"user_id": "marc", "registered_at": "2026-10-31T09:00:00Z", "attended": false}]}),
        json!({"id": "talk-1", "name": "Talk", "type": "meeting", "start": "2026-11-05T12:00:00Z", "duration_minutes": 45,
            "registrations": [{"user_id": "marc", "registered_at": "2026-11-01T09:00:00Z"}]}),
    ];
    let body: String = lines.iter().map(|line| format!("{line}\n")).collect();
    let imported = source
        .client
        .post(source.url("/api/v1/attendance/import"))
        .bearer_auth(&source.admin_token)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(crate::helpers::body(imported).await["events_imported"], 2);
    let tracked = source.track_batch(&source.admin_token, &[crate::helpers::event("ines", "view")]).await;
    assert_eq!(crate::helpers::body(tracked).await["accepted"], 1);

    let text = source.get("/api/v1/export?all=true", admin).await.text().await.unwrap();
    let kinds: Vec<String> = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["kind"].as_str().unwrap_or("event").to_owned())
        .collect();
    assert_eq!(
        kinds,
        ["account", "account", "attendance_organization", "attendance_event", "attendance_event", "event"],
        "accounts, then attendance, then events (consent is the default here): {text}"
    );
    assert!(!text.contains("ines-password-1"), "never the password itself");

    let target = granting(postgres).await;
    let import = |body: String| {
        target.client.post(target.url("/api/v1/import")).bearer_auth(&target.admin_token).body(body).send()
    };
    let report = crate::helpers::body(import(text.clone()).await.unwrap()).await;
    assert_eq!(
        [&report["accounts"], &report["organizations"], &report["attendance_events"], &report["registrations"]],
        [1, 1, 2, 3],
        "the admin exists already: {report}"
    );
    assert_eq!((report["imported"].as_u64(), report["duplicates"].as_u64()), (Some(1), Some(1)), "{report}");

    // Ines logs in with her password, and is who she was.
    let token = target.login_ok("ines", "ines-password-1").await;
    let user = crate::helpers::body(target.get("/api/v1/users/ines", Some(&token)).await).await;
    let before = crate::helpers::body(source.get("/api/v1/users/ines", admin).await).await;
    for field in ["role", "tier", "email", "username"] {
        assert_eq!(user[field], before[field], "{field}: {user}");
    }
    assert_eq!(user["role"], "manager");
    let profile = crate::helpers::body(target.get("/api/profile/ines", Some(&target.admin_token)).await).await;
    assert_eq!(profile["declared"]["city"], "Lyon", "{profile}");
    let organization =
        crate::helpers::body(target.get("/api/v1/attendance/organizations/club", Some(&target.admin_token)).await)
            .await;
    assert_eq!(organization["timezone"], "Europe/Paris");
    assert_eq!(organization["attributes"], json!({"age": "numeric", "reminder_sent": "boolean"}));
    for id in ["yoga-1", "talk-1"] {
        let path = format!("/api/v1/attendance/events/{id}");
        let mut there = crate::helpers::body(target.get(&path, Some(&target.admin_token)).await).await;
        let mut here = crate::helpers::body(source.get(&path, admin).await).await;
        for side in [&mut there, &mut here] {
            let object = side.as_object_mut().unwrap();
            object.remove("created_at");
            object.remove("updated_at");
        }
        assert_eq!(there, here, "{id}");
    }

    let yoga_before =
        crate::helpers::body(target.get("/api/v1/attendance/events/yoga-1", Some(&target.admin_token)).await).await;
    let again = crate::helpers::body(import(text).await.unwrap()).await;
    let yoga_after =
        crate::helpers::body(target.get("/api/v1/attendance/events/yoga-1", Some(&target.admin_token)).await).await;
    assert_eq!(yoga_after["updated_at"], yoga_before["updated_at"], "an unchanged line is not written again");
    assert_eq!(
        [
            &again["accounts"],
            &again["organizations"],
            &again["attendance_events"],
            &again["registrations"],
            &again["imported"]
        ],
        [0, 0, 0, 0, 0],
        "{again}"
    );
    assert_eq!(again["duplicates"].as_u64(), Some(6), "every line: {again}");
    let bad = crate::helpers::body(
        import("{\"kind\": \"account\", \"user_id\": \"eve\", \"username\": \"eve\", \"password_hash\": \"plain\"}\n{\"kind\": \"table\"}\n".to_owned())
            .await
            .unwrap(),
    )
    .await;
    let reasons: Vec<&str> =
        bad["rejected"].as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert!(reasons[0].starts_with("account: password_hash"), "{bad}");
    assert!(reasons[1].starts_with("kind: \"table\""), "{bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_attendance_travel_with_the_events_on_sqlite() {
    everything_travels(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_attendance_travel_with_the_events_on_postgres() {
    everything_travels(true).await;
}

/// `footprint import` as an operator runs it, into a new data directory (a bulk load), then
/// `footprint export`: lines sent newest first across several batches get the sessions the
/// 30-minute gap gives them in time order, each named after its first event; a line repeating
/// an earlier `message_id` in a later batch is counted once, as a duplicate.
#[test]
fn the_import_command_loads_a_new_store_with_sessions_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("events.jsonl");
    let mut lines = Vec::new();
    // Five users, 500 events each, 10 minutes apart, with a 3-day pause after the 250th: two
    // visits each. Written newest first, so every batch of 1 000 is older than the one before.
    for k in (0..500).rev() {
        for user in 0..5 {
            let minutes = k * 10 + if k >= 250 { 3 * 24 * 60 } else { 0 };
            let at = time::OffsetDateTime::from_unix_timestamp(1_790_000_000 + minutes * 60).unwrap();
            let at = at.format(&time::format_description::well_known::Rfc3339).unwrap();
            lines.push(
                json!({"user_id": format!("u{user}"), "type": "page_view", "timestamp": at, "message_id": format!("m-{user}-{k}")})
                    .to_string(),
            );
        }
    }
    lines.push(lines[3].clone());
    lines.push("not json".to_owned());
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();

    let report = crate::process::run_command(&data, &["import", file.to_str().unwrap()]);
    assert!(
        report
            .starts_with("2502 lines: 2500 events imported, 1 duplicates (already stored), 0 not collected, 1 refused"),
        "{report}"
    );
    let exported = crate::process::run_command(&data, &["export"]);
    let events: Vec<Value> = exported.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(events.len(), 2500);
    for user in 0..5 {
        let mut own: Vec<&Value> = events.iter().filter(|e| e["user_id"] == format!("u{user}")).collect();
        own.sort_by_key(|e| e["timestamp"].as_str().unwrap().to_owned());
        assert_eq!(own.len(), 500);
        let sessions: Vec<&str> = own.iter().map(|e| e["session_id"].as_str().unwrap()).collect();
        assert!(sessions[..250].iter().all(|s| *s == sessions[0]), "u{user}'s first visit is one session");
        assert!(sessions[250..].iter().all(|s| *s == sessions[250]), "u{user}'s second visit is one session");
        assert_ne!(sessions[0], sessions[250]);
        assert_eq!(own[0]["event_id"], sessions[0], "a session is named after its first event");
        assert_eq!(own[250]["event_id"], sessions[250]);
    }
}
