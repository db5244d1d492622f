//! Snapshots: seed 000: profiles.

use super::*;

/// The README's user "12345": six events over the two days before "now" (as in `profiles.rs`),
/// then the README's `track_event` click; three users who did the same but bought socks. Six
/// light users (a short visit: shoes and socks) and three heavy ones (daily visits over a week:
/// hats and scarves) to segment against.
async fn seed000_fixture(app: &Snap) {
    let now = app.clock.now_us();
    let d2 = (now.div_euclid(DAY_US) - 2) * DAY_US;
    let d1 = d2 + DAY_US;
    let at = |day: i64, hour: i64, minute: i64| rfc3339(day + hour * HOUR_US + minute * MINUTE_US);
    // The user, and three who behave alike but bought socks (sku-2): their peers.
    let mut events = Vec::new();
    for (user, bought) in [
        ("12345", ("shoes", "sku-1")),
        ("twin-0", ("socks", "sku-2")),
        ("twin-1", ("socks", "sku-2")),
        ("twin-2", ("socks", "sku-2")),
    ] {
        events.extend([
            json!({"user_id": user, "type": "page_view", "timestamp": at(d2, 9, 0), "properties": {"category": "shoes", "item_id": "sku-1"}}),
            json!({"user_id": user, "type": "click", "timestamp": at(d2, 9, 10), "properties": {"category": "shoes", "element_id": "buy_button", "item_id": "sku-1"}}),
            json!({"user_id": user, "type": "page_view", "timestamp": at(d2, 9, 20), "properties": {"category": "hats"}}),
            json!({"user_id": user, "type": "page_view", "timestamp": at(d1, 8, 0), "properties": {"category": "hats"}}),
            json!({"user_id": user, "type": "click", "timestamp": at(d1, 8, 5), "properties": {"category": "hats", "element_id": "wishlist"}}),
            json!({"user_id": user, "type": "purchase", "timestamp": at(d1, 18, 0), "properties": {"category": bought.0, "item_id": bought.1}}),
        ]);
        if user != "12345" {
            // The click the README sends for "12345" (below, through the API).
            events.push(json!({"user_id": user, "type": "click", "timestamp": rfc3339(now),
                "properties": {"element_id": "apply_button", "element_type": "button", "page": "/job/123"}}));
        }
    }
    for n in 0..6 {
        for (m, (category, item)) in [("shoes", "sku-1"), ("socks", "sku-9"), ("shoes", "sku-9")].iter().enumerate() {
            events.push(json!({"user_id": format!("light-{n}"), "type": "page_view", "timestamp": rfc3339(now - DAY_US + m as i64 * MINUTE_US),
                "properties": {"category": category, "item_id": item}}));
        }
    }
    for n in 0..3 {
        for day in 0..7 {
            for (m, category) in ["hats", "scarves", "hats", "scarves", "hats"].iter().enumerate() {
                let kind = if m % 2 == 0 { "page_view" } else { "click" };
                events.push(json!({"user_id": format!("heavy-{n}"), "type": kind,
                    "timestamp": rfc3339(now - day * DAY_US - 2 * HOUR_US + m as i64 * 5 * MINUTE_US), "properties": {"category": category}}));
            }
        }
    }
    let users = ["12345"].into_iter().map(str::to_owned).chain((0..3).map(|n| format!("twin-{n}")));
    let users = users.chain((0..6).map(|n| format!("light-{n}"))).chain((0..3).map(|n| format!("heavy-{n}")));
    for user in users {
        app.grant_consent(&user).await;
    }
    let response = app.track_batch(&app.admin_token, &events).await;
    assert_eq!(body(response).await["accepted"], events.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed000_profile_routes() {
    let app = Snap::start(NOON).await;
    let admin = app.admin_token.clone();
    let token = app.user_with_role("12345", Role::User).await;
    seed000_fixture(&app).await;

    app.get("seed000_get_api_profile_health", "/api/profile/health", None).await;
    app.post(
        "seed000_post_api_profile_auth",
        "/api/profile/auth",
        None,
        &json!({"username": "12345", "password": PASSWORD}),
    )
    .await;
    // The README's `tracking_integration.track_event(...)`.
    app.post(
        "seed000_post_api_track",
        "/api/track",
        Some(&token),
        &json!({"user_id": "12345", "type": "click",
                "properties": {"element_id": "apply_button", "element_type": "button", "page": "/job/123"}}),
    )
    .await;
    app.get("seed000_get_api_profile_user_id__without_token", "/api/profile/12345", None).await;
    app.get("seed000_get_api_profile_user_id", "/api/profile/12345", Some(&token)).await;
    app.get("seed000_get_api_profile_user_id_features", "/api/profile/12345/features", Some(&token)).await;
    app.get("seed000_get_api_profile_user_id_preferences", "/api/profile/12345/preferences", Some(&token)).await;
    app.get("seed000_get_api_profile_user_id_patterns", "/api/profile/12345/patterns", Some(&token)).await;
    app.get("seed000_get_api_profile_user_id_cluster__before_any_run", "/api/profile/12345/cluster", Some(&token))
        .await;

    let run = footprint::profiles::segments::UserClustering::new(app.state.clone()).update_clusters().await.unwrap();
    assert_eq!(run.n_users, 13);
    app.get("seed000_get_api_profile_clusters", "/api/profile/clusters", Some(&admin)).await;
    app.get("seed000_get_api_profile_user_id_cluster", "/api/profile/12345/cluster", Some(&token)).await;
    app.get("seed000_get_api_profile_user_id_enriched", "/api/profile/12345/enriched", Some(&token)).await;
    app.get("seed000_get_api_profile_user_id_recommendations", "/api/profile/12345/recommendations", Some(&token))
        .await;
    app.put(
        "seed000_put_api_profile_user_id",
        "/api/profile/12345",
        Some(&token),
        &json!({"profile": {"display_name": "Jean Dupont", "language": "fr", "timezone": "Europe/Paris"}}),
    )
    .await;
    app.get("seed000_get_api_profile_user_id_history", "/api/profile/12345/history", Some(&token)).await;
    app.post(
        "seed000_post_api_profile_user_id_recalculate",
        "/api/profile/12345/recalculate",
        Some(&token),
        &json!({}),
    )
    .await;
    app.get("seed000_get_api_profile_user_id__unknown_user", "/api/profile/nobody", Some(&admin)).await;
    app.get("seed000_get_api_profile_user_id__other_user", "/api/profile/light-0", Some(&token)).await;
    // Last: it starts a run in the background.
    app.post("seed000_post_api_profile_clusters_update", "/api/profile/clusters/update", Some(&admin), &json!({}))
        .await;
}
