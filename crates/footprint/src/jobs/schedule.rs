//! Scheduled work, each job on its configured interval (0 turns it off), until shutdown: the
//! retention clean-up, the match model's refit, the segmentation runs and the webhooks' watch
//! for churn crossings and anomalies; between the
//! scheduled segmentations, those the growth of the population calls for; and the flush of the
//! requests counted per caller. Each run is recorded by the tasks tracker. (Seed 003's cron
//! schedules are in `automation.rs`.)

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
/// Segmentations called for by new profiles are at least this far apart: a stream of
/// newcomers costs one run per gap, not one per batch.
const GROWTH_RUNS_APART: Duration = Duration::from_secs(30);

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
    let watch_every = state.config.webhooks.watch_interval_secs;
    if !watch_every.is_zero() {
        every(state, watch_every, crate::webhooks::watch::JOB, |state| async move {
            let watched = crate::webhooks::watch::watch(&state).await?;
            if watched.churn_crossings + watched.anomalies > 0 {
                tracing::info!(
                    churn_crossings = watched.churn_crossings,
                    anomalies = watched.anomalies,
                    "webhook watch queued deliveries"
                );
            }
            Ok(())
        });
    }
    if state.config.processing.segmentation_growth > 0.0 {
        segment_as_the_population_grows(state);
    }
    flush_request_counts(state);
    let segment_every = state.config.processing.segmentation_interval_secs;
    if !segment_every.is_zero() {
        every(state, segment_every, segments::JOB, |state| async move {
            match segments::UserClustering::new(state).update_clusters().await {
                Ok(_) | Err(ApiError::InsufficientData { .. }) => Ok(()),
                Err(error) => Err(error),
            }
        });
    }
}

/// Adds the requests this node counted to the store every `insights.usage_flush_ms`, and once
/// more at shutdown (so that every node's requests add up in the tiers' usage).
fn flush_request_counts(state: &AppState) {
    let state = state.clone();
    let every = state.config.insights.usage_flush_ms;
    let mut shutdown = state.tasks.stopping();
    state.tasks.clone().spawn_loop(async move {
        loop {
            let stopping = tokio::select! {
                () = tokio::time::sleep(every) => false,
                _ = shutdown.changed() => true,
            };
            if let Err(error) = state.usage.flush(state.store.as_ref()).await {
                tracing::warn!(error = %error, "request counts not stored yet; kept for the next flush");
            }
            if stopping {
                return;
            }
        }
    });
}

/// Waits for processing to create profiles and, when the population calls for it
/// ([`segments::due_on_growth`]), runs a segmentation at once; then lets [`GROWTH_RUNS_APART`]
/// pass before looking again (profiles created meanwhile are looked at then).
fn segment_as_the_population_grows(state: &AppState) {
    let state = state.clone();
    let mut created = state.processor.profiles_created();
    let mut shutdown = state.tasks.stopping();
    state.tasks.clone().spawn_loop(async move {
        loop {
            tokio::select! {
                changed = created.changed() => if changed.is_err() { return },
                _ = shutdown.changed() => return,
            }
            match segments::due_on_growth(&state).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(error) => {
                    tracing::warn!(error = %error, "could not tell whether users are due a segmentation");
                    continue;
                }
            }
            if let Err(error) = segments::run_recorded(&state).await {
                tracing::warn!(error = %error, "segmentation after new profiles failed; the next ones retry");
            }
            tokio::select! {
                () = tokio::time::sleep(GROWTH_RUNS_APART) => {}
                _ = shutdown.changed() => return,
            }
        }
    });
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
