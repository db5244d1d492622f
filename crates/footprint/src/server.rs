//! Building a running Footprint from a `Config`: open the store, resolve the instance's
//! secrets, start the ingestion writer, bootstrap the admin; then serve until shutdown and
//! drain the queue.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use footprint_store::{CommitOptions, PostgresOptions, SqliteOptions, Store, StoreLocation};
use tokio::net::TcpListener;

use crate::auth::Authenticator;
use crate::auth::jwt::JwtKeys;
use crate::auth::password::Passwords;
use crate::cache::{Cache, LocalCache, RedisCache};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Secret};
use crate::crypto::{FieldCipher, Pseudonymizer, decode_key, random_base64};
use crate::ingest::{Ingestor, WriterHandle, WriterOptions};
use crate::processing::Processor;
use crate::services::accounts;
use crate::state::{AppState, Keys};
use crate::telemetry::Metrics;
use crate::vault::SecretVault;

/// A built instance: its state, and the background work to stop at shutdown.
pub struct App {
    pub state: AppState,
    writer: WriterHandle,
    processing: tokio::task::JoinHandle<()>,
    scheduled: Vec<tokio::task::JoinHandle<()>>,
    stop_processing: tokio::sync::watch::Sender<bool>,
}

impl App {
    pub async fn build(config: Config) -> anyhow::Result<App> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
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
        let (stop_processing, stopped) = tokio::sync::watch::channel(false);
        let processing = processor.start(config.processing.interval_ms, config.processing.debounce_ms, stopped.clone());
        let jwt = JwtKeys::new(&jwt_secret, config.auth.token_ttl_secs);
        let auth = Arc::new(Authenticator::new(jwt, Arc::clone(&store), config.auth.api_key_cache_secs));
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let passwords = Passwords::new(cpus);
        let analyses = Arc::new(tokio::sync::Semaphore::new(config.ml.max_concurrent_analyses));
        let state = AppState {
            config,
            store,
            clock,
            keys: Arc::new(keys),
            auth,
            passwords,
            ingest: ingestor,
            batch_parsing: Arc::new(tokio::sync::Semaphore::new(cpus.max(2))),
            analyses,
            processor,
            cache,
            metrics,
        };
        accounts::bootstrap_admin(&state)
            .await
            .map_err(|error| anyhow::anyhow!("cannot create the configured admin: {error}"))?;
        let scheduled = crate::schedule::start(&state, &stopped);
        Ok(App { state, writer, processing, scheduled, stop_processing })
    }

    /// Stops accepting events, commits everything queued, and stops processing.
    pub async fn shutdown(self) {
        self.writer.shutdown().await;
        let _ = self.stop_processing.send(true);
        if let Err(error) = self.processing.await {
            tracing::error!(error = %error, "event processing stopped abnormally");
        }
        for job in self.scheduled {
            if let Err(error) = job.await {
                tracing::error!(error = %error, "a scheduled job stopped abnormally");
            }
        }
    }
}

pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let location =
        StoreLocation::resolve(config.store.database_url.as_ref().map(Secret::expose), &config.store.data_dir)?;
    let sqlite = SqliteOptions {
        synchronous: config.store.sqlite_synchronous,
        read_connections: config.store.sqlite_read_connections,
    };
    let postgres = PostgresOptions { pool_size: config.store.postgres_pool_size };
    let store = footprint_store::open(&location, &sqlite, &postgres).await.with_context(|| match &location {
        StoreLocation::Sqlite(path) => {
            format!("cannot open the SQLite store at {}", path.display())
        }
        StoreLocation::Postgres(_) => "cannot open the PostgreSQL store given by DATABASE_URL".to_owned(),
    })?;
    tracing::info!(backend = store.backend(), "store ready");
    Ok(store)
}

/// The JWT secret and the data keys: from the configuration when given, otherwise generated
/// once and kept (see [`SecretVault`]), so that a restart (or another node) uses the same ones.
/// The fingerprints of the data keys are kept in the store: a key that does not match the data
/// is refused at start rather than corrupting it.
pub async fn resolve_secrets(config: &Config, store: &dyn Store) -> anyhow::Result<(Vec<u8>, Keys)> {
    let vault = match store.backend() {
        "sqlite" => SecretVault::File(config.store.data_dir.join("secrets.json")),
        _ => SecretVault::Store(store),
    };
    let jwt_secret = match &config.auth.jwt_secret {
        Some(secret) => secret.expose().to_owned(),
        None => vault.get_or_create("jwt_secret", random_base64(48)).await?,
    };
    let encryption_key = match &config.privacy.encryption_key {
        Some(key) => decode_key(key.expose())?,
        None => {
            if matches!(vault, SecretVault::Store(_)) {
                tracing::warn!(
                    "FOOTPRINT_ENCRYPTION_KEY is not set: the generated key is kept in the database it protects; \
                     give the key from outside to keep them apart"
                );
            }
            decode_key(&vault.get_or_create("encryption_key", random_base64(32)).await?)?
        }
    };
    let pseudonym_key = decode_key(&vault.get_or_create("pseudonym_key", random_base64(32)).await?)?;
    for (name, key, remedy) in [
        (
            "encryption_key_fingerprint",
            &encryption_key,
            "start with the FOOTPRINT_ENCRYPTION_KEY the data was written with",
        ),
        (
            "pseudonym_key_fingerprint",
            &pseudonym_key,
            "restore the secrets file (or database) the data was written with",
        ),
    ] {
        let fingerprint = Pseudonymizer::fingerprint(key);
        if store.secret(name, fingerprint.clone()).await? != fingerprint {
            anyhow::bail!(
                "the {} does not match this store's data: {remedy}",
                name.trim_end_matches("_fingerprint").replace('_', " ")
            );
        }
    }
    let keys = Keys { cipher: FieldCipher::new(&encryption_key), pseudonymizer: Pseudonymizer::new(pseudonym_key) };
    Ok((jwt_secret.into_bytes(), keys))
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
