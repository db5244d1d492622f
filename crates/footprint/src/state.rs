//! The state every handler receives: trait objects for what varies (store, clock), the keys,
//! the authenticator, the ingestion queue and the metrics.

use std::sync::Arc;

use footprint_store::Store;

use crate::auth::Authenticator;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::{FieldCipher, Pseudonymizer};
use crate::ingest::Ingestor;
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
    pub ingest: Ingestor,
    pub metrics: Arc<Metrics>,
}
