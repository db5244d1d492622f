//! Tracking (seed 001's core): events in (validation, the durable queue and its writer, the
//! request-level ingestion service), consent, reading events back, the derived processing of
//! the event log, the user's rights (erasure, anonymisation, export), retention, seed 001's
//! match-event schema, and its library face (`EventCollector`, `PrivacyManager`). Every other
//! area stores events through `ingest` and reads derived data after `processing` caught up.

pub mod consent;
pub mod events;
pub mod freshness;
pub mod http;
pub mod identity;
pub mod ingest;
pub mod library;
pub mod privacy;
pub mod processing;
pub mod queue;
pub mod retention;
pub mod schema;
pub mod sources;
pub mod transfer;
pub mod validate;

pub use library::{
    AnonymizationReport, CleanupReport, ErasureReport, EventCollector, MatchDecisionEvent, MatchFeedbackEvent,
    MatchProposedEvent, MatchViewedEvent, PrivacyManager, Purpose, ToMatchEvent,
};
