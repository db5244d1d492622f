//! The state every handler receives: trait objects for what varies (store, clock), the keys,
//! the authenticator, the ingestion queue and the metrics.

use std::sync::Arc;

use footprint_store::Store;

use crate::auth::Authenticator;
use crate::auth::password::Passwords;
use crate::cache::Cache;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::{FieldCipher, Pseudonymizer};
use crate::ingest::Ingestor;
use crate::processing::Processor;
use crate::telemetry::Metrics;

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
    pub passwords: Passwords,
    pub ingest: Ingestor,
    /// Batches parsed and validated at the same time (each may be 10 MB).
    pub batch_parsing: Arc<tokio::sync::Semaphore>,
    /// `/api/ml` analyses running at the same time (`ml.max_concurrent_analyses`).
    pub analyses: Arc<tokio::sync::Semaphore>,
    pub processor: Arc<Processor>,
    pub cache: Arc<dyn Cache>,
    pub metrics: Arc<Metrics>,
}
