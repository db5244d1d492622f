//! The answers that gather the other components: the enriched profile (declared profile and
//! features, preferences, patterns, segment, next actions) and the recalculation (the profile
//! rebuilt from the events, then the user's segment).

use serde::Serialize;
use utoipa::ToSchema;

use crate::app::state::AppState;
use crate::interactions::predictions::NextActions;
use crate::kernel::error::ApiError;
use crate::profiles::segments::{self, ClusterOrReason};
use crate::profiles::service::{
    self as profiles, PatternDetector, PatternsView, PreferencesOrReason, ProfileManager, ProfileView, Recalculated,
};

/// Everything known about the user in one answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Enriched {
    /// The user's segment in the latest run (placed at its nearest centroid if they arrived
    /// since), or why there is none yet.
    pub cluster: ClusterOrReason,
    /// The variable-order model's three most probable next actions (null when unknown).
    #[schema(value_type = Option<Object>)]
    pub next_actions: Option<NextActions>,
    pub patterns: PatternsView,
    pub preferences: PreferencesOrReason,
    pub profile: ProfileView,
    pub user_id: String,
}

/// Everything known about the user in one answer. Preferences need consent and a segment needs
/// a segmentation: without them, the field says why it is missing.
pub async fn enriched(state: &AppState, user_id: &str, limit: usize) -> Result<Enriched, ApiError> {
    let user = profiles::user(state, user_id).await?;
    let profile = ProfileManager::new(state.clone()).get_profile(user_id).await?;
    let state_now = profiles::profile_state(state, &user).await?;
    let preferences = profiles::preferences_or_reason(state, &user, &state_now, limit).await?;
    let patterns = PatternDetector::new(state.clone()).detect_patterns(user_id).await?;
    let cluster = segments::cluster_or_reason(state, user_id).await?;
    let next_actions = match footprint_analytics::UserId::parse(&user.user_id) {
        Ok(id) => crate::interactions::predictions::next_actions(state, &id, 3).await.ok(),
        Err(_) => None,
    };
    Ok(Enriched { cluster, next_actions, patterns, preferences, profile, user_id: user_id.to_owned() })
}

/// A rebuilt profile and the user's segment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recalculation {
    #[serde(flatten)]
    pub profile: Recalculated,
    /// The user's segment: their place in the latest run, or the nearest centroid of it if they
    /// were not in it (kept); a run first if there is none and enough users have events; else
    /// why there is none.
    pub cluster: ClusterOrReason,
}

/// Rebuilds the user's profile from their events, then gives them their segment.
pub async fn recalculate(state: &AppState, user_id: &str) -> Result<Recalculation, ApiError> {
    let profile = profiles::recalculate(state, user_id).await?;
    let cluster = segments::segment_after_recalculation(state, user_id).await?;
    Ok(Recalculation { profile, cluster })
}
