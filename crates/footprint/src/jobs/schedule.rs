//! Scheduled work, each job on its configured interval (0 turns it off), until shutdown: the
//! retention clean-up, the match model's refit and the segmentation runs. Each run is recorded
//! by the tasks tracker.

use std::time::Duration;

use crate::app::state::AppState;
use crate::kernel::error::ApiError;
use crate::matching::model as match_model;
use crate::profiles::segments;
use crate::tracking::retention;

/// The actor recorded in the audit log for scheduled runs.
const ACTOR: &str = "scheduler";
/// A restart should not postpone a daily job by a day: the first run comes this soon.
const FIRST_RUN_AFTER: Duration = Duration::from_secs(60);

/// Starts every job whose interval is not zero.
pub fn start(state: &AppState) {
    let retention_every = state.config.retention.cleanup_interval_secs;
    if !retention_every.is_zero() {
        every(state, retention_every, "retention clean-up", |state| async move {
            retention::cleanup(&state, ACTOR).await.map(|report| {
                tracing::info!(removed = report.removed_events, "scheduled retention clean-up done");
            })
        });
    }
    let refit_every = state.config.match_model.update_interval_secs;
    if !refit_every.is_zero() {
        every(state, refit_every, "match model refit", |state| async move {
            match match_model::update(&state, ACTOR).await {
                Ok(report) => {
                    tracing::info!(version = report.model.version, rows = report.rows_used, "match model refitted");
                    Ok(())
                }
                Err(ApiError::InsufficientData { message, .. }) => {
                    tracing::info!(reason = %message, "match model not refitted");
                    Ok(())
                }
                Err(error) => Err(error),
            }
        });
    }
    let segment_every = state.config.processing.segmentation_interval_secs;
    if !segment_every.is_zero() {
        every(state, segment_every, "segmentation", |state| async move {
            match segments::UserClustering::new(state).update_clusters().await {
                Ok(_) | Err(ApiError::InsufficientData { .. }) => Ok(()),
                Err(error) => Err(error),
            }
        });
    }
}

/// Runs `job` every `interval` (the first time after at most [`FIRST_RUN_AFTER`]) until shutdown.
fn every<F, Fut>(state: &AppState, interval: Duration, name: &'static str, job: F)
where
    F: Fn(AppState) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ApiError>> + Send,
{
    let state = state.clone();
    let mut shutdown = state.tasks.stopping();
    state.tasks.clone().spawn_loop(async move {
        let mut wait = interval.min(FIRST_RUN_AFTER);
        loop {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
            let run = state.tasks.record(name, async { job(state.clone()).await.map_err(|error| error.to_string()) });
            if let Err(error) = run.await {
                tracing::warn!(job = name, error = %error, "scheduled job failed; it runs again at the next interval");
            }
            wait = interval;
        }
    });
}
