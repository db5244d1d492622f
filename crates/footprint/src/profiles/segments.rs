//! Seed 000's `UserClustering` (segments of users by behaviour, computed off the request path
//! and recorded run by run; a user who arrived since the latest run is placed at its nearest
//! centroid when asked, and kept there) and the recommendations drawn from a user's preferences
//! and what their segment's peers engage with.

use std::collections::{BTreeMap, BTreeSet};

use footprint_analytics::profile::ProfileState;
use footprint_analytics::segmentation::{self, MIN_USERS, SegmentModel, Segmentation, TraitComparison};
use footprint_store::{ClusterAssignment, ClusterRun, UserRecord};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::app::state::AppState;
use crate::kernel::clock::rfc3339;
use crate::kernel::error::ApiError;
use crate::profiles::service::{self as profiles, profile_state};

const PAGE: u32 = 10_000;
const PEERS_MAX: u32 = 500;
/// The job segmentation runs are recorded under, whatever started them.
pub const JOB: &str = "segmentation";

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunView {
    pub run_id: String,
    pub created_at: String,
    pub k: i64,
    pub silhouette: f64,
    pub n_users: i64,
    #[schema(value_type = Object)]
    pub model: SegmentModel,
}

fn run_view(run: &ClusterRun) -> Result<RunView, ApiError> {
    Ok(RunView {
        run_id: run.run_id.clone(),
        created_at: rfc3339(run.created_at_us),
        k: run.k,
        silhouette: run.silhouette,
        n_users: run.n_users,
        model: serde_json::from_str(&run.model).map_err(ApiError::internal)?,
    })
}

#[derive(Clone)]
pub struct UserClustering {
    state: AppState,
}

impl UserClustering {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    /// Segments every profiled user now and records the run. The computation runs on the
    /// blocking pool. Under [`MIN_USERS`] users: `INSUFFICIENT_DATA`.
    pub async fn update_clusters(&self) -> Result<RunView, ApiError> {
        let state = &self.state;
        state.processor.catch_up(state.config.processing.catch_up_timeout_ms).await?;
        let now_us = state.clock.now_us();
        let mut keys = Vec::new();
        let mut vectors = Vec::new();
        let mut after = String::new();
        loop {
            let page = state.store.all_profile_states(&after, PAGE).await?;
            let full = page.len() == PAGE as usize;
            if let Some(last) = page.last() {
                after = last.user_key.clone();
            }
            for record in page {
                let Ok(profile) = serde_json::from_str::<ProfileState>(&record.state) else { continue };
                if profile.events == 0 {
                    continue;
                }
                vectors.push(segmentation::traits(&profile.features(now_us)));
                keys.push(record.user_key);
            }
            if !full {
                break;
            }
        }
        let available = vectors.len() as u64;
        let config = state.config.segmentation.clone();
        let result: Option<Segmentation> =
            tokio::task::spawn_blocking(move || segmentation::segment(&vectors, &config))
                .await
                .map_err(ApiError::internal)?;
        let Some(result) = result else {
            return Err(ApiError::InsufficientData {
                message: format!(
                    "segmenting users needs at least {MIN_USERS} users with events; there are {available}"
                ),
                needed: MIN_USERS as u64,
                available,
            });
        };
        let run = ClusterRun {
            run_id: ulid::Ulid::new().to_string(),
            created_at_us: now_us,
            k: result.model.k as i64,
            silhouette: result.model.silhouette,
            n_users: keys.len() as i64,
            model: serde_json::to_string(&result.model).map_err(ApiError::internal)?,
        };
        let assignments: Vec<ClusterAssignment> = keys
            .into_iter()
            .enumerate()
            .map(|(row, user_key)| ClusterAssignment {
                user_key,
                cluster: result.labels[row] as i64,
                distance: result.distances[row],
                x: result.coordinates[row][0],
                y: result.coordinates[row][1],
                placed: false,
            })
            .collect();
        // Who was where is read before the new run replaces the stored assignments.
        let before = match state.store.cluster_runs(1).await?.into_iter().next() {
            Some(previous) => crate::webhooks::service::segments_before(state, &previous).await,
            None => None,
        };
        let kept = before.as_ref().map(|_| assignments.clone());
        state.store.save_cluster_run(run.clone(), assignments).await?;
        if let (Some(before), Some(kept)) = (before, kept) {
            crate::webhooks::service::segments_changed(state, before, &run, &kept).await;
        }
        tracing::info!(k = run.k, users = run.n_users, silhouette = run.silhouette, "users segmented");
        run_view(&run)
    }

    /// The latest run, if any.
    pub async fn latest_run(&self) -> Result<Option<RunView>, ApiError> {
        self.state.store.cluster_runs(1).await?.first().map(run_view).transpose()
    }

    /// The user's segment in the latest run. A user who was not in it (new since) is placed at
    /// the nearest centroid now, and kept there until the next run (so they count among its
    /// members); a user without events is placed but not kept.
    pub async fn cluster_of(&self, user_id: &str) -> Result<UserCluster, ApiError> {
        let user = profiles::user(&self.state, user_id).await?;
        let Some(run) = self.state.store.cluster_runs(1).await?.into_iter().next() else {
            return Err(ApiError::InsufficientData {
                message: format!(
                    "no segmentation has run yet: one runs as soon as {MIN_USERS} users have events, then on its interval; an admin can start one with POST /api/profile/clusters/update"
                ),
                needed: 1,
                available: 0,
            });
        };
        let model: SegmentModel = serde_json::from_str(&run.model).map_err(ApiError::internal)?;
        let profile = profile_state(&self.state, &user).await?;
        let vector = segmentation::traits(&profile.features(self.state.clock.now_us()));
        let assignment = match self.state.store.cluster_assignment(&run.run_id, &user.user_key).await? {
            Some(assignment) => assignment,
            None => {
                let placement = model.place(&vector);
                let assignment = ClusterAssignment {
                    user_key: user.user_key.clone(),
                    cluster: placement.segment as i64,
                    distance: placement.distance,
                    x: placement.position[0],
                    y: placement.position[1],
                    placed: true,
                };
                if profile.events > 0 {
                    // `false` when a newer run was saved meanwhile: this answer still holds for this run.
                    self.state.store.place_in_cluster_run(&run.run_id, assignment.clone()).await?;
                }
                assignment
            }
        };
        let segment = usize::try_from(assignment.cluster).map_err(ApiError::internal)?;
        let details = model.segments.get(segment).cloned().ok_or_else(|| ApiError::internal("segment out of range"))?;
        Ok(UserCluster {
            user_id: user.user_id.clone(),
            run_id: run.run_id.clone(),
            run_at: rfc3339(run.created_at_us),
            segment_id: segment,
            name: details.name.clone(),
            size: details.size,
            defining_traits: details.defining_traits.clone(),
            distance_to_centroid: assignment.distance,
            position: [assignment.x, assignment.y],
            in_latest_run: !assignment.placed,
            comparison: model.compare(&vector, segment),
            segments: model.k,
            silhouette: model.silhouette,
        })
    }
}

/// The user's segment, or why there is none (no run yet, too few users).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ClusterOrReason {
    Given(Box<UserCluster>),
    Unavailable { available: bool, reason: String },
}

/// [`UserClustering::cluster_of`], with "no segmentation yet" as an answer rather than an error.
pub async fn cluster_or_reason(state: &AppState, user_id: &str) -> Result<ClusterOrReason, ApiError> {
    match UserClustering::new(state.clone()).cluster_of(user_id).await {
        Ok(cluster) => Ok(ClusterOrReason::Given(Box::new(cluster))),
        Err(ApiError::InsufficientData { message, .. }) => {
            Ok(ClusterOrReason::Unavailable { available: false, reason: message })
        }
        Err(error) => Err(error),
    }
}

/// The user's segment after their profile was rebuilt: if no segmentation exists yet but
/// enough users have events, one runs first (here, recorded like any other run); then the
/// user's place in the latest run (placed at the nearest centroid if they were not in it).
pub async fn segment_after_recalculation(state: &AppState, user_id: &str) -> Result<ClusterOrReason, ApiError> {
    state.processor.catch_up(state.config.processing.catch_up_timeout_ms).await?;
    if state.store.cluster_runs(1).await?.is_empty() && state.store.count_profile_states().await? >= MIN_USERS as u64 {
        run_recorded(state).await.map_err(ApiError::internal)?;
    }
    cluster_or_reason(state, user_id).await
}

/// Whether the users are due a segmentation before the next scheduled one: the first as soon
/// as [`MIN_USERS`] have a profile, then once they are `processing.segmentation_growth` times
/// the last run's (`footprint_analytics::segmentation::due`). Two counts, no profile read.
pub async fn due_on_growth(state: &AppState) -> Result<bool, ApiError> {
    let profiled = state.store.count_profile_states().await?;
    let last_run_users = state.store.cluster_runs(1).await?.first().map(|run| u64::try_from(run.n_users).unwrap_or(0));
    Ok(segmentation::due(profiled, last_run_users, state.config.processing.segmentation_growth))
}

/// One segmentation run, recorded as a run of [`JOB`]; too few users is a success with
/// nothing segmented.
pub async fn run_recorded(state: &AppState) -> Result<(), String> {
    state.tasks.record(JOB, run_once(UserClustering::new(state.clone()))).await
}

async fn run_once(clustering: UserClustering) -> Result<(), String> {
    match clustering.update_clusters().await {
        Ok(run) => {
            tracing::info!(run = %run.run_id, "segmentation run recorded");
            Ok(())
        }
        Err(ApiError::InsufficientData { message, .. }) => {
            tracing::info!(reason = %message, "no segmentation run");
            Ok(())
        }
        Err(error) => Err(error.to_string()),
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserCluster {
    pub user_id: String,
    pub run_id: String,
    pub run_at: String,
    pub segment_id: usize,
    pub name: String,
    pub size: usize,
    /// (trait, z) of the segment's centroid, strongest first.
    #[schema(value_type = Object)]
    pub defining_traits: Vec<(String, f64)>,
    /// In standard deviations.
    pub distance_to_centroid: f64,
    /// On the run's 2-D projection (for a user placed after the run, where their traits fall).
    pub position: [f64; 2],
    /// `false` for a user placed after the run (at the nearest centroid).
    pub in_latest_run: bool,
    /// The user against the segment, trait by trait, largest differences first.
    #[schema(value_type = Object)]
    pub comparison: Vec<TraitComparison>,
    pub segments: usize,
    pub silhouette: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recommendation {
    /// `category` or `item`.
    pub kind: &'static str,
    pub name: String,
    /// Share of the peers' affinity-weighted engagement: 0..1.
    pub score: f64,
    /// Peers who engaged with it.
    pub peers_engaged: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recommendations {
    pub user_id: String,
    pub segment: String,
    pub peers: usize,
    pub recommendations: Vec<Recommendation>,
}

fn engaged(profile: &ProfileState) -> (BTreeSet<String>, BTreeSet<String>) {
    (profile.category_evidence.keys().cloned().collect(), profile.item_evidence.keys().cloned().collect())
}

/// Categories and items the user has not engaged with, scored by how much their segment's
/// peers engage with them, each peer weighted by how much they share the user's preferences
/// (co-occurrence). Needs `preferences` consent.
/// Fewest peers who engaged with something for it to be recommended.
const MIN_PEERS_ENGAGED: usize = 2;

pub async fn recommend(state: &AppState, user_id: &str, limit: usize) -> Result<Recommendations, ApiError> {
    let calculator = profiles::PreferenceCalculator::new(state.clone());
    let preferences = calculator.calculate_preferences(user_id, 100).await?;
    let cluster = UserClustering::new(state.clone()).cluster_of(user_id).await?;
    let user: UserRecord = profiles::user(state, user_id).await?;
    let mine = profile_state(state, &user).await?;
    let (my_categories, my_items) = engaged(&mine);
    let liked: BTreeMap<String, f64> = preferences.categories.iter().map(|p| (p.name.clone(), p.score)).collect();

    let members = state.store.cluster_members(&cluster.run_id, cluster.segment_id as i64, PEERS_MAX + 1).await?;
    let keys: Vec<String> = members.into_iter().map(|m| m.user_key).filter(|key| *key != user.user_key).collect();
    let peers: Vec<ProfileState> = state
        .store
        .profile_states(&keys)
        .await?
        .into_iter()
        .filter_map(|record| serde_json::from_str(&record.state).ok())
        .collect();
    // (kind, name) → (weighted engagement, peers, peers who also share a liked category).
    let mut candidates: BTreeMap<(&'static str, String), (f64, usize)> = BTreeMap::new();
    let mut total_weight = 0.0;
    let mut shared: BTreeMap<String, usize> = BTreeMap::new();
    for peer in &peers {
        let (categories, items) = engaged(peer);
        let affinity: f64 = categories.iter().filter_map(|c| liked.get(c)).sum();
        for c in categories.iter().filter(|c| liked.contains_key(*c)) {
            *shared.entry(c.clone()).or_default() += 1;
        }
        // Every peer counts a little; those who share the user's tastes count more.
        let weight = 0.1 + affinity;
        total_weight += weight;
        for c in categories.difference(&my_categories) {
            let entry = candidates.entry(("category", c.clone())).or_default();
            entry.0 += weight;
            entry.1 += 1;
        }
        for i in items.difference(&my_items) {
            let entry = candidates.entry(("item", i.clone())).or_default();
            entry.0 += weight;
            entry.1 += 1;
        }
    }
    let top_shared = shared.iter().max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0))).map(|(c, _)| c.clone());
    let mut recommendations: Vec<Recommendation> = candidates
        .into_iter()
        // What a single peer engaged with would tell the user what that peer did.
        .filter(|(_, (_, count))| *count >= MIN_PEERS_ENGAGED)
        .map(|((kind, name), (weight, count))| Recommendation {
            kind,
            score: if total_weight > 0.0 { weight / total_weight } else { 0.0 },
            reason: match &top_shared {
                Some(liked) => format!(
                    "{count} of {} users in your segment \"{}\" engage with it; many of them also like {liked}, as you do",
                    peers.len(),
                    cluster.name
                ),
                None => format!("{count} of {} users in your segment \"{}\" engage with it", peers.len(), cluster.name),
            },
            name,
            peers_engaged: count,
        })
        .collect();
    recommendations.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.name.cmp(&b.name)));
    recommendations.truncate(limit);
    Ok(Recommendations { user_id: user.user_id, segment: cluster.name, peers: peers.len(), recommendations })
}

/// Starts a segmentation run in the background (the route answers at once); refused once
/// shutdown has begun.
pub fn start_update(state: &AppState) -> Result<(), ApiError> {
    let run = state.tasks.run(JOB, run_once(UserClustering::new(state.clone())));
    run.map_err(|_| ApiError::Unavailable {
        message: "the server is shutting down; retry on another node or shortly".to_owned(),
        retry_after_secs: Some(5),
    })
}

/// The latest run as JSON, or a clear answer that there is none.
pub async fn latest(state: &AppState) -> Result<Value, ApiError> {
    match UserClustering::new(state.clone()).latest_run().await? {
        Some(run) => Ok(serde_json::to_value(run).map_err(ApiError::internal)?),
        None => Err(ApiError::InsufficientData {
            message: "no segmentation has run yet".to_owned(),
            needed: 1,
            available: 0,
        }),
    }
}
