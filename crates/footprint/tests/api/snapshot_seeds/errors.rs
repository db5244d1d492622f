//! Snapshots: errors and the OpenAPI document.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_answers() {
    let app = Snap::start(NOON).await;
    let admin = app.admin_token.clone();
    let user = app.user_with_role("someone", Role::User).await;
    app.get("error_401_get_api_v1_events__without_token", "/api/v1/events", None).await;
    app.get("error_401_get_api_v1_events__invalid_token", "/api/v1/events", Some("not-a-token")).await;
    app.get("error_403_get_stats_usage__user_role", "/stats/usage", Some(&user)).await;
    app.post(
        "error_403_post_api_track__other_user",
        "/api/track",
        Some(&user),
        &json!({"user_id": "bob", "type": "click"}),
    )
    .await;
    app.get("error_404_unknown_route", "/no/such/route", None).await;
    app.delete("error_405_delete_health", "/health", None).await;
    app.post(
        "error_422_post_api_track__validation",
        "/api/track",
        Some(&admin),
        &json!({"user_id": "u", "type": "c", "timestamp": "tomorrow"}),
    )
    .await;
    app.post("error_422_post_api_v1_auth_login__missing_field", "/api/v1/auth/login", None, &json!({"password": "x"}))
        .await;
    let malformed = app
        .client
        .post(app.url("/api/track"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{\"user_id\": ");
    app.send("error_400_post_api_track__invalid_json", malformed).await;
    app.get("error_400_get_api_v1_events__invalid_parameters", "/api/v1/events?limit=0", Some(&admin)).await;
    let plain =
        app.client.post(app.url("/api/track")).bearer_auth(&admin).header("content-type", "text/plain").body("x");
    app.send("error_415_post_api_track__not_json", plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document() {
    let app = Snap::start(NOON).await;
    app.get("get_openapi_json", "/openapi.json", None).await;
}
