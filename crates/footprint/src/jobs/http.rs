//! `GET /api/v1/jobs` (admin): every background job this node ran, with its last outcome.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::principal::Principal;
use crate::app::state::AppState;
use crate::jobs::JobRecord;
use crate::kernel::error::ApiError;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_jobs))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobsView {
    /// By job name: runs since this node started, failures, the last run's times and outcome.
    pub jobs: Vec<JobRecord>,
    /// Background tasks running now on this node (the processing loop and schedules included).
    pub running_tasks: usize,
}

/// The background jobs of this node (scheduled clean-ups and refits, segmentation and training
/// runs) and how their last run went. Admin only.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "operations", security(("bearer" = [])),
    responses((status = 200, body = JobsView), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn list_jobs(State(state): State<AppState>, principal: Principal) -> Result<Json<JobsView>, ApiError> {
    principal.require_admin()?;
    Ok(Json(JobsView { jobs: state.tasks.records(), running_tasks: state.tasks.running() }))
}
