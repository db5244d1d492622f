//! `TestApp`: the real server on 127.0.0.1:0 with a fresh store, and typed helpers so that
//! tests read like the API.

use std::sync::Arc;

use footprint::accounts::api_key;
use footprint::app::state::AppState;
use footprint::config::{Config, Secret};
use footprint::kernel::clock::{Clock, SystemClock};
use footprint::{App, serve};
use footprint_analytics::Role;
use footprint_store::ScratchSchema;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password";
pub const PASSWORD: &str = "a-good-password";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub data_dir: tempfile::TempDir,
    pub admin_token: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _pg_schema: Option<ScratchSchema>,
}

pub fn test_config(data_dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.server.host = "127.0.0.1".to_owned();
    config.server.port = 0;
    config.store.data_dir = data_dir.to_owned();
    config.auth.admin_username = Some(ADMIN.to_owned());
    config.auth.admin_password = Some(Secret::new(ADMIN_PASSWORD));
    // Tests make many calls with a user's token: the tiers' budgets are tested where they are
    // asked for (`limits.rs`, with the defaults back).
    config.tiers.free.requests_per_hour = 0;
    config.tiers.free.events_per_month = 0;
    config.tiers.premium.events_per_month = 0;
    // Scheduled jobs run where a test asks for them (`insights.rs`), not at times of their own.
    config.insights.churn_training_interval_secs = std::time::Duration::ZERO;
    for schedule in [
        &mut config.automation.provisioning_schedule,
        &mut config.automation.analytics_schedule,
        &mut config.automation.cleanup_schedule,
        &mut config.automation.tiers_schedule,
    ] {
        schedule.clear();
    }
    config
}

/// Secrets fixed for a test (an SQLite store): pseudonyms, and so what is ordered or split by
/// them (users listed in key order, the match model's validation rows), are the same on every run.
pub fn fixed_secrets(config: &mut Config) {
    let secrets = json!({
        "jwt_secret": "footprint snapshots: the signing secret of the tokens",
        "encryption_key": "Zm9vdHByaW50IHNuYXBzaG90czogZW5jcnlwdGlvbiE=",
        "pseudonym_key": "Zm9vdHByaW50IHNuYXBzaG90czogcHNldWRvbnltcyE=",
    });
    std::fs::write(config.store.data_dir.join("secrets.json"), secrets.to_string()).expect("secrets");
}

pub fn postgres_base_url() -> String {
    std::env::var("FOOTPRINT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(customise: impl FnOnce(&mut Config)) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(data_dir.path());
        customise(&mut config);
        Self::start(config, data_dir, None).await
    }

    /// The same server on a PostgreSQL schema of its own.
    pub async fn spawn_postgres_with(customise: impl FnOnce(&mut Config)) -> Self {
        let base = postgres_base_url();
        let schema = ScratchSchema::create(&base, "fp_api")
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL must be reachable at {base} (.ci/run starts it): {e}"));
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(data_dir.path());
        config.store.database_url = Some(Secret::new(schema.url()));
        customise(&mut config);
        Self::start(config, data_dir, Some(schema)).await
    }

    /// On SQLite, or on PostgreSQL when `postgres`, with `clock` as the server's time.
    pub async fn spawn_with_clock(postgres: bool, clock: Arc<dyn Clock>) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(data_dir.path());
        let mut schema = None;
        if postgres {
            let base = postgres_base_url();
            let scratch = ScratchSchema::create(&base, "fp_api")
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL must be reachable at {base} (.ci/run starts it): {e}"));
            config.store.database_url = Some(Secret::new(scratch.url()));
            schema = Some(scratch);
        }
        Self::start_with_clock(config, data_dir, schema, clock).await
    }

    /// On SQLite with `clock` as the server's time, and the configuration changed by `customise`
    /// (which may also prepare the data directory, `config.store.data_dir`).
    pub async fn spawn_with_clock_and(clock: Arc<dyn Clock>, customise: impl FnOnce(&mut Config)) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(data_dir.path());
        customise(&mut config);
        Self::start_with_clock(config, data_dir, None, clock).await
    }

    /// Another node of the same instance: this one's configuration (its PostgreSQL schema, with
    /// the secrets kept there) in a data directory of its own.
    pub async fn another_node(&self) -> Self {
        assert!(self.state.config.store.database_url.is_some(), "nodes share a PostgreSQL store");
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = (*self.state.config).clone();
        config.store.data_dir = data_dir.path().to_owned();
        Self::start(config, data_dir, None).await
    }

    async fn start(config: Config, data_dir: tempfile::TempDir, pg_schema: Option<ScratchSchema>) -> Self {
        Self::start_with_clock(config, data_dir, pg_schema, Arc::new(SystemClock)).await
    }

    async fn start_with_clock(
        config: Config,
        data_dir: tempfile::TempDir,
        pg_schema: Option<ScratchSchema>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = format!("http://{}", listener.local_addr().expect("address"));
        let app = App::build_with_clock(config, clock).await.expect("build the app");
        let state = app.state.clone();
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            serve(app, listener, async {
                let _ = stop.await;
            })
            .await
            .expect("server");
        });
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        let mut test_app = TestApp {
            address,
            client,
            state,
            data_dir,
            admin_token: String::new(),
            shutdown: Some(shutdown),
            server: Some(server),
            _pg_schema: pg_schema,
        };
        test_app.admin_token = test_app.login_ok(ADMIN, ADMIN_PASSWORD).await;
        test_app
    }

    /// Stops the server as a SIGTERM does and starts it again on the same data directory (and
    /// PostgreSQL schema), with the same configuration.
    pub async fn restart(mut self) -> Self {
        let config = (*self.state.config).clone();
        let data_dir = std::mem::replace(&mut self.data_dir, tempfile::tempdir().expect("temp dir"));
        let schema = self._pg_schema.take();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task");
        }
        drop(self);
        Self::start(config, data_dir, schema).await
    }

    /// Stops the server the way a SIGTERM does, waiting for the queue to drain.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    pub async fn post_query(&self, path: &str, token: Option<&str>, query: &[(&str, &str)]) -> Response {
        let mut request = self.client.post(self.url(path)).query(query);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    pub async fn login(&self, login: &str, password: &str) -> Response {
        self.post_json("/api/v1/auth/login", None, &json!({"username": login, "password": password})).await
    }

    pub async fn login_ok(&self, login: &str, password: &str) -> String {
        let response = self.login(login, password).await;
        assert_eq!(response.status(), StatusCode::OK, "login of {login}");
        body(response).await["access_token"].as_str().expect("access_token").to_owned()
    }

    /// Creates an account through the API as the admin and returns its access token.
    pub async fn user_with_role(&self, username: &str, role: Role) -> String {
        let response = self
            .post_json(
                "/api/v1/users",
                Some(&self.admin_token),
                &json!({"username": username, "password": PASSWORD, "role": role.as_str()}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "create {username}");
        self.login_ok(username, PASSWORD).await
    }

    /// An API key with the ingest scope, created as `footprint keys create` does.
    pub async fn ingest_key(&self) -> String {
        let (secret, record) =
            api_key::generate("tests", vec!["ingest".to_owned()], footprint_analytics::Tier::Vip, SystemClock.now_us());
        self.state.store.insert_api_key(record).await.expect("insert key");
        secret
    }

    pub async fn grant_consent(&self, user_id: &str) {
        let response = self
            .post_query(
                "/api/tracking/consent",
                Some(&self.admin_token),
                &[("user_id", user_id), ("analytics", "true"), ("preferences", "true"), ("improvement", "true")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    pub async fn track(&self, token: &str, event: &Value) -> Response {
        self.post_json("/api/track", Some(token), event).await
    }

    pub async fn track_batch(&self, token: &str, events: &[Value]) -> Response {
        self.post_json("/api/track/batch", Some(token), &json!({ "batch": events })).await
    }

    /// Every stored event of a user, through the API.
    pub async fn events_of(&self, user_id: &str) -> Vec<Value> {
        let response = self.get(&format!("/api/v1/events?limit=1000&user_id={user_id}"), Some(&self.admin_token)).await;
        assert_eq!(response.status(), StatusCode::OK);
        body(response).await["events"].as_array().expect("events").clone()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

pub async fn body(response: Response) -> Value {
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Asserts the JSON error shape and returns the error code.
pub async fn error_code(response: Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status);
    let body = body(response).await;
    assert_eq!(body["success"], json!(false), "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "an error says what to fix: {body}");
    body["error"]["code"].as_str().expect("code").to_owned()
}

pub fn event(user_id: &str, event_type: &str) -> Value {
    json!({"user_id": user_id, "type": event_type, "properties": {"page": "/home"}})
}
