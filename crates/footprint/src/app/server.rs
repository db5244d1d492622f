//! Building a running Footprint from a `Config`: open the store, resolve the instance's
//! secrets, start the ingestion writer, bootstrap the admin, start the background jobs; then
//! serve until shutdown, drain the queue and stop the jobs.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use footprint_store::CommitOptions;
use tokio::net::TcpListener;

use crate::accounts::jwt::JwtKeys;
use crate::accounts::limits::{Limits, LocalLimiter, RateLimiter, RedisLimiter};
use crate::accounts::outbox::OutboxSender;
use crate::accounts::password::Passwords;
use crate::accounts::principal::Authenticator;
use crate::accounts::service as accounts;
use crate::app::config::Config;
use crate::app::secrets::{open_store, resolve_secrets};
use crate::app::state::AppState;
use crate::jobs::{self, Tasks};
use crate::kernel::cache::{Cache, LocalCache, RedisCache};
use crate::kernel::clock::{Clock, SystemClock};
use crate::kernel::telemetry::Metrics;
use crate::tracking::processing::Processor;
use crate::tracking::queue::{Ingestor, WriterHandle, WriterOptions};

/// How long shutdown waits for background runs (training, segmentation) under way.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(30);

/// A built instance: its state, and the ingestion writer to drain at shutdown (the other
/// background work is owned by `state.tasks`).
pub struct App {
    pub state: AppState,
    writer: WriterHandle,
}

impl App {
    pub async fn build(config: Config) -> anyhow::Result<App> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// The application without its background loops (processing, schedules, automation,
    /// webhooks), for a command that moves data in or out and exits (`import`, `export`): the
    /// server processes, and sends webhooks for, what such a command stored.
    pub async fn build_for_command(config: Config) -> anyhow::Result<App> {
        Self::assemble(config, Arc::new(SystemClock), false).await
    }

    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
        Self::assemble(config, clock, true).await
    }

    async fn assemble(config: Config, clock: Arc<dyn Clock>, background: bool) -> anyhow::Result<App> {
        let config = Arc::new(config);
        let store = open_store(&config).await?;
        let (jwt_secret, keys) = resolve_secrets(&config, store.as_ref()).await?;
        let metrics = Arc::new(Metrics::default());
        let ingest = &config.ingest;
        let writer_options = WriterOptions {
            commit: CommitOptions {
                session_gap_us: i64::try_from(ingest.session_gap_secs.as_micros()).unwrap_or(i64::MAX),
                consent_default: config.privacy.consent_default.consent(),
            },
            queue_capacity: ingest.queue_capacity,
            queue_capacity_bytes: ingest.queue_capacity_bytes,
            commit_batch_max: ingest.commit_batch_max,
        };
        let cache: Arc<dyn Cache> = match &config.store.redis_url {
            Some(url) => Arc::new(RedisCache::connect(url.expose(), &config.cache.redis_prefix).await?),
            None => Arc::new(LocalCache::default()),
        };
        let limiter: Box<dyn RateLimiter> = match &config.store.redis_url {
            Some(url) => Box::new(RedisLimiter::connect(url.expose(), &config.cache.redis_prefix).await?),
            None => Box::new(LocalLimiter::default()),
        };
        let limits = Arc::new(Limits::new(config.tiers.clone(), limiter));
        let processor = Arc::new(Processor::new(
            Arc::clone(&store),
            Arc::clone(&clock),
            Arc::clone(&cache),
            config.next_action,
            config.profiles.clone(),
            config.processing.batch_events,
        ));
        let wake = Arc::clone(&processor);
        let (ingestor, writer) =
            Ingestor::start(Arc::clone(&store), writer_options, Arc::clone(&metrics), Arc::new(move || wake.wake()));
        let jwt = JwtKeys::new(&jwt_secret, config.auth.token_ttl_secs);
        let auth = Arc::new(Authenticator::new(
            jwt,
            Arc::clone(&store),
            config.auth.api_key_cache_secs,
            config.auth.token_check_cache_ms,
        ));
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let passwords = Passwords::new(cpus);
        let analyses = Arc::new(tokio::sync::Semaphore::new(config.ml.max_concurrent_analyses));
        let sender = Arc::new(OutboxSender::new(Arc::clone(&store), keys.cipher.clone(), Arc::clone(&clock)));
        let state = AppState {
            tasks: Tasks::new(Arc::clone(&clock)),
            node: Arc::from(jobs::automation::node_name()),
            config,
            store,
            clock,
            keys: Arc::new(keys),
            auth,
            limits,
            usage: Arc::new(crate::accounts::usage::RequestCounter::default()),
            sender,
            passwords,
            ingest: ingestor,
            batch_parsing: Arc::new(tokio::sync::Semaphore::new(cpus.max(2))),
            analyses,
            processor,
            webhooks_wake: Arc::new(tokio::sync::Notify::new()),
            cache,
            patterns: Arc::default(),
            metrics,
        };
        accounts::bootstrap_admin(&state)
            .await
            .map_err(|error| anyhow::anyhow!("cannot create the configured admin: {error}"))?;
        if background {
            jobs::start(&state).await.map_err(|error| anyhow::anyhow!("cannot start the background jobs: {error}"))?;
        }
        Ok(App { state, writer })
    }

    /// Stops accepting events and commits everything queued, then stops the background loops
    /// and waits for the runs under way (at most [`SHUTDOWN_WAIT`]).
    pub async fn shutdown(self) {
        self.writer.shutdown().await;
        self.state.tasks.shutdown(SHUTDOWN_WAIT).await;
    }
}

/// Serves the API on `listener` until `shutdown` completes, then finishes in-flight requests
/// and commits every queued event before returning.
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let router = crate::http::router(app.state.clone());
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
        .context("the HTTP server failed")?;
    app.shutdown().await;
    Ok(())
}
