//! A Footprint started for a benchmark: SQLite in a temp directory or PostgreSQL in a fresh
//! schema, an ingest API key, consent granted by default, and an admin's token on request.

use std::net::SocketAddr;

use anyhow::Context;
use footprint_analytics::{ConsentDefault, Role};
use footprint_store::{EventPosition, EventQuery, ScratchSchema};

use crate::accounts::api_key;
use crate::accounts::service::{self as accounts, NewUserRequest};
use crate::app::config::{Config, Secret};
use crate::app::server::{App, serve};
use crate::app::state::AppState;
use crate::kernel::clock::{Clock, SystemClock};

pub struct Target {
    pub state: AppState,
    pub address: SocketAddr,
    pub key: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
    _schema: Option<ScratchSchema>,
}

impl Target {
    pub async fn start(base: &Config, database_url: Option<&str>) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut config = base.clone();
        config.store.data_dir = dir.path().to_owned();
        config.privacy.consent_default = ConsentDefault::Grant;
        config.auth.admin_username = None;
        config.auth.admin_password = None;
        // What a bench times runs when the bench asks, not on a schedule of its own.
        config.insights.churn_training_interval_secs = std::time::Duration::ZERO;
        for schedule in [
            &mut config.automation.provisioning_schedule,
            &mut config.automation.analytics_schedule,
            &mut config.automation.tiers_schedule,
            &mut config.automation.cleanup_schedule,
        ] {
            schedule.clear();
        }
        let schema = match database_url {
            Some(url) => Some(ScratchSchema::create(url, "fp_bench").await.context("cannot use --database-url")?),
            None => None,
        };
        config.store.database_url = schema.as_ref().map(|schema| Secret::new(schema.url()));
        let app = App::build(config).await?;
        let (key, record) =
            api_key::generate("bench", vec!["ingest".to_owned()], footprint_analytics::Tier::Vip, SystemClock.now_us());
        app.state.store.insert_api_key(record).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = app.state.clone();
        let server = tokio::spawn(serve(app, listener, async {
            let _ = stopped.await;
        }));
        Ok(Self { state, address, key, stop, server, _dir: dir, _schema: schema })
    }

    /// An access token of an admin account created for the benchmark.
    pub async fn admin_token(&self) -> anyhow::Result<String> {
        let request = NewUserRequest {
            user_id: None,
            username: Some("bench-admin".to_owned()),
            email: None,
            password: Secret::new(crate::kernel::crypto::random_token(18)),
            role: Some(Role::Admin),
            // Unlimited: the benchmark measures the server, not the tier's budget.
            tier: Some(footprint_analytics::Tier::Vip),
            profile: None,
        };
        accounts::create_account(&self.state, request, "bench")
            .await
            .map_err(|error| anyhow::anyhow!("cannot create the bench admin: {error}"))?;
        let admin = self.state.store.user("bench-admin").await?.context("the bench admin was not stored")?;
        Ok(accounts::issue_token(&self.state, &admin).access_token)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn backend(&self) -> &'static str {
        self.state.store.backend()
    }

    pub async fn stored_events(&self) -> anyhow::Result<u64> {
        let mut total = 0;
        let mut after = None;
        loop {
            let page = self.state.store.events(EventQuery { limit: 100_000, after, ..Default::default() }).await?;
            let Some(last) = page.last() else { break };
            after = Some(EventPosition { timestamp_us: last.timestamp_us, seq: last.seq });
            total += page.len() as u64;
        }
        Ok(total)
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        if let Ok(Err(error)) = self.server.await {
            tracing::warn!(error = %error, "bench server stopped with an error");
        }
    }
}
