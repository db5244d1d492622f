//! Drawing a chart of any type (each area's charts are in their modules), and the segment
//! charts: users on the segmentation's plane, and the segments side by side.

use footprint_analytics::segmentation::{SegmentModel, TRAITS};
use footprint_charts::{Chart, Heatmap, Point, Scatter};
use footprint_store::ClusterRun;

use super::kinds::title;
pub use super::kinds::{Target, VisType};
use super::{insight_charts, model_charts, user_charts};
use crate::app::state::AppState;
use crate::kernel::error::ApiError;
use crate::profiles::segments::UserClustering;

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
        VisType::TierDistribution => return insight_charts::tier_distribution(state).await,
        VisType::TierUsage => return insight_charts::tier_usage(state).await,
        VisType::SecurityEvents => return insight_charts::security_events(state).await,
        VisType::ChurnRiskDistribution => return insight_charts::churn_distribution(state).await,
        VisType::CohortRetention => return insight_charts::cohort_retention(state).await,
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
