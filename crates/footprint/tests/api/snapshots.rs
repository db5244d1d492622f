//! Snapshots of the JSON answers the seeds' example requests get, with their status codes, and
//! of `/openapi.json`: the shapes the API has today, pinned so that moving code around cannot
//! change them unnoticed.
//!
//! Each snapshotted request is one snapshot named after its route (`tests/api/snapshots/`);
//! the fixtures they stand on are sent without one. The server's clock stands still (it moves
//! only when a test moves it: a second before each snapshotted request) and its secrets are
//! fixed, so that everything computed from "now" or from pseudonyms is the same on every run;
//! ULIDs, date-times, tokens, keys and timings are replaced by [`redacted`].

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use footprint::kernel::clock::Clock;
use footprint_analytics::Role;
use footprint_analytics::attendance::synthetic;
use footprint_analytics::rng::SplitMix64;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::helpers::{ADMIN, ADMIN_PASSWORD, PASSWORD, TestApp, body};

const SECOND_US: i64 = 1_000_000;
const MINUTE_US: i64 = 60 * SECOND_US;
const HOUR_US: i64 = 60 * MINUTE_US;
const DAY_US: i64 = 24 * HOUR_US;
/// Wednesday 2025-01-15 12:00 UTC: "now" for the seeds that do not place time themselves.
const NOON: i64 = 1_736_942_400_000_000;

// ---------------------------------------------------------------------------------------------
// Redaction

/// Keys whose values are timings: they measure the machine, not the data.
const TIMING_KEYS: &[&str] = &["averageResponseTime", "averageResponseTimeMs", "maxResponseTimeMs", "trainingDuration"];

/// `value` with what differs between runs replaced by a placeholder: timings (by key, see
/// [`TIMING_KEYS`]), JWTs, API keys, and inside any string the ULIDs and RFC 3339 / ISO 8601
/// date-times. Everything else, key order included, is kept.
fn redacted(value: &Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, value)| {
                    let value = if TIMING_KEYS.contains(&key.as_str()) && !value.is_null() {
                        json!("[timing]")
                    } else {
                        redacted(value)
                    };
                    (key.clone(), value)
                })
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        Value::String(text) => Value::String(redacted_text(text)),
        other => other.clone(),
    }
}

fn redacted_text(text: &str) -> String {
    if is_jwt(text) {
        return "[jwt]".to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let at_boundary = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if at_boundary {
            if let Some((end, zoned)) = date_time_at(bytes, i) {
                out.push_str(if zoned { "[datetime]" } else { "[naive-datetime]" });
                i = end;
                continue;
            }
            if bytes[i..].starts_with(b"fp_") {
                let end =
                    i + 3 + bytes[i + 3..].iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count();
                out.push_str("[api-key]");
                i = end;
                continue;
            }
            let word = bytes[i..].iter().take_while(|b| b.is_ascii_alphanumeric()).count();
            if word == 26 && is_ulid(&bytes[i..i + 26]) {
                out.push_str("[ulid]");
                i += 26;
                continue;
            }
            if word > 0 {
                out.push_str(&text[i..i + word]);
                i += word;
                continue;
            }
        }
        let ch = text[i..].chars().next().unwrap_or_default();
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn is_jwt(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 3
        && text.starts_with("eyJ")
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// 26 characters of Crockford's base32 (either case), the first at most 7 (48 bits of time).
fn is_ulid(word: &[u8]) -> bool {
    word[0] <= b'7'
        && word.iter().all(|b| b.is_ascii_digit() || (b.is_ascii_alphabetic() && !b"iloIOLuU".contains(b)))
        && word.iter().any(u8::is_ascii_digit)
}

/// `YYYY-MM-DDTHH:MM:SS`, then optional fractional seconds and an optional `Z` or `±HH:MM`,
/// starting at `i`: where it ends, and whether it has a zone.
fn date_time_at(bytes: &[u8], i: usize) -> Option<(usize, bool)> {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd";
    let head = bytes.get(i..i + SHAPE.len())?;
    let fits = head.iter().zip(SHAPE).all(|(b, s)| if *s == b'd' { b.is_ascii_digit() } else { b == s });
    if !fits {
        return None;
    }
    let mut end = i + SHAPE.len();
    if bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
        end += 1 + bytes[end + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
    }
    match bytes.get(end) {
        Some(b'Z') => Some((end + 1, true)),
        Some(b'+' | b'-') => {
            let zone = bytes.get(end + 1..end + 6)?;
            let fits = zone[0..2].iter().chain(&zone[3..5]).all(u8::is_ascii_digit) && zone[2] == b':';
            fits.then_some((end + 6, true)).or(Some((end, false)))
        }
        _ => Some((end, false)),
    }
}

#[test]
fn redaction_replaces_only_what_differs_between_runs() {
    let value = json!({
        "id": "pred-01jq3v5k7m8n9p0qrstvwxyz12", "event_id": "01JQ3V5K7M8N9P0QRSTVWXYZ12",
        "at": "2024-03-15T10:00:00Z", "micro": "2024-12-05T12:34:56.123456Z", "offset": "2024-12-05T13:34:56+01:00",
        "naive": "2024-12-05T12:34:56.5", "date": "2024-03-01", "month": "2024-03",
        "text": "trained at 2024-03-15T10:00:00Z as model-01jq3v5k7m8n9p0qrstvwxyz12.",
        "access_token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", "key": "fp_ab12CD34_s3cr3t-",
        "trainingDuration": "0.00s", "averageResponseTimeMs": null, "duration_minutes": 60, "rate": 0.85,
        "word": "abcdefghjkmnpqrstvwxyz0123456", "zebra": 1, "weights": {"skills": 2.5, "location": -0.5}
    });
    assert_eq!(
        redacted(&value),
        json!({
            "id": "pred-[ulid]", "event_id": "[ulid]",
            "at": "[datetime]", "micro": "[datetime]", "offset": "[datetime]",
            "naive": "[naive-datetime]", "date": "2024-03-01", "month": "2024-03",
            "text": "trained at [datetime] as model-[ulid].",
            "access_token": "[jwt]", "key": "[api-key]-",
            "trainingDuration": "[timing]", "averageResponseTimeMs": null, "duration_minutes": 60, "rate": 0.85,
            "word": "abcdefghjkmnpqrstvwxyz0123456", "zebra": 1, "weights": {"skills": 2.5, "location": -0.5}
        })
    );
    let order: Vec<&String> = value.as_object().unwrap().keys().collect();
    let kept: Vec<String> = redacted(&value).as_object().unwrap().keys().cloned().collect();
    assert_eq!(order, kept.iter().collect::<Vec<_>>(), "key order is kept");
    let shown = redacted(&value);
    let weights: Vec<&str> = shown["weights"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(weights, ["skills", "location"], "nested objects keep their order too");
}

// ---------------------------------------------------------------------------------------------
// A server whose clock stands still, and requests that are snapshotted

/// The server's time: still, until the test moves it.
struct StillClock(AtomicI64);

impl Clock for StillClock {
    fn now(&self) -> OffsetDateTime {
        footprint::kernel::clock::from_us(self.0.load(Ordering::SeqCst))
    }
}

impl StillClock {
    fn advance(&self, us: i64) {
        self.0.fetch_add(us, Ordering::SeqCst);
    }
}

struct Snap {
    app: TestApp,
    clock: Arc<StillClock>,
}

impl std::ops::Deref for Snap {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl Snap {
    /// A server on SQLite whose clock stands at `now_us`, with fixed secrets: pseudonyms, and
    /// so the order in which the store lists users, are the same on every run. Users are
    /// segmented only when a test asks (not as their number grows, at a moment of its own).
    async fn start(now_us: i64) -> Self {
        let clock = Arc::new(StillClock(AtomicI64::new(now_us)));
        let app = TestApp::spawn_with_clock_and(clock.clone(), |config| {
            crate::helpers::fixed_secrets(config);
            config.processing.segmentation_growth = 0.0;
        })
        .await;
        Snap { app, clock }
    }

    fn with(&self, request: RequestBuilder, token: Option<&str>) -> RequestBuilder {
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Moves the clock on a second, sends, snapshots `{status, body}` under `name`, and returns
    /// the body as received (unredacted, for the ids and tokens the next requests need).
    async fn send(&self, name: &str, request: RequestBuilder) -> Value {
        self.clock.advance(SECOND_US);
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{name}: not JSON: {text}"))
        };
        let shown = redacted(&json!({"status": status, "body": body}));
        insta::assert_json_snapshot!(name, shown);
        body
    }

    async fn get(&self, name: &str, path: &str, token: Option<&str>) -> Value {
        self.send(name, self.with(self.client.get(self.url(path)), token)).await
    }

    async fn post(&self, name: &str, path: &str, token: Option<&str>, json_body: &Value) -> Value {
        self.send(name, self.with(self.client.post(self.url(path)).json(json_body), token)).await
    }

    /// `requests.post(url, params=…, json=…)` as seed 001's README sends it.
    async fn post_params(
        &self,
        name: &str,
        path: &str,
        token: Option<&str>,
        params: &[(&str, &str)],
        json_body: Option<&Value>,
    ) -> Value {
        let mut request = self.client.post(self.url(path)).query(params);
        if let Some(json_body) = json_body {
            request = request.json(json_body);
        }
        self.send(name, self.with(request, token)).await
    }

    async fn put(&self, name: &str, path: &str, token: Option<&str>, json_body: &Value) -> Value {
        self.send(name, self.with(self.client.put(self.url(path)).json(json_body), token)).await
    }

    async fn delete(&self, name: &str, path: &str, token: Option<&str>) -> Value {
        self.send(name, self.with(self.client.delete(self.url(path)), token)).await
    }

    async fn ndjson(&self, name: &str, path: &str, token: &str, lines: String) -> Value {
        let request = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", "application/x-ndjson")
            .body(lines);
        self.send(name, request).await
    }

    /// Sends without a snapshot, checking the status.
    async fn quietly(&self, request: RequestBuilder, expected: StatusCode) -> Value {
        let response = request.send().await.expect("request");
        let status = response.status();
        let answer = body(response).await;
        assert_eq!(status, expected, "{answer}");
        answer
    }
}

fn rfc3339(us: i64) -> String {
    footprint::kernel::clock::rfc3339(us)
}

// ---------------------------------------------------------------------------------------------
// Seed 000: profiles

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

// ---------------------------------------------------------------------------------------------
// Seed 001: consent, match events, metrics, model update, cleanup

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed001_tracking_routes() {
    let mut app = Snap::start(NOON).await;
    let admin = app.admin_token.clone();
    let token = Some(admin.as_str());
    // The README sends no credentials.
    let readme_consent =
        [("user_id", "user123"), ("analytics", "True"), ("preferences", "False"), ("improvement", "True")];
    app.post_params(
        "seed001_post_api_tracking_consent__without_token",
        "/api/tracking/consent",
        None,
        &readme_consent,
        None,
    )
    .await;
    app.get("seed001_get_api_metrics_acceptance__without_token", "/api/metrics/acceptance?days=30", None).await;
    // Python's requests sends True as "True".
    app.post_params("seed001_post_api_tracking_consent", "/api/tracking/consent", token, &readme_consent, None).await;
    app.get("seed001_get_api_tracking_consent_user_id", "/api/tracking/consent/user123", token).await;
    app.post_params(
        "seed001_post_api_tracking_event_match_proposed",
        "/api/tracking/event/match-proposed",
        token,
        &[
            ("user_id", "user123"),
            ("match_id", "match456"),
            ("match_score", "0.85"),
            ("alternatives_count", "5"),
            ("session_id", "session789"),
        ],
        Some(&json!({
            "match_parameters": {"weight_skill": 0.7, "weight_availability": 0.3},
            "constraint_satisfaction": {"location": 0.9, "skills": 0.8, "preferences": 0.7}
        })),
    )
    .await;
    app.post_params(
        "seed001_post_api_tracking_event_match_viewed",
        "/api/tracking/event/match-viewed",
        token,
        &[
            ("user_id", "user123"),
            ("match_id", "match456"),
            ("view_duration_seconds", "12.5"),
            ("view_complete", "true"),
        ],
        None,
    )
    .await;
    app.post_params(
        "seed001_post_api_tracking_event_match_decision",
        "/api/tracking/event/match-decision",
        token,
        &[("user_id", "user123"), ("match_id", "match456"), ("decision", "True"), ("decision_time_seconds", "30.5")],
        Some(&json!({"reasons": ["Compétences pertinentes", "Disponibilité compatible"]})),
    )
    .await;
    app.post_params(
        "seed001_post_api_tracking_event_match_feedback",
        "/api/tracking/event/match-feedback",
        token,
        &[
            ("user_id", "user123"),
            ("match_id", "match456"),
            ("rating", "4"),
            ("feedback_text", "Très bon matching, les compétences correspondaient parfaitement."),
        ],
        Some(&json!({"specific_aspects": {"relevance": 5, "timing": 4, "communication": 3}})),
    )
    .await;
    app.get("seed001_get_api_metrics_acceptance", "/api/metrics/acceptance?days=30", token).await;
    app.get("seed001_get_api_metrics_satisfaction", "/api/metrics/satisfaction?days=30", token).await;
    app.get("seed001_get_api_metrics_constraints", "/api/metrics/constraints?days=30", token).await;
    app.post_params("seed001_post_api_ml_update__one_match", "/api/ml/update", token, &[], None).await;
    app.post_params("seed001_post_api_privacy_cleanup", "/api/privacy/cleanup", token, &[], None).await;

    // Enough decided matches for the model: acceptance follows skills (seeded noise).
    app.grant_consent("learner").await;
    let mut rng = SplitMix64::new(7);
    for n in 0..60 {
        let (location, skills, preferences) = (rng.next_f64(), rng.next_f64(), rng.next_f64());
        let accepted = skills + 0.2 * (rng.next_f64() - 0.5) > 0.5;
        let (match_id, score) = (format!("m{n}"), format!("{:.3}", (location + skills + preferences) / 3.0));
        let proposal = app
            .client
            .post(app.url("/api/tracking/event/match-proposed"))
            .query(&[("user_id", "learner"), ("match_id", &match_id), ("match_score", &score), ("alternatives_count", "3")])
            .bearer_auth(&admin)
            .json(&json!({"constraint_satisfaction": {"location": location, "skills": skills, "preferences": preferences}}));
        app.clock.advance(SECOND_US);
        app.quietly(proposal, StatusCode::OK).await;
        app.clock.advance(SECOND_US);
        let decision = app
            .client
            .post(app.url("/api/tracking/event/match-decision"))
            .query(&[("user_id", "learner"), ("match_id", &match_id), ("decision", &accepted.to_string())])
            .bearer_auth(&admin);
        app.quietly(decision, StatusCode::OK).await;
    }
    app.post_params("seed001_post_api_ml_update", "/api/ml/update", token, &[], None).await;
    app.get("seed001_get_api_metrics_acceptance__with_the_model_fixture", "/api/metrics/acceptance?days=30", token)
        .await;
    app.get("seed001_get_api_metrics_constraints__with_the_model_fixture", "/api/metrics/constraints?days=30", token)
        .await;

    // A hundred days on, the raw match events have expired.
    app.state.processor.catch_up(Duration::from_secs(10)).await.unwrap();
    app.clock.advance(100 * DAY_US);
    app.app.admin_token = app.login_ok(ADMIN, ADMIN_PASSWORD).await;
    let admin = app.admin_token.clone();
    app.post_params(
        "seed001_post_api_privacy_cleanup__after_100_days",
        "/api/privacy/cleanup",
        Some(&admin),
        &[],
        None,
    )
    .await;
    app.get("seed001_get_api_metrics_acceptance__after_cleanup", "/api/metrics/acceptance?days=365", Some(&admin))
        .await;
}

// ---------------------------------------------------------------------------------------------
// Seed 002: accounts, interactions, statistics, next action

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

// ---------------------------------------------------------------------------------------------
// Seed 003: accounts

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
    // The README's routes that are not implemented.
    let updates = json!({"display_name": "Jeanne Dupont", "ai_preferences": {"personalization_level": "advanced", "mood_detection_enabled": true}});
    app.put("seed003_put_api_v1_users_id", "/api/v1/users/user_123", Some(&admin), &updates).await;
    app.get("seed003_get_api_v1_users_id_insights", "/api/v1/users/user_123/insights", Some(&admin)).await;
    app.post(
        "seed003_post_api_v1_users_id_upgrade",
        "/api/v1/users/user_123/upgrade",
        Some(&admin),
        &json!({"new_tier": "enterprise"}),
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Seed 004: attendance ML

/// Monday 2023-06-05: forty weeks of classes from here end in the week of 2024-03-04, inside
/// the README's training window (2023-01-01 to 2024-03-15).
const HISTORY_MONDAY: i64 = synthetic::MONDAY - 30 * 7 * DAY_US;
/// Friday 2024-03-15 10:00 UTC, the README's `generatedAt`.
const README_NOW: i64 = 1_710_496_800_000_000;

/// The generated history (seed 11) moved to start on `HISTORY_MONDAY`, with a planted drop:
/// nobody came to the Tuesday class of week 37 (2024-02-20), inside the README's anomaly window.
fn history() -> String {
    let (events, mut registrations) = synthetic::weekly_classes(40, 11);
    for registration in registrations.iter_mut().filter(|r| r.event_id == "e37-1") {
        registration.attended = Some(false);
    }
    footprint::attendance::records::import_lines(&events, &registrations, "Cours", HISTORY_MONDAY - synthetic::MONDAY)
        .join("\n")
}

/// The README's event ids, as next week's classes, with registrants from the history and the
/// README's `user-456`.
async fn upcoming_events(app: &Snap, admin: &str) {
    let day = |n: i64, hour: i64| rfc3339(1_710_460_800_000_000 + n * DAY_US + hour * HOUR_US);
    let events = [
        ("event-123", "Formation React Avancé", day(4, 18), vec!["user-456", "u1", "u2", "u3", "u5"]),
        ("event-456", "Cours", day(5, 10), vec!["u1", "u4", "u10"]),
        ("event-789", "Cours", day(6, 18), vec!["u2", "u5", "u6", "u7"]),
    ];
    for (id, name, start, users) in events {
        let event = json!({"id": id, "name": name, "type": "class", "start": start, "duration_minutes": 60, "price": 10.0,
                           "organization_id": "org-456"});
        let created = app.client.post(app.url("/api/v1/attendance/events")).bearer_auth(admin).json(&event);
        app.quietly(created, StatusCode::CREATED).await;
        for user in users {
            let registered_at = if user == "user-456" { "2024-03-10T14:00:00Z".to_owned() } else { day(-2, 9) };
            let registration = app
                .client
                .post(app.url(&format!("/api/v1/attendance/events/{id}/registrations")))
                .bearer_auth(admin)
                .json(&json!({"user_id": user, "registered_at": registered_at}));
            app.quietly(registration, StatusCode::CREATED).await;
        }
    }
}

async fn wait_trained(app: &Snap, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let model = body(app.app.get(&format!("/api/ml/models/{id}"), Some(&app.admin_token)).await).await;
        if model["data"]["status"] != "training" {
            assert_eq!(model["data"]["status"], "ready", "{model}");
            return;
        }
        assert!(Instant::now() < deadline, "the model is still training after 120 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed004_ml_routes() {
    let app = Snap::start(README_NOW).await;
    let admin = app.admin_token.clone();
    let manager = app.user_with_role("manon", Role::Manager).await;
    let user = app.user_with_role("ulysse", Role::User).await;
    let (admin, manager, user) = (Some(admin.as_str()), Some(manager.as_str()), Some(user.as_str()));

    app.ndjson("seed004_post_api_v1_attendance_import", "/api/v1/attendance/import", admin.unwrap(), history()).await;
    upcoming_events(&app, admin.unwrap()).await;

    let predict = json!({
        "eventId": "event-123",
        "predictionType": "individual",
        "timeHorizon": "7d",
        "factors": {"weather": true, "historical": true, "demographics": true, "seasonality": true},
        "participants": [{"userId": "user-456", "registrationDate": "2024-03-10T14:00:00Z", "previousAttendance": 0.85}]
    });
    app.get("seed004_get_api_ml_health__before_training", "/api/ml/health", user).await;
    app.post(
        "seed004_post_api_ml_predict_attendance__before_training",
        "/api/ml/predict-attendance",
        manager,
        &predict,
    )
    .await;

    let train = json!({
        "modelType": "attendance_predictor",
        "version": "1.4.0",
        "trainingData": {"startDate": "2023-01-01T00:00:00Z", "endDate": "2024-03-15T23:59:59Z", "includeWeather": true,
                         "includeHolidays": true, "minDataPoints": 1000},
        "hyperparameters": {"learningRate": 0.001, "epochs": 100, "batchSize": 32},
        "validationSplit": 0.2
    });
    let started = app.post("seed004_post_api_ml_models_train", "/api/ml/models/train", admin, &train).await;
    let id = started["data"]["modelId"].as_str().unwrap().to_owned();
    wait_trained(&app, &id).await;

    app.get("seed004_get_api_ml_health", "/api/ml/health", user).await;
    app.get("seed004_get_api_ml_health__staff", "/api/ml/health", manager).await;
    app.get("seed004_get_api_ml_models", "/api/ml/models?status=ready&type=predictor", admin).await;
    app.get("seed004_get_api_ml_models_id", &format!("/api/ml/models/{id}"), admin).await;
    app.get("seed004_get_api_ml_models_id_performance", &format!("/api/ml/models/{id}/performance"), manager).await;
    app.post("seed004_post_api_ml_predict_attendance", "/api/ml/predict-attendance", manager, &predict).await;
    // "Exemples d'utilisation": the same without participants (the event's registrants).
    let js_predict = json!({"eventId": "event-123", "predictionType": "individual", "timeHorizon": "7d",
                            "factors": {"weather": true, "historical": true, "demographics": true}});
    app.post("seed004_post_api_ml_predict_attendance__js_example", "/api/ml/predict-attendance", manager, &js_predict)
        .await;
    let batch = json!({"eventIds": ["event-123", "event-456", "event-789"], "predictionType": "aggregate",
                       "timeHorizon": "30d", "includeIndividual": false});
    app.post("seed004_post_api_ml_batch_predict", "/api/ml/batch-predict", manager, &batch).await;
    let recommendations = json!({
        "type": "event_optimization",
        "context": {"eventId": "event-123", "organizationId": "org-456", "timeframe": "next_month"},
        "focus": ["attendance_optimization", "scheduling", "engagement", "resource_allocation"]
    });
    app.post("seed004_post_api_ml_recommendations", "/api/ml/recommendations", manager, &recommendations).await;
    let js_recommendations = json!({"type": "event_optimization",
        "context": {"eventId": "event-123", "organizationId": "org-456"}, "focus": ["attendance_optimization", "scheduling"]});
    app.post(
        "seed004_post_api_ml_recommendations__js_example",
        "/api/ml/recommendations",
        manager,
        &js_recommendations,
    )
    .await;
    let anomalies = json!({
        "scope": "organization",
        "timeframe": {"start": "2024-02-01T00:00:00Z", "end": "2024-03-15T23:59:59Z"},
        "sensitivity": "medium",
        "categories": ["attendance_drops", "unusual_patterns", "outlier_events", "user_behavior"]
    });
    app.post("seed004_post_api_ml_anomalies", "/api/ml/anomalies", manager, &anomalies).await;
    let js_anomalies = json!({"scope": "organization",
        "timeframe": {"start": "2024-02-01T00:00:00Z", "end": "2024-03-15T23:59:59Z"}, "sensitivity": "medium"});
    app.post("seed004_post_api_ml_anomalies__js_example", "/api/ml/anomalies", manager, &js_anomalies).await;
    let insights = json!({
        "scope": "organization",
        "timeframe": "last_quarter",
        "categories": ["attendance_trends", "user_engagement", "event_performance", "operational_efficiency"],
        "depth": "detailed",
        "includeRecommendations": true
    });
    app.post("seed004_post_api_ml_insights", "/api/ml/insights", manager, &insights).await;
    let factors = json!({
        "eventId": "event-123",
        "factors": ["weather", "day_of_week", "time_of_day", "event_type", "duration", "location", "price",
                    "instructor", "historical_attendance"],
        "analysisType": "correlation"
    });
    app.post("seed004_post_api_ml_analyze_factors", "/api/ml/analyze-factors", manager, &factors).await;
    let mut test = json!({
        "modelId": "model-attendance-pred-v1",
        "testData": {"userId": "user-123", "eventId": "event-456", "eventDate": "2024-03-20T10:00:00Z",
                     "dayOfWeek": "wednesday", "weather": "sunny", "historicalRate": 0.85}
    });
    app.post("seed004_post_api_ml_test_prediction__readme_model_id", "/api/ml/test-prediction", admin, &test).await;
    test["modelId"] = json!(id);
    app.post("seed004_post_api_ml_test_prediction", "/api/ml/test-prediction", admin, &test).await;
    app.get(
        "seed004_get_api_ml_analytics",
        "/api/ml/analytics?period=week&metrics=usage,performance,accuracy",
        manager,
    )
    .await;
    // Roles and errors of the README's table.
    app.post("seed004_post_api_ml_predict_attendance__user_role", "/api/ml/predict-attendance", user, &predict).await;
    app.get("seed004_get_api_ml_models__manager_role", "/api/ml/models", manager).await;
    app.get("seed004_get_api_ml_models_id__unknown", "/api/ml/models/model-attendance-pred-v1", admin).await;
    app.post(
        "seed004_post_api_ml_anomalies__invalid_parameters",
        "/api/ml/anomalies",
        manager,
        &json!({"sensitivity": "extreme"}),
    )
    .await;
    app.post(
        "seed004_post_api_ml_insights__insufficient_data",
        "/api/ml/insights",
        manager,
        &json!({"timeframe": {"start": "2020-01-01T00:00:00Z", "end": "2020-06-01T00:00:00Z"}}),
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// The generic API

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

// ---------------------------------------------------------------------------------------------
// Errors and the OpenAPI document

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
