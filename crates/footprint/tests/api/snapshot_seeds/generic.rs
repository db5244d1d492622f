//! Snapshots: the generic API.

use super::*;

fn yoga() -> Value {
    json!({"id": "yoga-1", "name": "Yoga du mardi", "type": "Class", "start": "2025-01-21T18:00:00Z", "duration_minutes": 60,
           "location": "Lyon", "capacity": 20, "price": 12.5, "instructor": "Inès", "organization_id": "org-1",
           "weather": {"condition": "rain", "temperature_c": 9}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_api_routes() {
    let app = Snap::start(NOON).await;
    let admin = app.admin_token.clone();
    let token = Some(admin.as_str());
    app.get("health", "/health", None).await;
    app.get("ready", "/ready", None).await;

    // Tracking and consent.
    app.get("get_api_tracking_consent_user_id__no_record", "/api/tracking/consent/visitor", token).await;
    let at = |minute: i64| rfc3339(NOON - HOUR_US + minute * MINUTE_US);
    let sent = json!({"user_id": "visitor", "type": "page_view", "timestamp": at(0), "message_id": "msg-1",
                      "properties": {"page": "/home", "price": 12.5}, "context": {"ip": "203.0.113.195", "user_agent": "Mozilla/5.0"}});
    app.post("post_api_track__without_consent", "/api/track", token, &sent).await;
    app.post_params(
        "post_api_tracking_consent",
        "/api/tracking/consent",
        token,
        &[("user_id", "visitor"), ("analytics", "true"), ("preferences", "true"), ("improvement", "false")],
        None,
    )
    .await;
    app.post("post_api_track", "/api/track", token, &sent).await;
    app.post("post_api_track__duplicate", "/api/track", token, &sent).await;
    let key = app.ingest_key().await;
    let by_key = app.client.post(app.url("/api/track")).header("X-API-Key", &key).json(
        &json!({"user_id": "visitor", "type": "click", "timestamp": at(5), "properties": {"element_id": "buy_button"}}),
    );
    app.send("post_api_track__api_key", by_key).await;
    let batch = json!({"batch": [
        {"user_id": "visitor", "type": "page_view", "timestamp": at(10), "properties": {"page": "/cart"}},
        {"user_id": "visitor"},
        {"user_id": "stranger", "type": "page_view", "timestamp": at(11)},
        {"user_id": "visitor", "type": "purchase", "timestamp": at(50), "session_id": "app-session-7", "message_id": "m-2"},
        {"user_id": "visitor", "type": "purchase", "timestamp": at(50), "message_id": "m-2"}
    ]});
    app.post("post_api_track_batch", "/api/track/batch", token, &batch).await;
    app.get("get_api_v1_events", "/api/v1/events?user_id=visitor&limit=3", token).await;
    app.get("get_api_v1_events__type_filter", "/api/v1/events?type=purchase", token).await;
    app.get("get_api_v1_events__window", &format!("/api/v1/events?from={}&to={}", at(4), at(11)), token).await;
    app.get("get_api_v1_users_user_id_next_actions", "/api/v1/users/visitor/next-actions?k=2", token).await;
    app.get("get_api_v1_users_id__tracked_only", "/api/v1/users/visitor", token).await;

    // Attendance records.
    app.post("post_api_v1_attendance_events", "/api/v1/attendance/events", token, &yoga()).await;
    app.post("post_api_v1_attendance_events__conflict", "/api/v1/attendance/events", token, &yoga()).await;
    let mut unnamed = yoga();
    unnamed.as_object_mut().unwrap().remove("id");
    app.post("post_api_v1_attendance_events__generated_id", "/api/v1/attendance/events", token, &unnamed).await;
    let mut bad = yoga();
    bad["duration_minutes"] = json!(0);
    app.post("post_api_v1_attendance_events__invalid", "/api/v1/attendance/events", token, &bad).await;
    for (n, user) in ["ana", "bob"].iter().enumerate() {
        let registration = json!({"user_id": user, "registered_at": "2025-01-10T09:00:00Z"});
        let name = format!("post_api_v1_attendance_events_id_registrations__{n}");
        app.post(&name, "/api/v1/attendance/events/yoga-1/registrations", token, &registration).await;
    }
    let again = json!({"user_id": "ana", "registered_at": "2025-01-11T09:00:00Z"});
    app.post(
        "post_api_v1_attendance_events_id_registrations__again",
        "/api/v1/attendance/events/yoga-1/registrations",
        token,
        &again,
    )
    .await;
    app.put(
        "put_api_v1_attendance_events_id_registrations_user_id",
        "/api/v1/attendance/events/yoga-1/registrations/ana",
        token,
        &json!({"attended": true, "checked_in_at": "2025-01-21T17:58:00Z"}),
    )
    .await;
    app.put(
        "put_api_v1_attendance_events_id_registrations_user_id__not_registered",
        "/api/v1/attendance/events/yoga-1/registrations/carl",
        token,
        &json!({"attended": true}),
    )
    .await;
    app.get("get_api_v1_attendance_events_id", "/api/v1/attendance/events/yoga-1", token).await;
    let mut moved = yoga();
    moved["start"] = json!("2025-01-22T18:00:00Z");
    app.put("put_api_v1_attendance_events_id", "/api/v1/attendance/events/yoga-1", token, &moved).await;
    let lines = [
        json!({"id": "w1", "name": "Atelier", "type": "workshop", "start": "2025-01-07T10:00:00Z", "duration_minutes": 90,
               "registrations": [{"user_id": "ana", "registered_at": "2025-01-02T08:00:00Z", "attended": true},
                                 {"user_id": "bob", "registered_at": "2025-01-03T08:00:00Z", "attended": false}]})
        .to_string(),
        "{not json".to_owned(),
        json!({"id": "w9", "name": "Atelier", "type": "workshop", "start": "2025-01-07T10:00:00Z", "duration_minutes": 90, "capacty": 3})
            .to_string(),
        json!({"id": "w2", "name": "Atelier", "type": "workshop", "start": "hier", "duration_minutes": 90}).to_string(),
    ];
    app.ndjson("post_api_v1_attendance_import", "/api/v1/attendance/import", &admin, lines.join("\n")).await;
    app.get("get_api_v1_attendance_events", "/api/v1/attendance/events?limit=2", token).await;
    app.delete("delete_api_v1_attendance_events_id", "/api/v1/attendance/events/yoga-1", token).await;
    app.get("get_api_v1_attendance_events_id__deleted", "/api/v1/attendance/events/yoga-1", token).await;

    // The user's rights: export, anonymisation, erasure.
    let account = json!({"user_id": "eve", "username": "eve", "password": PASSWORD, "email": "eve@example.com",
                         "profile": {"display_name": "Eve", "language": "fr"}});
    let created = app.client.post(app.url("/api/v1/users")).bearer_auth(&admin).json(&account);
    app.quietly(created, StatusCode::CREATED).await;
    let eve = app.login_ok("eve", PASSWORD).await;
    app.grant_consent("eve").await;
    let eve_events = [
        json!({"user_id": "eve", "type": "page_view", "timestamp": at(20), "message_id": "e-1", "properties": {"page": "/a"}}),
        json!({"user_id": "eve", "type": "click", "timestamp": at(21), "properties": {"element_id": "b"}, "context": {"ip": "10.1.2.3"}}),
    ];
    app.quietly(
        app.client.post(app.url("/api/track/batch")).bearer_auth(&eve).json(&json!({"batch": eve_events})),
        StatusCode::OK,
    )
    .await;
    let registration = json!({"user_id": "eve", "registered_at": "2025-01-05T08:00:00Z"});
    let registered =
        app.client.post(app.url("/api/v1/attendance/events/w1/registrations")).bearer_auth(&admin).json(&registration);
    app.quietly(registered, StatusCode::CREATED).await;
    app.state.processor.catch_up(Duration::from_secs(10)).await.unwrap();
    app.get("get_api_v1_users_id_export", "/api/v1/users/eve/export", Some(&eve)).await;
    app.get("get_api_v1_users_id_export__other_user", "/api/v1/users/visitor/export", Some(&eve)).await;
    app.post("post_api_v1_users_id_anonymize", "/api/v1/users/visitor/anonymize", token, &json!({})).await;
    app.post("post_api_v1_users_id_anonymize__unknown", "/api/v1/users/nobody-here/anonymize", token, &json!({})).await;
    app.delete("delete_api_v1_users_id", "/api/v1/users/eve", Some(&eve)).await;
    app.delete("delete_api_v1_users_id__again", "/api/v1/users/eve", token).await;
}
