//! The state every handler receives: trait objects for what varies (store, clock), the keys,
//! the authenticator, the ingestion queue and the metrics.

use std::sync::Arc;

use footprint_store::Store;

use crate::accounts::password::Passwords;
use crate::accounts::principal::Authenticator;
use crate::app::config::Config;
use crate::jobs::tasks::Tasks;
use crate::kernel::cache::Cache;
use crate::kernel::clock::Clock;
use crate::kernel::crypto::{FieldCipher, Pseudonymizer};
use crate::kernel::telemetry::Metrics;
use crate::tracking::processing::Processor;
use crate::tracking::queue::Ingestor;

/// The instance's keys for data at rest.
#[derive(Debug)]
pub struct Keys {
    pub cipher: FieldCipher,
    pub pseudonymizer: Pseudonymizer,
}

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<Keys>,
    pub auth: Arc<Authenticator>,
    /// Where messages to users (sign-in codes) go: the outbox by default.
    pub sender: Arc<dyn crate::accounts::outbox::MessageSender>,
    /// The tiers' request limits (seed 003).
    pub limits: Arc<crate::accounts::limits::Limits>,
    /// Requests per caller and hour not yet added to the store.
    pub usage: Arc<crate::accounts::usage::RequestCounter>,
    pub passwords: Passwords,
    pub ingest: Ingestor,
    /// Batches parsed and validated at the same time (each may be 10 MB).
    pub batch_parsing: Arc<tokio::sync::Semaphore>,
    /// `/api/ml` analyses running at the same time (`ml.max_concurrent_analyses`).
    pub analyses: Arc<tokio::sync::Semaphore>,
    pub processor: Arc<Processor>,
    /// Wakes the webhook loop when deliveries were queued.
    pub webhooks_wake: Arc<tokio::sync::Notify>,
    pub cache: Arc<dyn Cache>,
    /// Users' habits as last found, while they have no new event (this node's).
    pub patterns: Arc<crate::profiles::patterns_cache::PatternCache>,
    pub metrics: Arc<Metrics>,
    /// Every background task is spawned, recorded and stopped through it.
    pub tasks: Tasks,
    /// This node's name in the automation runs it records (host, process, a random part).
    pub node: Arc<str>,
}
