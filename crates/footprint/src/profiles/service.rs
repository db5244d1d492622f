//! Seed 000's profiling components, by their seed names: [`FeatureExtractor`],
//! [`PreferenceCalculator`], [`PatternDetector`] and [`ProfileManager`]. Features and
//! preferences are read from the incremental profile that processing keeps (never a rescan of
//! the history); patterns are found in the user's events when asked, and kept until the user
//! has new events (`patterns_cache`).

use footprint_analytics::Consent;
use footprint_analytics::patterns::{self, Patterns};
use footprint_analytics::profile::{Features, Preference, ProfileEvent, ProfileState};
use footprint_store::{EventQuery, UserRecord};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::accounts::audit;
use crate::accounts::service as accounts;
use crate::app::state::AppState;
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;
use crate::profiles::patterns_cache::Stamp;
use crate::tracking::{consent, events};

/// Most events a pattern search reads (the most recent ones win beyond that).
const PATTERN_EVENTS_MAX: usize = 100_000;

/// The user named in a profile route, or 404.
pub async fn user(state: &AppState, user_id: &str) -> Result<UserRecord, ApiError> {
    state.store.user(user_id).await?.ok_or_else(|| ApiError::NotFound(format!("no user {user_id}")))
}

/// The user's profile state as processing left it (caught up first when the backlog is small:
/// `tracking::freshness`).
pub async fn profile_state(state: &AppState, user: &UserRecord) -> Result<ProfileState, ApiError> {
    crate::tracking::freshness::settle_for_read(state).await?;
    let record = state.store.profile_states(std::slice::from_ref(&user.user_key)).await?.into_iter().next();
    match record {
        Some(record) => serde_json::from_str(&record.state).map_err(ApiError::internal),
        None => Ok(ProfileState::default()),
    }
}

/// Features with their times as RFC 3339.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeaturesView {
    pub user_id: String,
    pub computed_at: String,
    pub first_seen_at: Option<String>,
    pub last_seen_at: Option<String>,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub features: Features,
}

#[derive(Clone)]
pub struct FeatureExtractor {
    state: AppState,
}

impl FeatureExtractor {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    /// The features of SPEC §4 for the user, now.
    pub async fn extract_features(&self, user_id: &str) -> Result<FeaturesView, ApiError> {
        let user = user(&self.state, user_id).await?;
        let profile = profile_state(&self.state, &user).await?;
        Ok(features_view(&self.state, &user, &profile))
    }
}

fn features_view(state: &AppState, user: &UserRecord, profile: &ProfileState) -> FeaturesView {
    let now_us = state.clock.now_us();
    let features = profile.features(now_us);
    FeaturesView {
        user_id: user.user_id.clone(),
        computed_at: rfc3339(now_us),
        first_seen_at: profile.first_us.map(rfc3339),
        last_seen_at: profile.last_us.map(rfc3339),
        features,
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PreferenceView {
    pub name: String,
    /// 0..1: the strongest preference is 1.
    pub score: f64,
    /// Σ weight × 2^(−age / half-life).
    pub raw_score: f64,
    /// Events behind it.
    pub count: u64,
    pub last_seen_at: String,
}

impl From<&Preference> for PreferenceView {
    fn from(preference: &Preference) -> Self {
        PreferenceView {
            name: preference.name.clone(),
            score: preference.score,
            raw_score: preference.raw_score,
            count: preference.count,
            last_seen_at: rfc3339(preference.last_seen_us),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PreferencesView {
    pub user_id: String,
    pub computed_at: String,
    pub half_life_days: f64,
    pub categories: Vec<PreferenceView>,
    pub items: Vec<PreferenceView>,
}

#[derive(Clone)]
pub struct PreferenceCalculator {
    state: AppState,
}

impl PreferenceCalculator {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    /// Decayed, weighted preference scores, top `limit` of categories and of items. Needs the
    /// user's `preferences` consent: without it, 403 `CONSENT_REQUIRED`.
    pub async fn calculate_preferences(&self, user_id: &str, limit: usize) -> Result<PreferencesView, ApiError> {
        let user = user(&self.state, user_id).await?;
        require_preferences_consent(&self.state, &user).await?;
        let profile = profile_state(&self.state, &user).await?;
        Ok(preferences_view(&self.state, &user, &profile, limit))
    }
}

async fn require_preferences_consent(state: &AppState, user: &UserRecord) -> Result<Consent, ApiError> {
    let consent = consent::current(state, &user.user_id).await?;
    if !consent.preferences {
        return Err(ApiError::ConsentRequired(format!(
            "user {} has not consented to preferences: no preference is computed (record it with POST /api/tracking/consent)",
            user.user_id
        )));
    }
    Ok(consent)
}

fn preferences_view(state: &AppState, user: &UserRecord, profile: &ProfileState, limit: usize) -> PreferencesView {
    let now_us = state.clock.now_us();
    let config = &state.config.profiles;
    let preferences = profile.preferences(now_us, config, limit.clamp(1, 100));
    PreferencesView {
        user_id: user.user_id.clone(),
        computed_at: rfc3339(now_us),
        half_life_days: config.preference_half_life_days,
        categories: preferences.categories.iter().map(PreferenceView::from).collect(),
        items: preferences.items.iter().map(PreferenceView::from).collect(),
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PatternsView {
    pub user_id: String,
    pub computed_at: String,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub patterns: Patterns,
}

#[derive(Clone)]
pub struct PatternDetector {
    state: AppState,
}

impl PatternDetector {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    /// Habits in the user's events (at most the last 100 000), found again only once the user
    /// has new events or a minute has passed (`patterns_cache`).
    pub async fn detect_patterns(&self, user_id: &str) -> Result<PatternsView, ApiError> {
        let user = user(&self.state, user_id).await?;
        // Unprocessed events are not in the stamp: with a lag, the habits are found again.
        let lag = crate::tracking::freshness::settle_for_read(&self.state).await?;
        let stamp = self
            .state
            .store
            .sequence_states(std::slice::from_ref(&user.user_key))
            .await?
            .first()
            .map(|record| Stamp { n_actions: record.n_actions, last_us: record.last_us })
            .unwrap_or_default();
        let kept =
            if lag == 0 { self.state.patterns.get(&user.user_key, stamp, self.state.clock.now_us()) } else { None };
        if let Some((patterns, computed_us)) = kept {
            return Ok(PatternsView { user_id: user.user_id, computed_at: rfc3339(computed_us), patterns });
        }
        let query = EventQuery { user_key: Some(user.user_key.clone()), ..EventQuery::default() };
        let mut events: Vec<(String, i64)> = events::read_all(&self.state, query)
            .await?
            .into_iter()
            .map(|event| (event.event_type, event.timestamp_us))
            .collect();
        if events.len() > PATTERN_EVENTS_MAX {
            events.drain(..events.len() - PATTERN_EVENTS_MAX);
        }
        let now_us = self.state.clock.now_us();
        let config = self.state.config.patterns.clone();
        let patterns = tokio::task::spawn_blocking(move || patterns::detect(&events, now_us, &config))
            .await
            .map_err(ApiError::internal)?;
        self.state.patterns.put(&user.user_key, stamp, now_us, patterns.clone());
        Ok(PatternsView { user_id: user.user_id, computed_at: rfc3339(now_us), patterns })
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProfileView {
    pub user_id: String,
    pub username: Option<String>,
    /// What the user (or staff) declared: display name, language, timezone, interests…
    #[schema(value_type = Object)]
    pub declared: Map<String, Value>,
    /// The declared profile's version (0: never set).
    pub version: i64,
    pub features: FeaturesView,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProfileVersionView {
    pub version: i64,
    #[schema(value_type = Object)]
    pub declared: Map<String, Value>,
    pub changed_by: String,
    pub changed_at: String,
}

#[derive(Clone)]
pub struct ProfileManager {
    state: AppState,
}

impl ProfileManager {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    pub async fn get_profile(&self, user_id: &str) -> Result<ProfileView, ApiError> {
        let user = user(&self.state, user_id).await?;
        let profile = profile_state(&self.state, &user).await?;
        let versions = self.state.store.profile_versions(&user.user_id).await?;
        Ok(ProfileView {
            user_id: user.user_id.clone(),
            username: user.username.clone(),
            declared: self.declared(&user)?,
            version: versions.last().map_or(0, |version| version.version),
            features: features_view(&self.state, &user, &profile),
            updated_at: rfc3339(user.updated_at_us),
        })
    }

    /// The user's declared profile alone; `NotFound` for an unknown user.
    pub async fn get_declared(&self, user_id: &str) -> Result<Map<String, Value>, ApiError> {
        let user = user(&self.state, user_id).await?;
        self.declared(&user)
    }

    fn declared(&self, user: &UserRecord) -> Result<Map<String, Value>, ApiError> {
        self.decrypt(user.profile_enc.as_deref())
    }

    fn decrypt(&self, stored: Option<&str>) -> Result<Map<String, Value>, ApiError> {
        let Some(stored) = stored else { return Ok(Map::new()) };
        let text = self.state.keys.cipher.decrypt(stored).map_err(ApiError::internal)?;
        serde_json::from_str(&text).map_err(ApiError::internal)
    }

    /// Replaces the declared profile (checked as account profiles are) and keeps the old one
    /// as a version.
    pub async fn update_profile(
        &self,
        user_id: &str,
        mut declared: Map<String, Value>,
        actor: &str,
    ) -> Result<ProfileView, ApiError> {
        let user = user(&self.state, user_id).await?;
        accounts::validate_profile(&mut declared).map_err(ApiError::Validation)?;
        let encrypted = self.state.keys.cipher.encrypt(&Value::Object(declared).to_string());
        let version =
            self.state.store.update_profile(&user.user_id, &encrypted, actor, self.state.clock.now_us()).await?;
        audit::record(
            &self.state,
            "profile.update",
            Some(actor),
            Some(&user.user_id),
            "success",
            json!({"version": version}),
        )
        .await;
        self.get_profile(user_id).await
    }

    /// Every version of the declared profile, oldest first.
    pub async fn history(&self, user_id: &str) -> Result<Vec<ProfileVersionView>, ApiError> {
        let user = user(&self.state, user_id).await?;
        self.state
            .store
            .profile_versions(&user.user_id)
            .await?
            .into_iter()
            .map(|version| {
                Ok(ProfileVersionView {
                    version: version.version,
                    declared: self.decrypt(Some(&version.profile_enc))?,
                    changed_by: version.changed_by,
                    changed_at: rfc3339(version.created_at_us),
                })
            })
            .collect()
    }
}

/// Preferences, or why they are not given (no `preferences` consent).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum PreferencesOrReason {
    Given(PreferencesView),
    Withheld { available: bool, reason: String },
}

/// The user's top `limit` preferences from `profile`, or why they are withheld.
pub async fn preferences_or_reason(
    state: &AppState,
    user: &UserRecord,
    profile: &ProfileState,
    limit: usize,
) -> Result<PreferencesOrReason, ApiError> {
    match require_preferences_consent(state, user).await {
        Ok(_) => Ok(PreferencesOrReason::Given(preferences_view(state, user, profile, limit))),
        Err(ApiError::ConsentRequired(reason)) => Ok(PreferencesOrReason::Withheld { available: false, reason }),
        Err(error) => Err(error),
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recalculated {
    /// `success`.
    pub status: &'static str,
    pub user_id: String,
    /// Events read to rebuild the profile.
    pub events: u64,
    /// Whether the rebuilt profile equals the one kept incrementally (it should).
    pub matched_incremental: bool,
    pub features: FeaturesView,
}

/// Rebuilds the user's profile from all their events and stores it in place of the one kept
/// incrementally, under the processing watermark (once processing has caught up, so that the
/// events committed before the call are among them).
pub async fn recalculate(state: &AppState, user_id: &str) -> Result<Recalculated, ApiError> {
    let user = user(state, user_id).await?;
    state.processor.catch_up(state.config.processing.catch_up_timeout_ms).await?;
    let config = state.config.profiles.clone();
    let processor = &state.processor;
    let (rebuilt, matched, events) = processor
        .exclusive(async {
            // Everything processed so far, nothing processed meanwhile.
            let watermark = state.store.processing_watermark(crate::tracking::processing::SEQUENCES).await?;
            let kept = state.store.profile_states(std::slice::from_ref(&user.user_key)).await?.into_iter().next();
            let mut rebuilt = ProfileState::default();
            let mut events = 0u64;
            let query = EventQuery { user_key: Some(user.user_key.clone()), ..EventQuery::default() };
            for event in events::read_all(state, query).await?.into_iter().filter(|event| event.seq <= watermark) {
                let profile_event = ProfileEvent::from_json_properties(
                    &event.event_type,
                    event.timestamp_us,
                    &event.properties,
                    &config,
                );
                rebuilt.observe(&profile_event, &config);
                events += 1;
            }
            let kept: ProfileState = match kept {
                Some(record) => serde_json::from_str(&record.state).map_err(ApiError::internal)?,
                None => ProfileState::default(),
            };
            let now_us = state.clock.now_us();
            let matched = kept.features(now_us) == rebuilt.features(now_us)
                && kept.sessions == rebuilt.sessions
                && kept.earlier_sessions == rebuilt.earlier_sessions;
            let record = footprint_store::ProfileStateRecord {
                user_key: user.user_key.clone(),
                state: serde_json::to_string(&rebuilt).map_err(ApiError::internal)?,
                updated_at_us: now_us,
            };
            let batch = footprint_store::SequenceBatch {
                processor: crate::tracking::processing::SEQUENCES.to_owned(),
                expected_watermark: watermark,
                new_watermark: watermark,
                deltas: Vec::new(),
                states: Vec::new(),
                profiles: vec![record],
                day_counts: Vec::new(),
                active_days: Vec::new(),
                user_days: Vec::new(),
                now_us,
            };
            if !state.store.commit_sequence_batch(batch).await? {
                return Err(ApiError::Conflict("processing moved on meanwhile: try again".to_owned()));
            }
            Ok::<_, ApiError>((rebuilt, matched, events))
        })
        .await?;
    Ok(Recalculated {
        status: "success",
        user_id: user.user_id.clone(),
        events,
        matched_incremental: matched,
        features: features_view(state, &user, &rebuilt),
    })
}
