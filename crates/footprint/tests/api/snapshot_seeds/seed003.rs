//! Snapshots: seed 003: accounts.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed003_account_routes() {
    let app = Snap::start(NOON).await;
    let admin = app.admin_token.clone();
    let premium = json!({
        "email": "user@example.com",
        "password": "mot_de_passe_securise",
        "tier": "premium",
        "profile_data": {"display_name": "Jean Dupont", "language": "fr", "timezone": "Europe/Paris"}
    });
    let created = app.post("seed003_post_api_v1_users", "/api/v1/users", Some(&admin), &premium).await;
    let id = created["user_id"].as_str().unwrap().to_owned();
    app.post("seed003_post_api_v1_users__taken", "/api/v1/users", Some(&admin), &premium).await;
    app.post(
        "seed003_post_api_v1_users__invalid",
        "/api/v1/users",
        Some(&admin),
        &json!({"email": "user@example", "password": "court", "tier": "gold"}),
    )
    .await;
    let login = json!({
        "email": "user@example.com",
        "password": "mot_de_passe_securise",
        "context": {"ip_address": "192.168.1.1", "user_agent": "Mozilla/5.0...", "device_id": "device_123"}
    });
    let token = app.post("seed003_post_api_v1_auth_login", "/api/v1/auth/login", None, &login).await;
    let token = token["access_token"].as_str().unwrap().to_owned();
    app.post(
        "seed003_post_api_v1_auth_login__wrong_password",
        "/api/v1/auth/login",
        None,
        &json!({"email": "user@example.com", "password": "pas_le_bon_mot"}),
    )
    .await;
    app.get("seed003_get_api_v1_users_id", &format!("/api/v1/users/{id}"), Some(&token)).await;
    app.get("seed003_get_api_v1_users_id__other_user", "/api/v1/users/admin", Some(&token)).await;
    app.get("seed003_get_api_v1_users_id__unknown", "/api/v1/users/user_123", Some(&admin)).await;
    let updates = json!({"updates": {"display_name": "Jeanne Dupont", "ai_preferences": {"personalization_level": "advanced", "mood_detection_enabled": true}}});
    app.put("seed003_put_api_v1_users_id", &format!("/api/v1/users/{id}"), Some(&token), &updates).await;
    app.put("seed003_put_api_v1_users_id__unknown", "/api/v1/users/user_123", Some(&admin), &updates).await;
    app.post(
        "seed003_post_api_v1_users_id_upgrade",
        &format!("/api/v1/users/{id}/upgrade"),
        Some(&admin),
        &json!({"new_tier": "enterprise"}),
    )
    .await;
    app.post(
        "seed003_post_api_v1_users_id_upgrade__unknown",
        "/api/v1/users/user_123/upgrade",
        Some(&admin),
        &json!({"new_tier": "enterprise"}),
    )
    .await;
    // The README's route that is not implemented yet.
    app.get("seed003_get_api_v1_users_id_insights", "/api/v1/users/user_123/insights", Some(&admin)).await;
}
