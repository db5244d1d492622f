//! Seed 002, as its README describes it: accounts, interactions, statistics, and the next-action
//! demo replayed exactly.

use footprint_analytics::{ConsentDefault, Role};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, body, error_code};

const FIRST_SCENARIO: [&str; 11] = [
    "connexion",
    "navigation sur la page d'accueil",
    "recherche de produits",
    "consultation de fiches produits",
    "ajout d'un produit au panier",
    "modification de la quantité dans le panier",
    "passage à la caisse",
    "saisie des informations de livraison",
    "sélection du mode de paiement",
    "confirmation de la commande",
    "déconnexion",
];

/// What the longer scenario adds after the first one.
const CONTINUATION: [&str; 12] = [
    "connexion",
    "recherche de produits",
    "consultation de fiches produits",
    "recherche de produits",
    "consultation de fiches produits",
    "recherche de produits",
    "consultation de fiches produits",
    "recherche de produits",
    "consultation de fiches produits",
    "ajout d'un produit au panier",
    "recherche de produits",
    "consultation de fiches produits",
];

async fn create_user(app: &TestApp, username: &str) -> reqwest::Response {
    app.post_json("/create_user", None, &json!({"username": username, "password": PASSWORD})).await
}

async fn seed_login(app: &TestApp, username: &str) -> String {
    let response = app.post_json("/login", None, &json!({"username": username, "password": PASSWORD})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let token = body(response).await;
    assert_eq!(token.as_object().unwrap().len(), 2, "exactly the README's shape: {token}");
    assert_eq!(token["token_type"], "bearer");
    token["access_token"].as_str().unwrap().to_owned()
}

async fn submit(app: &TestApp, token: Option<&str>, action: &str) -> Value {
    let response = app.post_json("/interactions/submit", token, &json!({"action": action})).await;
    assert_eq!(response.status(), StatusCode::OK, "{action}");
    body(response).await
}

/// A user as the README's demo creates one, who has consented to analytics.
async fn consenting_user(app: &TestApp, username: &str) -> String {
    assert_eq!(create_user(app, username).await.status(), StatusCode::OK);
    let token = seed_login(app, username).await;
    let consent =
        app.post_query("/api/tracking/consent", Some(&token), &[("user_id", username), ("analytics", "true")]).await;
    assert_eq!(consent.status(), StatusCode::OK);
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_demo_gives_the_readme_answers() {
    let app = TestApp::spawn().await;
    let token = consenting_user(&app, "acheteur").await;
    for action in FIRST_SCENARIO {
        assert_eq!(submit(&app, Some(&token), action).await, json!({"message": "Interaction enregistrée"}));
    }
    let first = body(app.get("/predict_next_action/acheteur", Some(&app.admin_token)).await).await;
    assert_eq!(
        first,
        json!({"message": "Aucune donnée de transition disponible après l'action 'déconnexion' pour l'utilisateur acheteur"})
    );
    for action in CONTINUATION {
        submit(&app, Some(&token), action).await;
    }
    let second = body(app.get("/predict_next_action/acheteur", Some(&app.admin_token)).await).await;
    assert_eq!(
        second,
        json!({
            "username": "acheteur",
            "last_action": "consultation de fiches produits",
            "predicted_next_action": "recherche de produits",
            "probability": 0.6
        })
    );
    // The variable-order model, for the same user, agrees and says what it used.
    let next = body(app.get("/api/v1/users/acheteur/next-actions?k=3", Some(&token)).await).await;
    assert_eq!(next["predictions"][0]["action"], "recherche de produits", "{next}");
    assert_eq!(next["model"], "user_and_global");
    assert_eq!(next["history_length"], 23);
    let total: f64 = next["predictions"].as_array().unwrap().iter().map(|p| p["probability"].as_f64().unwrap()).sum();
    assert!(total <= 1.0 + 1e-9 && next["predictions"].as_array().unwrap().len() == 3);
    assert_eq!(next["context"].as_array().unwrap().last().unwrap(), "consultation de fiches produits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_routes_answer_as_the_readme_says() {
    let app = TestApp::spawn().await;
    let created = create_user(&app, "nom_utilisateur").await;
    assert_eq!(created.status(), StatusCode::OK);
    assert_eq!(body(created).await["username"], "nom_utilisateur");
    assert_eq!(error_code(create_user(&app, "nom_utilisateur").await, StatusCode::BAD_REQUEST).await, "USER_EXISTS");
    let weak = app.post_json("/create_user", None, &json!({"username": "weak", "password": "123"})).await;
    assert_eq!(error_code(weak, StatusCode::BAD_REQUEST).await, "VALIDATION_ERROR");

    let token = seed_login(&app, "nom_utilisateur").await;
    let wrong =
        app.post_json("/login", None, &json!({"username": "nom_utilisateur", "password": "not-the-password"})).await;
    assert_eq!(error_code(wrong, StatusCode::BAD_REQUEST).await, "INVALID_CREDENTIALS");
    let form = app
        .client
        .post(app.url("/login"))
        .form(&[("username", "nom_utilisateur"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK, "a form body works too");

    let valid = body(app.post_json("/check-token", None, &json!({"access_token": token})).await).await;
    assert_eq!(valid, json!({"valid": true, "username": "nom_utilisateur"}));
    let with_type =
        body(app.post_json("/check-token", None, &json!({"access_token": token, "token_type": "bearer"})).await).await;
    assert_eq!(with_type["valid"], true);
    let invalid = body(app.post_json("/check-token", None, &json!({"access_token": "token_jwt"})).await).await;
    assert_eq!(invalid, json!({"valid": false, "username": null}));
    let missing = app.post_json("/check-token", None, &json!({})).await;
    assert_eq!(error_code(missing, StatusCode::UNPROCESSABLE_ENTITY).await, "VALIDATION_ERROR");

    let closed = TestApp::spawn_with(|config| config.auth.self_registration = false).await;
    assert_eq!(error_code(create_user(&closed, "x").await, StatusCode::FORBIDDEN).await, "FORBIDDEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submissions_follow_consent_and_belong_to_the_caller_or_anonymous() {
    let app = TestApp::spawn().await;
    let refused = submit(&app, None, "action_effectuée").await;
    assert_eq!(refused["collected"], false);
    assert!(refused["message"].as_str().unwrap().contains("anonymous"), "{refused}");
    app.grant_consent("anonymous").await;
    assert_eq!(submit(&app, None, "action_effectuée").await, json!({"message": "Interaction enregistrée"}));
    let listed = body(app.get("/interactions/anonymous", Some(&app.admin_token)).await).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["username"], "anonymous");
    assert_eq!(listed[0]["action"], "action_effectuée");

    let bad_token = app.post_json("/interactions/submit", Some("not-a-token"), &json!({"action": "x"})).await;
    assert_eq!(error_code(bad_token, StatusCode::UNAUTHORIZED).await, "INVALID_TOKEN");
    let blank = app.post_json("/interactions/submit", None, &json!({"action": " "})).await;
    assert_eq!(error_code(blank, StatusCode::UNPROCESSABLE_ENTITY).await, "VALIDATION_ERROR");
    let token = consenting_user(&app, "alice").await;
    let for_someone_else =
        app.post_json("/interactions/submit", Some(&token), &json!({"action": "x", "user_id": "bob"})).await;
    assert_eq!(error_code(for_someone_else, StatusCode::FORBIDDEN).await, "FORBIDDEN");
    let key = app.ingest_key().await;
    app.grant_consent("bob").await;
    let on_behalf = app.post_json("/interactions/submit", Some(&key), &json!({"action": "x", "user_id": "bob"})).await;
    assert_eq!(body(on_behalf).await, json!({"message": "Interaction enregistrée"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactions_are_listed_with_the_readme_shape() {
    let app = TestApp::spawn().await;
    let token = consenting_user(&app, "utilisateur1").await;
    submit(&app, Some(&token), "action1").await;
    submit(&app, Some(&token), "action2").await;
    let all = body(app.get("/interactions", Some(&app.admin_token)).await).await;
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 2);
    let first = all[0].as_object().unwrap();
    assert_eq!(first.keys().map(String::as_str).collect::<Vec<_>>(), vec!["id", "username", "action", "timestamp"]);
    assert!(first["id"].is_i64());
    assert_eq!((first["username"].as_str(), first["action"].as_str()), (Some("utilisateur1"), Some("action1")));
    let timestamp = first["timestamp"].as_str().unwrap();
    assert!(timestamp.len() >= 19 && !timestamp.ends_with('Z') && !timestamp.contains('+'), "naive ISO: {timestamp}");
    assert!(all[1]["id"].as_i64() > first["id"].as_i64());
    let paged = body(app.get(&format!("/interactions?after_id={}", first["id"]), Some(&app.admin_token)).await).await;
    assert_eq!(paged.as_array().unwrap().len(), 1);

    let mine = body(app.get("/interactions/utilisateur1", Some(&app.admin_token)).await).await;
    assert_eq!(mine.as_array().unwrap().len(), 2);
    assert_eq!(
        error_code(app.get("/interactions/ghost", Some(&app.admin_token)).await, StatusCode::NOT_FOUND).await,
        "NOT_FOUND"
    );
    assert_eq!(app.get("/interactions?limit=0", Some(&app.admin_token)).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predictions_say_why_when_they_cannot_answer() {
    let app = TestApp::spawn().await;
    consenting_user(&app, "quiet").await;
    let nothing = body(app.get("/predict_next_action/quiet", Some(&app.admin_token)).await).await;
    assert_eq!(nothing, json!({"message": "Aucune interaction enregistrée pour l'utilisateur quiet"}));
    assert_eq!(
        error_code(app.get("/predict_next_action/ghost", Some(&app.admin_token)).await, StatusCode::NOT_FOUND).await,
        "NOT_FOUND"
    );

    // A cold user gets the model shared by all users.
    let token = consenting_user(&app, "habitual").await;
    for _ in 0..5 {
        for action in ["login", "search", "logout"] {
            submit(&app, Some(&token), action).await;
        }
    }
    let cold = body(app.get("/api/v1/users/newcomer/next-actions", Some(&app.admin_token)).await).await;
    assert_eq!(cold["model"], "global");
    assert_eq!(cold["history_length"], 0);
    assert_eq!(cold["predictions"][0]["action"], "login", "{cold}");
    let bad_k = app.get("/api/v1/users/habitual/next-actions?k=0", Some(&token)).await;
    assert_eq!(error_code(bad_k, StatusCode::BAD_REQUEST).await, "INVALID_PARAMETERS");
}

/// Three users with 3, 2 and 1 interactions, plus the admin: totals worked out by hand.
async fn stats_fixture(app: &TestApp) -> Vec<String> {
    let mut tokens = Vec::new();
    for (name, n) in [("u1", 3), ("u2", 2), ("u3", 1)] {
        let token = consenting_user(app, name).await;
        for index in 0..n {
            submit(app, Some(&token), &format!("action{index}")).await;
        }
        tokens.push(token);
    }
    tokens
}

async fn stats_are_computed_and_follow_each_submit(app: &TestApp) {
    let tokens = stats_fixture(app).await;
    let usage = body(app.get("/stats/usage", Some(&app.admin_token)).await).await;
    assert_eq!(
        usage,
        json!({"usage_stats": {"total_interactions": 6, "total_users": 4, "accounts": 4, "active_users": 3}})
    );
    let interactions = body(app.get("/stats/interactions", Some(&app.admin_token)).await).await;
    assert_eq!(
        interactions,
        json!({"interactions_stats": [
            {"username": "u1", "interaction_count": 3},
            {"username": "u2", "interaction_count": 2},
            {"username": "u3", "interaction_count": 1}
        ]})
    );
    // A submit shows in the very next read of each statistic.
    submit(app, Some(&tokens[2]), "action0").await;
    submit(app, Some(&tokens[2]), "action1").await;
    submit(app, Some(&tokens[2]), "action2").await;
    let usage = body(app.get("/stats/usage", Some(&app.admin_token)).await).await;
    assert_eq!(usage["usage_stats"]["total_interactions"], 9);
    let interactions = body(app.get("/stats/interactions", Some(&app.admin_token)).await).await;
    assert_eq!(interactions["interactions_stats"][0], json!({"username": "u3", "interaction_count": 4}));
    // A new account changes the user count.
    create_user(app, "u4").await;
    let usage = body(app.get("/stats/usage", Some(&app.admin_token)).await).await;
    assert_eq!(usage["usage_stats"]["total_users"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_are_computed_and_follow_each_submit_with_the_local_cache() {
    let app = TestApp::spawn().await;
    assert_eq!(app.state.cache.kind(), "local");
    stats_are_computed_and_follow_each_submit(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_are_computed_and_follow_each_submit_with_redis() {
    let app = TestApp::spawn_with(|config| {
        config.store.redis_url = Some(footprint::config::Secret::new("redis://127.0.0.1:6379"));
        config.cache.redis_prefix = format!("footprint-test-{}:", ulid::Ulid::new());
    })
    .await;
    assert_eq!(app.state.cache.kind(), "redis");
    stats_are_computed_and_follow_each_submit(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_segments_users_by_what_they_do() {
    let app = TestApp::spawn_with(|config| config.privacy.consent_default = ConsentDefault::Grant).await;
    let key = app.ingest_key().await;
    let few = body(app.get("/stats/feedback", Some(&app.admin_token)).await).await;
    assert_eq!(few["feedback_stats"], json!([]));
    assert!(few["message"].as_str().unwrap().contains("3 utilisateurs"));
    let mut events = Vec::new();
    for n in 0..4 {
        for action in ["search", "add_to_cart", "purchase", "purchase"] {
            events.push(json!({"user_id": format!("buyer{n}"), "type": action}));
        }
        for action in ["search", "view", "view", "view", "search"] {
            events.push(json!({"user_id": format!("browser{n}"), "type": action}));
        }
    }
    assert_eq!(body(app.track_batch(&key, &events).await).await["accepted"], events.len());
    let stats = body(app.get("/stats/feedback", Some(&app.admin_token)).await).await;
    assert_eq!(stats["k"], 2, "{stats}");
    assert_eq!(stats["users"], 8);
    let cluster_of = |name: &str| {
        stats["feedback_stats"].as_array().unwrap().iter().find(|s| s["username"] == name).unwrap()["cluster"]
            .as_u64()
            .unwrap()
    };
    assert!((0..4).all(|n| cluster_of(&format!("buyer{n}")) == cluster_of("buyer0")));
    assert!((0..4).all(|n| cluster_of(&format!("browser{n}")) == cluster_of("browser0")));
    assert_ne!(cluster_of("buyer0"), cluster_of("browser0"));
    assert!(stats["silhouette"].as_f64().unwrap() > 0.5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_read_interactions_statistics_and_predictions() {
    let app = TestApp::spawn().await;
    let user = app.user_with_role("someone", Role::User).await;
    let manager = app.user_with_role("boss", Role::Manager).await;
    for path in [
        "/interactions",
        "/interactions/someone",
        "/stats/usage",
        "/stats/interactions",
        "/stats/feedback",
        "/predict_next_action/someone",
    ] {
        assert_eq!(error_code(app.get(path, None).await, StatusCode::UNAUTHORIZED).await, "UNAUTHORIZED", "{path}");
        assert_eq!(
            error_code(app.get(path, Some("bad-token")).await, StatusCode::UNAUTHORIZED).await,
            "INVALID_TOKEN",
            "{path}"
        );
        assert_eq!(error_code(app.get(path, Some(&user)).await, StatusCode::FORBIDDEN).await, "FORBIDDEN", "{path}");
        assert_eq!(error_code(app.get(path, Some(&manager)).await, StatusCode::FORBIDDEN).await, "FORBIDDEN", "{path}");
        assert_eq!(app.get(path, Some(&app.admin_token)).await.status(), StatusCode::OK, "{path}");
    }
}
