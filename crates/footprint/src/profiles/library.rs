//! Seed 000's library face: `setup_profiling_system(config)` builds a Footprint instance and
//! returns its profiling components, wired to one store, by the seed's names. The HTTP server
//! uses the same components.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use footprint::profiling::setup_profiling_system;
//!
//! let system = setup_profiling_system(footprint::Config::default()).await?;
//! system.tracking_integration.track_event("12345", "click", serde_json::json!({"element_id": "apply_button"})).await?;
//! let stats = system.tracking_integration.process_recent_events().await?;
//! println!("{} events processed, {} profiles updated", stats.processed, stats.profiles_updated);
//! let features = system.feature_extractor.extract_features("12345").await?;
//! let app = axum::Router::new().merge(system.api.router());   // the profile routes in your app
//! # Ok(()) }
//! ```

use std::time::Duration;

use footprint_analytics::{EventType, UserId};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::app::state::AppState;
use crate::kernel::error::ApiError;
pub use crate::profiles::segments::UserClustering;
pub use crate::profiles::service::{FeatureExtractor, PatternDetector, PreferenceCalculator, ProfileManager};
use crate::tracking::ingest::{self, EventResult, ValidEvent};
use crate::tracking::processing::ProcessReport;
use crate::{App, Config};

/// Events in, profiles kept up to date.
pub struct TrackingIntegration {
    state: AppState,
    auto: Mutex<Option<(tokio::task::JoinHandle<()>, tokio::sync::watch::Sender<bool>)>>,
}

impl TrackingIntegration {
    pub fn new(state: AppState) -> Self {
        Self { state, auto: Mutex::new(None) }
    }

    /// Records an event through ingestion (validation, consent, durable commit).
    pub async fn track_event(
        &self,
        user_id: &str,
        event_type: &str,
        properties: Value,
    ) -> Result<EventResult, ApiError> {
        let invalid = |error: footprint_analytics::InvalidValue| ApiError::Validation(error.to_string());
        let Value::Object(properties) = properties else {
            return Err(ApiError::Validation("properties: must be an object".to_owned()));
        };
        let event = ValidEvent {
            user_id: UserId::parse(user_id).map_err(invalid)?,
            event_type: EventType::parse(event_type).map_err(invalid)?,
            properties: Value::Object(properties).to_string(),
            timestamp_us: self.state.clock.now_us(),
            session_id: None,
            message_id: None,
            context: r#"{"source":"library"}"#.to_owned(),
            consent: None,
        };
        let mut results = ingest::ingest(&self.state, vec![Ok(event)]).await?;
        results.pop().ok_or_else(|| ApiError::internal("no result for the event"))
    }

    /// Folds the next batch of stored events into profiles: `{processed, profiles_updated}`.
    pub async fn process_recent_events(&self) -> Result<ProcessReport, ApiError> {
        Ok(self.state.processor.process_recent_events().await?)
    }

    /// Processes new events every `interval` until [`Self::stop_auto_processing`] (the server
    /// also processes after each commit; this is for callers who want their own cadence).
    pub async fn start_auto_processing(&self, interval: Duration) {
        let mut auto = self.auto.lock().await;
        if auto.is_some() {
            return;
        }
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let mut shutdown = self.state.tasks.stopping();
        let processor = self.state.processor.clone();
        let handle = self.state.tasks.spawn_loop(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    _ = stopped.changed() => return,
                    _ = shutdown.changed() => return,
                }
                if let Err(error) = processor.process_recent_events().await {
                    tracing::warn!(error = %error, "auto-processing failed; retrying at the next interval");
                }
            }
        });
        *auto = Some((handle, stop));
    }

    pub async fn stop_auto_processing(&self) {
        if let Some((handle, stop)) = self.auto.lock().await.take() {
            let _ = stop.send(true);
            let _ = handle.await;
        }
    }
}

/// The profile routes as a router another axum app can mount.
#[derive(Clone)]
pub struct EnrichedProfilesApi {
    state: AppState,
}

impl EnrichedProfilesApi {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    pub fn router(&self) -> axum::Router {
        crate::http::profile_router(self.state.clone())
    }
}

/// Every component, on one store. Keep `app` alive (it runs ingestion and processing); call
/// `app.shutdown()` to stop them cleanly.
pub struct ProfilingSystem {
    pub app: App,
    pub feature_extractor: FeatureExtractor,
    pub profile_manager: ProfileManager,
    pub user_clustering: UserClustering,
    pub pattern_detector: PatternDetector,
    pub preference_calculator: PreferenceCalculator,
    pub tracking_integration: TrackingIntegration,
    pub api: EnrichedProfilesApi,
}

pub async fn setup_profiling_system(config: Config) -> anyhow::Result<ProfilingSystem> {
    let app = App::build(config).await?;
    Ok(components(app))
}

/// The components over an already built instance.
pub fn components(app: App) -> ProfilingSystem {
    let state = app.state.clone();
    ProfilingSystem {
        feature_extractor: FeatureExtractor::new(state.clone()),
        profile_manager: ProfileManager::new(state.clone()),
        user_clustering: UserClustering::new(state.clone()),
        pattern_detector: PatternDetector::new(state.clone()),
        preference_calculator: PreferenceCalculator::new(state.clone()),
        tracking_integration: TrackingIntegration::new(state.clone()),
        api: EnrichedProfilesApi::new(state),
        app,
    }
}
