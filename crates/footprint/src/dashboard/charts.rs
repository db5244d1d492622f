//! The chart types by their seed names, what each needs (a user, the staff role), and the
//! segment charts: users on the segmentation's plane, and the segments side by side.

use footprint_analytics::segmentation::{SegmentModel, TRAITS};
use footprint_charts::{Chart, Heatmap, Point, Scatter};
use footprint_store::ClusterRun;

use super::{model_charts, user_charts};
use crate::app::state::AppState;
use crate::kernel::error::ApiError;
use crate::profiles::segments::UserClustering;

/// The charts, by the seed's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisType {
    ClusterScatter,
    UserClusterRadar,
    BehaviorPatternsHeatmap,
    ActivityTimeline,
    PreferenceRadar,
    UserEngagementBar,
    ContentPreferencesBreakdown,
    HourlyActivityHeatmap,
    FeatureUsagePie,
    ClusterComparison,
    /// Seed 004: attendance rate by weekday and two-hour slot.
    AttendanceByWeekdaySlot,
    /// Seed 004: an attendance model on its held-out registrations.
    ModelRocCurve,
    ModelCalibration,
    ModelConfusionMatrix,
    /// Seed 001: acceptance and satisfaction per day.
    MatchAcceptanceOverTime,
    /// Seed 002: a user's most probable next actions.
    NextActionProbabilities,
}

impl VisType {
    /// Seed 000's ten, then the charts of the other seeds' data.
    pub const ALL: [VisType; 16] = [
        VisType::ClusterScatter,
        VisType::UserClusterRadar,
        VisType::BehaviorPatternsHeatmap,
        VisType::ActivityTimeline,
        VisType::PreferenceRadar,
        VisType::UserEngagementBar,
        VisType::ContentPreferencesBreakdown,
        VisType::HourlyActivityHeatmap,
        VisType::FeatureUsagePie,
        VisType::ClusterComparison,
        VisType::AttendanceByWeekdaySlot,
        VisType::ModelRocCurve,
        VisType::ModelCalibration,
        VisType::ModelConfusionMatrix,
        VisType::MatchAcceptanceOverTime,
        VisType::NextActionProbabilities,
    ];

    pub fn name(self) -> &'static str {
        match self {
            VisType::ClusterScatter => "cluster_scatter",
            VisType::UserClusterRadar => "user_cluster_radar",
            VisType::BehaviorPatternsHeatmap => "behavior_patterns_heatmap",
            VisType::ActivityTimeline => "activity_timeline",
            VisType::PreferenceRadar => "preference_radar",
            VisType::UserEngagementBar => "user_engagement_bar",
            VisType::ContentPreferencesBreakdown => "content_preferences_breakdown",
            VisType::HourlyActivityHeatmap => "hourly_activity_heatmap",
            VisType::FeatureUsagePie => "feature_usage_pie",
            VisType::ClusterComparison => "cluster_comparison",
            VisType::AttendanceByWeekdaySlot => "attendance_by_weekday_slot",
            VisType::ModelRocCurve => "model_roc_curve",
            VisType::ModelCalibration => "model_calibration",
            VisType::ModelConfusionMatrix => "model_confusion_matrix",
            VisType::MatchAcceptanceOverTime => "match_acceptance_over_time",
            VisType::NextActionProbabilities => "next_action_probabilities",
        }
    }

    /// The type a name means, or `NOT_FOUND` listing the valid names.
    pub fn parse(name: &str) -> Result<Self, ApiError> {
        Self::ALL.into_iter().find(|vis| vis.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|vis| vis.name()).collect();
            ApiError::NotFound(format!("no chart {name}: the charts are {}", names.join(", ")))
        })
    }

    /// Whether the chart is about one user (who must be named); the others are about segments
    /// and are for managers and admins.
    pub fn about_a_user(self) -> bool {
        !matches!(
            self,
            VisType::ClusterScatter
                | VisType::ClusterComparison
                | VisType::AttendanceByWeekdaySlot
                | VisType::ModelRocCurve
                | VisType::ModelCalibration
                | VisType::ModelConfusionMatrix
                | VisType::MatchAcceptanceOverTime
        )
    }

    /// One of seed 000's ten.
    pub fn from_seed_000(self) -> bool {
        Self::ALL[..10].contains(&self)
    }
}

/// Whom a chart is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub user_id: Option<String>,
    /// A segment id of the latest run (cluster charts), `3` or `cluster_3`.
    pub cluster_id: Option<String>,
    /// An attendance model (model charts; default the latest ready one).
    pub model_id: Option<String>,
    /// Days back from now (match charts; default 30).
    pub days: Option<u32>,
}

/// Draws `vis` for `target` from the current data.
pub async fn chart(state: &AppState, vis: VisType, target: &Target) -> Result<Chart, ApiError> {
    if vis.about_a_user() {
        let user_id = target.user_id.as_deref().ok_or_else(|| {
            ApiError::Validation(format!("user_id: {} is a chart of one user: name them", vis.name()))
        })?;
        return user_charts::chart(state, vis, user_id).await;
    }
    match vis {
        VisType::AttendanceByWeekdaySlot => return model_charts::attendance_by_slot(state).await,
        VisType::ModelRocCurve | VisType::ModelCalibration | VisType::ModelConfusionMatrix => {
            return model_charts::model(state, vis, target.model_id.as_deref()).await;
        }
        VisType::MatchAcceptanceOverTime => return model_charts::matches_over_time(state, target.days).await,
        _ => {}
    }
    let Some(run) = state.store.cluster_runs(1).await?.into_iter().next() else {
        return Ok(Chart::not_enough_data(
            title(vis),
            "no segmentation has run yet: one runs once three users have events",
        ));
    };
    let model: SegmentModel = serde_json::from_str(&run.model).map_err(ApiError::internal)?;
    let focus = target.cluster_id.as_deref().map(|id| segment_id(id, &model)).transpose()?;
    match vis {
        VisType::ClusterScatter => scatter(state, &run, &model, target.user_id.as_deref(), focus).await,
        _ => Ok(comparison(&model, focus)),
    }
}

pub fn title(vis: VisType) -> &'static str {
    match vis {
        VisType::ClusterScatter => "Users by segment",
        VisType::UserClusterRadar => "The user against their segment",
        VisType::BehaviorPatternsHeatmap => "What the user does next",
        VisType::ActivityTimeline => "Activity per day",
        VisType::PreferenceRadar => "Preferences",
        VisType::UserEngagementBar => "Engagement against all users",
        VisType::ContentPreferencesBreakdown => "Content preferences",
        VisType::HourlyActivityHeatmap => "Activity by weekday and hour",
        VisType::FeatureUsagePie => "Feature usage",
        VisType::ClusterComparison => "Segments side by side",
        VisType::AttendanceByWeekdaySlot => "Attendance by weekday and time",
        VisType::ModelRocCurve => "ROC curve on held-out registrations",
        VisType::ModelCalibration => "Calibration on held-out registrations",
        VisType::ModelConfusionMatrix => "Confusion matrix on held-out registrations",
        VisType::MatchAcceptanceOverTime => "Match acceptance and satisfaction per day",
        VisType::NextActionProbabilities => "Most probable next actions",
    }
}

/// `3` or `cluster_3`, a segment of the run.
fn segment_id(id: &str, model: &SegmentModel) -> Result<usize, ApiError> {
    let number = id.strip_prefix("cluster_").or_else(|| id.strip_prefix("segment_")).unwrap_or(id);
    number.parse::<usize>().ok().filter(|n| *n < model.k).ok_or_else(|| {
        ApiError::NotFound(format!(
            "cluster_id: no segment {id} in the latest run (0 to {})",
            model.k.saturating_sub(1)
        ))
    })
}

fn segment_label(model: &SegmentModel, segment: usize) -> String {
    model.segments.get(segment).map_or_else(|| format!("segment {segment}"), |s| format!("{segment}: {}", s.name))
}

/// Every user of the latest run on its plane (the two principal components), coloured by
/// segment; the user asked about highlighted (placed now if they joined since).
async fn scatter(
    state: &AppState,
    run: &ClusterRun,
    model: &SegmentModel,
    user_id: Option<&str>,
    focus: Option<usize>,
) -> Result<Chart, ApiError> {
    const MEMBERS_MAX: u32 = 200_000;
    let highlighted = match user_id {
        Some(user_id) => {
            let key = crate::profiles::service::user(state, user_id).await?.user_key;
            Some((key, UserClustering::new(state.clone()).cluster_of(user_id).await?))
        }
        None => None,
    };
    let mut points = Vec::with_capacity(run.n_users.max(0) as usize);
    for segment in 0..model.k {
        if focus.is_some_and(|f| f != segment) {
            continue;
        }
        for member in state.store.cluster_members(&run.run_id, segment as i64, MEMBERS_MAX).await? {
            if highlighted.as_ref().is_none_or(|(key, _)| *key != member.user_key) {
                points.push(Point { x: member.x, y: member.y, group: segment, highlight: None });
            }
        }
    }
    if let Some((_, user)) = &highlighted {
        points.push(Point {
            x: user.position[0],
            y: user.position[1],
            group: user.segment_id,
            highlight: Some(user.user_id.clone()),
        });
    }
    let groups = (0..model.k).map(|segment| segment_label(model, segment)).collect();
    let axis = |component: usize| {
        format!(
            "component {} ({:.0}% of the variance)",
            component + 1,
            model.explained_variance_ratio[component] * 100.0
        )
    };
    let body = Scatter { points, groups, x_label: axis(0), y_label: axis(1) };
    Ok(Chart::new(title(VisType::ClusterScatter), body).with_subtitle(format!(
        "{} users in {} segments (silhouette {:.2}), run of {}",
        run.n_users,
        model.k,
        model.silhouette,
        crate::kernel::clock::rfc3339(run.created_at_us)
    )))
}

/// The segments' centroids on every trait, in standard deviations from the mean of all users.
fn comparison(model: &SegmentModel, focus: Option<usize>) -> Chart {
    let segments: Vec<usize> = (0..model.k).filter(|s| focus.is_none_or(|f| f == *s)).collect();
    let body = Heatmap {
        rows: segments
            .iter()
            .map(|&s| format!("{s} ({}): {}", model.segments[s].size, model.segments[s].name))
            .collect(),
        columns: TRAITS.iter().map(|t| t.replace('_', " ")).collect(),
        values: segments.iter().map(|&s| model.segments[s].centroid_z.clone()).collect(),
        value_label: "standard deviations from all users' mean".into(),
        percent: false,
    };
    Chart::new(title(VisType::ClusterComparison), body)
        .with_subtitle(format!("{} segments, rows labelled with their size", segments.len()))
}
