//! Seed 001's integration example, for a Rust program that embeds Footprint: a
//! [`PrivacyManager`] and an [`EventCollector`] over a built [`App`](crate::App)'s state. They
//! call the same services as the HTTP API (same validation, same consent gate, same store).
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use footprint::tracking::{EventCollector, MatchProposedEvent, PrivacyManager};
//! use footprint::{App, Config};
//!
//! let app = App::build(Config::default()).await?;
//! let privacy_manager = PrivacyManager::new(app.state.clone());
//! let event_collector = EventCollector::new(privacy_manager.clone());
//!
//! let event = MatchProposedEvent {
//!     user_id: "user123".into(),
//!     match_id: "match456".into(),
//!     match_score: 0.85,
//!     alternatives_count: 5,
//!     constraint_satisfaction: [("skills".to_owned(), 0.8)].into(),
//!     ..MatchProposedEvent::default()
//! };
//! // Stored only if the user consented to analytics: `None` otherwise.
//! let event_id = event_collector.collect_event(&event).await?;
//! # Ok(()) }
//! ```

use footprint_analytics::Consent;
use footprint_store::ConsentRecord;

pub use crate::tracking::privacy::{AnonymizationReport, ErasureReport};
pub use crate::tracking::retention::CleanupReport;
pub use crate::tracking::schema::{
    MatchDecisionEvent, MatchFeedbackEvent, MatchProposedEvent, MatchViewedEvent, ToMatchEvent,
};

use crate::accounts::principal::{Principal, SCOPE_INGEST};
use crate::app::state::AppState;
use crate::kernel::error::ApiError;
use crate::tracking::privacy::user_id as user;
use crate::tracking::schema as matching;
use crate::tracking::{consent, privacy, retention};

/// The purposes a user consents to (seed 001).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Analytics,
    Preferences,
    Improvement,
}

/// The name in-process callers go by in the audit log.
const ACTOR: &str = "in-process";

/// Consent, pseudonyms and the user's rights, in-process.
#[derive(Clone)]
pub struct PrivacyManager {
    state: AppState,
}

impl PrivacyManager {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    pub async fn record_consent(&self, user_id: &str, consent: Consent) -> Result<ConsentRecord, ApiError> {
        consent::record(&self.state, &user(user_id)?, consent, ACTOR).await
    }

    /// The consent that applies now: the latest recorded, else the instance default.
    pub async fn consent(&self, user_id: &str) -> Result<Consent, ApiError> {
        consent::current(&self.state, user(user_id)?.as_str()).await
    }

    pub async fn has_consent(&self, user_id: &str, purpose: Purpose) -> Result<bool, ApiError> {
        let consent = self.consent(user_id).await?;
        Ok(match purpose {
            Purpose::Analytics => consent.analytics,
            Purpose::Preferences => consent.preferences,
            Purpose::Improvement => consent.improvement,
        })
    }

    /// The keyed pseudonym behavioural data is stored under.
    pub fn pseudonymize(&self, user_id: &str) -> String {
        self.state.keys.pseudonymizer.user_key(user_id)
    }

    /// An IP address truncated as it is stored (/24 for IPv4, /48 for IPv6); `None` if it is
    /// not an address.
    pub fn anonymize_ip(&self, ip: &str) -> Option<String> {
        footprint_analytics::privacy::truncate_ip(ip)
    }

    pub async fn cleanup_expired_data(&self) -> Result<CleanupReport, ApiError> {
        retention::cleanup(&self.state, ACTOR).await
    }

    pub async fn erase_user(&self, user_id: &str) -> Result<ErasureReport, ApiError> {
        privacy::erase(&self.state, &user(user_id)?, ACTOR).await
    }

    pub async fn anonymize_user(&self, user_id: &str) -> Result<AnonymizationReport, ApiError> {
        privacy::anonymize(&self.state, &user(user_id)?, ACTOR).await
    }

    /// Everything stored about the user, as the export route streams it.
    pub async fn export_user_data(&self, user_id: &str) -> Result<serde_json::Value, ApiError> {
        let body = privacy::export(&self.state, &user(user_id)?, ACTOR).await?;
        let bytes = axum::body::to_bytes(body, usize::MAX).await.map_err(ApiError::internal)?;
        serde_json::from_slice(&bytes).map_err(ApiError::internal)
    }
}

/// Collects match events, if the user consented.
#[derive(Clone)]
pub struct EventCollector {
    privacy: PrivacyManager,
}

impl EventCollector {
    pub fn new(privacy: PrivacyManager) -> Self {
        Self { privacy }
    }

    /// Stores the event and returns its id, or `None` when the user has not consented to
    /// analytics (nothing is stored). Invalid events are errors.
    pub async fn collect_event(&self, event: &impl ToMatchEvent) -> Result<Option<String>, ApiError> {
        let principal = Principal::ApiKey { key_id: ACTOR.to_owned(), scopes: vec![SCOPE_INGEST.to_owned()] };
        match matching::track(&self.privacy.state, &principal, event.to_match_event()?).await {
            Ok(event_id) => Ok(Some(event_id)),
            Err(ApiError::ConsentRequired(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }
}
