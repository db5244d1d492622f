//! Snapshots: seed 002: accounts, interactions, statistics, next action.

use super::*;

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

/// Creates a seed 002 user who consents to analytics, and submits `actions` a second apart.
async fn seed002_user(app: &Snap, username: &str, actions: &[&str]) -> String {
    let created = app.client.post(app.url("/create_user")).json(&json!({"username": username, "password": PASSWORD}));
    app.quietly(created, StatusCode::OK).await;
    let login = app.client.post(app.url("/login")).json(&json!({"username": username, "password": PASSWORD}));
    let token = app.quietly(login, StatusCode::OK).await["access_token"].as_str().unwrap().to_owned();
    let consent =
        app.client.post(app.url("/api/tracking/consent")).query(&[("user_id", username), ("analytics", "true")]);
    app.quietly(consent.bearer_auth(&token), StatusCode::OK).await;
    submit_all(app, &token, actions).await;
    token
}

async fn submit_all(app: &Snap, token: &str, actions: &[&str]) {
    for action in actions {
        app.clock.advance(SECOND_US);
        let submit =
            app.client.post(app.url("/interactions/submit")).bearer_auth(token).json(&json!({"action": action}));
        app.quietly(submit, StatusCode::OK).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed002_interaction_routes() {
    let app = Snap::start(NOON).await;
    let admin = app.admin_token.clone();
    let credentials = json!({"username": "nom_utilisateur", "password": "mot_de_passe"});
    app.post("seed002_post_create_user", "/create_user", None, &credentials).await;
    app.post("seed002_post_create_user__exists", "/create_user", None, &credentials).await;
    let token = app.post("seed002_post_login", "/login", None, &credentials).await;
    let token = token["access_token"].as_str().unwrap().to_owned();
    app.post(
        "seed002_post_login__invalid_credentials",
        "/login",
        None,
        &json!({"username": "nom_utilisateur", "password": "pas_le_bon"}),
    )
    .await;
    app.post("seed002_post_check_token", "/check-token", None, &json!({"access_token": token})).await;
    app.post("seed002_post_check_token__invalid", "/check-token", None, &json!({"access_token": "token_jwt"})).await;
    let action = json!({"action": "action_effectuée"});
    app.post("seed002_post_interactions_submit__without_consent", "/interactions/submit", Some(&token), &action).await;
    app.post("seed002_post_interactions_submit__anonymous", "/interactions/submit", None, &action).await;
    let consent = app
        .client
        .post(app.url("/api/tracking/consent"))
        .query(&[("user_id", "nom_utilisateur"), ("analytics", "true")]);
    app.quietly(consent.bearer_auth(&token), StatusCode::OK).await;
    app.post("seed002_post_interactions_submit", "/interactions/submit", Some(&token), &action).await;

    // The README's demo: "acheteur", first scenario, then the longer one.
    let acheteur = seed002_user(&app, "acheteur", &FIRST_SCENARIO).await;
    app.get("seed002_get_predict_next_action_username__first_scenario", "/predict_next_action/acheteur", Some(&admin))
        .await;
    submit_all(&app, &acheteur, &CONTINUATION).await;
    app.get("seed002_get_predict_next_action_username", "/predict_next_action/acheteur", Some(&admin)).await;
    app.get(
        "seed002_get_api_v1_users_user_id_next_actions",
        "/api/v1/users/acheteur/next-actions?k=3",
        Some(&acheteur),
    )
    .await;
    app.get("seed002_get_predict_next_action_username__unknown", "/predict_next_action/ghost", Some(&admin)).await;

    // Two more users, so that the feedback statistics have users to segment.
    seed002_user(&app, "utilisateur1", &["connexion", "recherche de produits", "recherche de produits", "déconnexion"])
        .await;
    seed002_user(&app, "utilisateur2", &["connexion", "ajout d'un produit au panier", "passage à la caisse"]).await;
    app.get("seed002_get_interactions", "/interactions", Some(&admin)).await;
    app.get("seed002_get_interactions__after_id", "/interactions?after_id=30&limit=3", Some(&admin)).await;
    app.get("seed002_get_interactions_username", "/interactions/utilisateur1", Some(&admin)).await;
    app.get("seed002_get_stats_usage", "/stats/usage", Some(&admin)).await;
    app.get("seed002_get_stats_interactions", "/stats/interactions", Some(&admin)).await;
    app.get("seed002_get_stats_feedback", "/stats/feedback", Some(&admin)).await;
    // The README's errors: 401 without a token, 403 for a user who is not an admin.
    app.get("seed002_get_stats_usage__without_token", "/stats/usage", None).await;
    app.get("seed002_get_interactions__not_admin", "/interactions", Some(&acheteur)).await;
}
