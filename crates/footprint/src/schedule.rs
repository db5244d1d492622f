//! Scheduled background work: the retention clean-up and the match model's refit, each on
//! its configured interval (0 turns it off), until shutdown.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::ApiError;
use crate::services::{match_model, retention, segments};
use crate::state::AppState;

/// The actor recorded in the audit log for scheduled runs.
const ACTOR: &str = "scheduler";
/// A restart should not postpone a daily job by a day: the first run comes this soon.
const FIRST_RUN_AFTER: Duration = Duration::from_secs(60);

pub fn start(state: &AppState, shutdown: &watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let mut jobs = Vec::new();
    let retention_every = state.config.retention.cleanup_interval_secs;
    if !retention_every.is_zero() {
        jobs.push(every(retention_every, shutdown.clone(), "retention clean-up", state.clone(), |state| async move {
            retention::cleanup(&state, ACTOR).await.map(|report| {
                tracing::info!(removed = report.removed_events, "scheduled retention clean-up done");
            })
        }));
    }
    let refit_every = state.config.match_model.update_interval_secs;
    if !refit_every.is_zero() {
        jobs.push(every(refit_every, shutdown.clone(), "match model refit", state.clone(), |state| async move {
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
        }));
    }
    let segment_every = state.config.processing.segmentation_interval_secs;
    if !segment_every.is_zero() {
        jobs.push(every(segment_every, shutdown.clone(), "segmentation", state.clone(), |state| async move {
            match segments::UserClustering::new(state).update_clusters().await {
                Ok(_) | Err(ApiError::InsufficientData { .. }) => Ok(()),
                Err(error) => Err(error),
            }
        }));
    }
    jobs
}

fn every<F, Fut>(
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
    name: &'static str,
    state: AppState,
    job: F,
) -> JoinHandle<()>
where
    F: Fn(AppState) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), ApiError>> + Send,
{
    tokio::spawn(async move {
        let mut wait = interval.min(FIRST_RUN_AFTER);
        loop {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
            if let Err(error) = job(state.clone()).await {
                tracing::warn!(job = name, error = %error, "scheduled job failed; it runs again at the next interval");
            }
            wait = interval;
        }
    })
}
