//! `GET /api/v1/jobs` (admin): every background job this node ran, with its last outcome; and
//! seed 003's automation runs, recorded by every node in the store (`GET /api/v1/automation/runs`).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::principal::Principal;
use crate::app::state::AppState;
use crate::http::extract::{ApiPath, ApiQuery};
use crate::jobs::JobRecord;
use crate::jobs::automation::{self, RunView};
use crate::kernel::error::ApiError;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_jobs)).routes(routes!(automation_runs)).routes(routes!(automation_run))
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Only this job's runs: `provisioning`, `tiers`, `analytics`, `cleanup` or `churn-training`.
    job: Option<String>,
    /// Most runs (default 50, at most 1000).
    limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunsView {
    /// Newest first, from every node.
    pub runs: Vec<RunView>,
}

/// Seed 003's automation runs (scheduled — once per slot across the nodes — or started with
/// `footprint automation …`): job, trigger, node, scheduled time, start, end, outcome and counts.
/// Admin only.
#[utoipa::path(get, path = "/api/v1/automation/runs", tag = "automation", params(RunsQuery), security(("bearer" = [])),
    responses((status = 200, body = RunsView), (status = 400, body = crate::kernel::error::ErrorBody),
        (status = 401, body = crate::kernel::error::ErrorBody), (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn automation_runs(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<RunsQuery>,
) -> Result<Json<RunsView>, ApiError> {
    principal.require_admin()?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::InvalidParameters("limit: must be from 1 to 1000".to_owned()));
    }
    Ok(Json(RunsView { runs: automation::runs(&state, query.job.as_deref(), limit).await? }))
}

/// One automation run, with its report (the analytics report, the tier analysis by tier).
/// Admin only.
#[utoipa::path(get, path = "/api/v1/automation/runs/{id}", tag = "automation", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = RunView), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody)))]
async fn automation_run(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RunView>, ApiError> {
    principal.require_admin()?;
    Ok(Json(automation::run_detail(&state, &id).await?))
}
